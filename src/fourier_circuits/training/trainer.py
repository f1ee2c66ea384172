"""Training loop: log-spaced metrics and checkpoints, divergence guard, exact resume after any kill.

Objectives (THEORY.md §3):
  ce       mean cross-entropy of f(θ) + λ‖θ‖_{2,ν}^r  (or λ‖θ‖_2²): the papers' recipes.
  softmin  the smoothed normalized margin of the fast recipe. With F = f(θ)/‖θ‖_{2,ν}^ν (normalized logits,
           f is ν-homogeneous) and G_{x,c} = F_{x,y} − F_{x,c} for c ≠ y,
               loss = (s/τ) · log Σ_{x, c≠y} exp(−τ G_{x,c} / s)  ≥  −h(θ)/‖θ‖^ν,
           so −loss is a lower bound on the normalized margin that tightens as τ grows (gap ≤ s·log(N(p−1))/τ).
           s is the RMS of F at the previous step (a scale, not optimized). Unlike cross-entropy this never
           underflows: its gradient is a softmax-weighted average over the worst margins, whatever their size.
           Parameters are projected back to ‖θ‖_{2,ν} = 1 after every step (the loss is scale-invariant).
Margins, accuracies and the normalized margin are always measured in float64 over the whole training set.

Transformers (model = transformer, task modadd): the task tuples are tokenized once (`tokenize_modadd`), the
loss is cross-entropy through plain autograd, and each metric row holds float64 train/test loss and accuracy
only (margin, norm, normalized_margin, margin_ratio are None: the logits are not homogeneous in θ); such runs
never stop early.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from fourier_circuits.runs import store as runstore
from fourier_circuits.training.config import TrainConfig
from fourier_circuits.models.margins import evaluate_margins, l2nu_norm, l2nu_norm_pow
from fourier_circuits.models.polynet import PolyNet
from fourier_circuits.models.parity import ParityNet
from fourier_circuits.tasks.modadd import task_of, train_test_split
from fourier_circuits.theory.modadd import gamma_star_modadd
from fourier_circuits.theory.groups import gamma_star_parity, theory_group
from fourier_circuits.models.transformer import Transformer, TransformerConfig, tokenize_modadd
from fourier_circuits.errors import DivergedError


SAVE_EVERY_SECONDS = 30  # besides the log-spaced checkpoints, the resume state is refreshed this often


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device=cuda requested but CUDA is not available")
    return torch.device(name)


def log_spaced_steps(total: int, count: int) -> list[int]:
    """Distinct integer steps 0 = s_0 < .. < total, roughly geometric in between."""
    steps = {0, total}
    steps.update(int(round(x)) for x in np.geomspace(1, max(total, 1), num=max(count - 1, 1)))
    return sorted(s for s in steps if 0 <= s <= total)


def transformer_config(cfg: TrainConfig) -> TransformerConfig:
    """The TransformerConfig of a model = transformer run (init std = init_scale / sqrt(d_model))."""
    return TransformerConfig.for_modadd(cfg.p, cfg.k, n_layers=cfg.n_layers, n_heads=cfg.n_heads,
                                        d_model=cfg.d_model, d_head=cfg.d_head, d_mlp=cfg.d_mlp,
                                        layer_norm=cfg.layer_norm, init_std=cfg.init_scale / math.sqrt(cfg.d_model),
                                        seed=cfg.seed, op_token=cfg.op_token)


def build_model(cfg: TrainConfig, device: torch.device) -> PolyNet | ParityNet | Transformer:
    task = task_of(cfg)
    dtype = getattr(torch, cfg.dtype)
    if cfg.model == "transformer":
        return Transformer(transformer_config(cfg)).to(device=device, dtype=dtype)
    if cfg.task == "parity":
        return ParityNet(task.n, cfg.width, task.k, cfg.init_scale, cfg.seed, dtype, device)
    return PolyNet(task.vocab_size, task.k, cfg.width, task.n_classes, cfg.activation, cfg.degree,
                   cfg.init_scale, cfg.seed, dtype, device)


def gamma_star_for(cfg: TrainConfig, model: PolyNet | ParityNet) -> float | None:
    """γ* when the theory covers this model (THEORY.md §4), else None."""
    if cfg.model == "transformer":
        return None
    if cfg.task == "parity":
        return gamma_star_parity(cfg.n, cfg.k)
    if model.activation != "poly" or model.degree != model.n_inputs:
        return None
    if cfg.task == "modadd":
        return gamma_star_modadd(cfg.p, cfg.k)
    if model.degree == 2:
        return theory_group(cfg.group)["gamma_star"]  # None where Theorem 9 does not apply
    return None


def learning_rate(cfg: TrainConfig, step: int, base: float) -> float:
    if cfg.lr_schedule == "doubling":
        return base * 2 ** sum(step >= s for s in cfg.lr_doubling_steps)
    warm = min(1.0, (step + 1) / cfg.warmup_steps) if cfg.warmup_steps else 1.0
    if cfg.lr_schedule == "linear":
        return base * warm * max(0.0, 1 - step / cfg.steps)
    return base * warm if cfg.lr_schedule == "warmup" else base


def temperature(cfg: TrainConfig, step: int) -> float:
    """τ_t = τ_start (τ_end/τ_start)^{t/steps}."""
    return cfg.tau_start * (cfg.tau_end / cfg.tau_start) ** min(1.0, step / cfg.steps)


@dataclass
class Batch:
    x: torch.Tensor
    y: torch.Tensor
    population: bool = False  # x is the whole population in lexicographic order


def keep_freed_memory() -> None:
    """Let glibc's malloc reuse freed blocks up to 32 MB instead of returning them to the kernel.

    A training step allocates and frees many multi-MB tensors. By default glibc serves each from a fresh
    mmap and unmaps it on free, so every step page-faults all of them in again: on 2 CPU cores that was
    ~40% of a (k, p, m) = (3, 31, 480) step. A no-op where glibc is absent (macOS, Windows, musl).
    """
    import ctypes
    import ctypes.util
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    mallopt(M_MMAP_THRESHOLD, 32 << 20)   # the largest value glibc accepts
    mallopt(M_TRIM_THRESHOLD, 1 << 30)


class Trainer:
    """Owns the model, optimizer and data of one run; `run()` trains to the end (or resumes)."""

    def __init__(self, cfg: TrainConfig, run_dir: str | Path | None = None, progress: bool = True) -> None:
        self.cfg = cfg
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.progress = progress
        keep_freed_memory()
        self.device = resolve_device(cfg.device)
        self.task = task_of(cfg)
        inputs, labels = self.task.inputs(self.device), self.task.labels(self.device)
        self.is_transformer = cfg.model == "transformer"
        if self.is_transformer:
            inputs = tokenize_modadd(inputs, self.task.p, cfg.op_token)  # once: batches are rows of the token table
            # multithreaded CPU autograd of the transformer (embedding backward) sums in a varying order:
            # without this, the same seed gave train losses 6.6e-4, 7.9e-4, 6.4e-4 in three processes
            torch.use_deterministic_algorithms(True, warn_only=True)
        self.train_idx, self.test_idx = train_test_split(self.task.size, cfg.train_fraction, cfg.split_seed)
        self.train = Batch(inputs[self.train_idx.to(self.device)], labels[self.train_idx.to(self.device)],
                           population=len(self.train_idx) == self.task.size)
        self.test = Batch(inputs[self.test_idx.to(self.device)], labels[self.test_idx.to(self.device)])
        self.model = build_model(cfg, self.device)
        self.gamma_star = gamma_star_for(cfg, self.model)
        self.nu = None if self.is_transformer else self.model.nu
        if cfg.normalize:
            self._project()
        # lr for the normalized recipe is relative to the RMS parameter entry on the unit sphere
        self.base_lr = cfg.lr * self._param_rms() if cfg.normalize else cfg.lr
        self.optimizer = self._make_optimizer()
        self.step, self.elapsed, self.logit_scale = 0, 0.0, None
        self.budget = cfg.memory_budget_mb * 2**20
        self.eval_steps = set(log_spaced_steps(cfg.steps, cfg.n_evals))
        self.ckpt_steps = set(log_spaced_steps(cfg.steps, cfg.n_checkpoints))
        self.history: list[dict] = []

    # ----------------------------------------------------------------------------------------- setup
    def _make_optimizer(self) -> torch.optim.Optimizer:
        params, cfg = list(self.model.parameters()), self.cfg
        if cfg.optimizer == "gd":
            return torch.optim.SGD(params, lr=self.base_lr)
        cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
        return cls(params, lr=self.base_lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)

    def _param_rms(self) -> float:
        total = sum(float(q.detach().double().pow(2).sum()) for q in self.model.parameters())
        return math.sqrt(total / sum(q.numel() for q in self.model.parameters()))

    @torch.no_grad()
    def _project(self) -> None:
        """θ ← θ / ‖θ‖_{2,ν} (f is ν-homogeneous, so normalized quantities are unchanged)."""
        scale = l2nu_norm_pow(self.model).pow(1.0 / self.nu)
        for q in self.model.parameters():
            q.div_(scale)

    # ----------------------------------------------------------------------------------------- objective
    def _rows_per_chunk(self) -> int:
        """Rows whose (rows, m) activations (x3 buffers) fit the memory budget."""
        return max(1, self.budget // (self.model.width * self.model.embed.element_size() * 3))

    def _batch(self) -> Batch:
        """Full batch, or the minibatch of this step: epoch e uses the permutation seeded by (seed, e)."""
        bs = self.cfg.batch_size
        n = len(self.train.y)
        if bs is None or bs >= n:
            return self.train
        per_epoch = n // bs
        epoch, slot = divmod(self.step, per_epoch)
        gen = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + epoch)
        idx = torch.randperm(n, generator=gen)[slot * bs:(slot + 1) * bs].to(self.device)
        return Batch(self.train.x[idx], self.train.y[idx])

    def _regularizer(self) -> torch.Tensor:
        cfg = self.cfg
        if cfg.regularizer == "l2nu" and cfg.lam > 0:
            r = cfg.reg_power or self.nu
            return cfg.lam * l2nu_norm_pow(self.model).pow(r / self.nu)
        if cfg.regularizer == "l2" and cfg.lam > 0:
            return cfg.lam * sum(q.pow(2).sum() for q in self.model.parameters())
        return torch.zeros((), device=self.device, dtype=next(self.model.parameters()).dtype)

    def _objective(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Loss as a function of the logits f(θ, x) (a leaf) and, through norms, of θ."""
        if self.cfg.objective == "ce":
            # float64 log-softmax, as in Nanda et al.'s grokking code: in float32 a row's loss and its gradient
            # 1 − softmax_y round to 0 once that loss is below ~1e-7
            return torch.nn.functional.cross_entropy(logits.double(), y) + self._regularizer()
        norm = l2nu_norm_pow(self.model)                           # ‖θ‖^ν, with its gradient
        s, tau = self._softmin_scale(logits, float(norm.detach()))
        gaps = logits.gather(1, y[:, None]) - logits               # ‖θ‖^ν G_{x,c} = f_y − f_c
        # one scalar factor −τ/(s‖θ‖^ν) on the gaps: F = f/‖θ‖^ν is never formed
        exponents = (gaps * (-tau / s / norm)).scatter(1, y[:, None], float("-inf"))   # drop c = y
        return (s / tau) * torch.logsumexp(exponents.flatten(), 0)

    def _softmin_scale(self, logits: torch.Tensor, norm: float) -> tuple[float, float]:
        """(s, τ_t): s the RMS of F = f/‖θ‖^ν at the previous step (this one's is stored for the next)."""
        # float64: on the unit sphere f can be ~1e-20 (z^5), whose squares underflow float32
        rms = float(torch.linalg.vector_norm(logits.detach(), dtype=torch.float64)) / (
            math.sqrt(logits.numel()) * norm)
        s = self.logit_scale if self.logit_scale is not None else rms
        self.logit_scale = rms
        return s, temperature(self.cfg, self.step)

    def _softmin_gradient(self, logits: torch.Tensor, y: torch.Tensor) -> tuple[float, torch.Tensor]:
        """The softmin loss, its gradient ∂L/∂f (returned) and its ‖θ‖^ν path (added to .grad), by hand.

        With n = ‖θ‖^ν, a = −τ/(s n), E_{x,c} = a (f_{x,y} − f_{x,c}) for c ≠ y, M = max E and softmax
        weights π = exp(E − M)/Z:  L = (s/τ)(M + log Z),  ∂L/∂f_{x,c} = π_{x,c}/n (c ≠ y),
        ∂L/∂f_{x,y} = −Σ_c π_{x,c}/n,  ∂L/∂n = −(s/(τ n)) Σ π E = −(s a/(τ n)) (Σ_x f_{x,y} r_x − ⟨π, f⟩)
        with r_x = Σ_{c≠y} π_{x,c}. The same value and gradient as autograd through `_objective`, in about
        ten passes over the (N, classes) logits instead of twenty.
        """
        norm = l2nu_norm_pow(self.model)
        n = float(norm.detach())
        s, tau = self._softmin_scale(logits, n)
        a = -tau / (s * n)
        f_y = logits.gather(1, y[:, None])
        pi = torch.add(f_y * a, logits, alpha=-a).scatter_(1, y[:, None], float("-inf"))     # E
        top = pi.max()
        Z = float(pi.sub_(top).exp_().sum())                                               # exp(E − M)
        pi.mul_(1.0 / Z)
        r = pi.sum(1, keepdim=True)
        weighted = float((f_y * r).sum()) - float(torch.dot(pi.flatten(), logits.flatten()))
        (-(s * a) / (tau * n) * weighted * norm).backward()                              # ∂L/∂n · ∂n/∂θ
        grad = pi.mul_(1.0 / n).scatter_(1, y[:, None], -r / n)
        return (s / tau) * (float(top) + math.log(Z)), grad

    def _forward_backward(self, batch: Batch) -> float:
        """One gradient evaluation: logits without a graph (the model's fused pass), the loss and ∂L/∂f on the
        (N, classes) logits (by hand for softmin, by autograd otherwise), then ∂L/∂θ by the fused backward."""
        if not hasattr(self.model, "backward_from_logits"):        # plain autograd (ParityNet, Transformer)
            loss = self._objective(self.model(batch.x), batch.y)
            loss.backward()
            return float(loss.detach())
        rows = self._rows_per_chunk()
        x = None if batch.population else batch.x                  # None: the structured population pass
        logits = self.model.logits(x, rows)
        if self.cfg.objective == "softmin":
            loss, grad = self._softmin_gradient(logits, batch.y)
        else:
            logits.requires_grad_()
            loss_t = self._objective(logits, batch.y)
            loss_t.backward()
            loss, grad = float(loss_t.detach()), logits.grad
        self.model.backward_from_logits(x, grad, rows)
        return loss

    # ----------------------------------------------------------------------------------------- metrics
    def evaluate(self) -> dict:
        if self.is_transformer:
            return self._evaluate_transformer()
        train = evaluate_margins(self.model, self.train.x, self.train.y, self.budget)
        norm = l2nu_norm(self.model)
        row = {"step": self.step, "train_loss": train["loss"], "train_accuracy": train["accuracy"],
               "margin": train["margin"], "norm": norm, "normalized_margin": train["margin"] / norm**self.nu}
        if len(self.test.y):
            test = evaluate_margins(self.model, self.test.x, self.test.y, self.budget)
            row.update(test_loss=test["loss"], test_accuracy=test["accuracy"])
        else:
            row.update(test_loss=None, test_accuracy=None)
        row["margin_ratio"] = row["normalized_margin"] / self.gamma_star if self.gamma_star else None
        return row

    @torch.no_grad()
    def _loss_accuracy(self, batch: Batch) -> tuple[float | None, float | None]:
        """Float64 mean cross-entropy and accuracy of the transformer over `batch`, in memory-budget chunks."""
        n = len(batch.y)
        if n == 0:
            return None, None
        c = self.model.cfg
        P = batch.x.shape[1]
        per_row = P * (6 * c.d_model + 4 * c.n_heads * c.d_head + 2 * c.d_mlp) + 2 * c.n_heads * P * P + 2 * c.n_classes
        rows = max(1, self.budget // (8 * per_row))
        ce_sum, correct = 0.0, 0
        for start in range(0, n, rows):
            logits = self.model(batch.x[start:start + rows]).double()
            y = batch.y[start:start + rows]
            ce_sum += float(torch.nn.functional.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(1) == y).sum())
        return ce_sum / n, correct / n

    def _evaluate_transformer(self) -> dict:
        train_loss, train_acc = self._loss_accuracy(self.train)
        test_loss, test_acc = self._loss_accuracy(self.test)
        return {"step": self.step, "train_loss": train_loss, "train_accuracy": train_acc, "margin": None,
                "norm": None, "normalized_margin": None, "test_loss": test_loss, "test_accuracy": test_acc,
                "margin_ratio": None}

    def converged(self) -> bool:
        """The normalized margin is positive and changed by < converge_tol (relative) over the last 25% of
        steps (checked at log rows once a quarter of the schedule has run)."""
        if not self.cfg.early_stop or self.step < self.cfg.steps // 4:
            return False
        last = self.history[-1]["normalized_margin"]
        earlier = [r for r in self.history if r["step"] <= 0.75 * self.step]
        if last is None or last <= 0 or not earlier or earlier[-1]["normalized_margin"] is None:
            return False
        return abs(last - earlier[-1]["normalized_margin"]) <= self.cfg.converge_tol * last

    # ----------------------------------------------------------------------------------------- state
    def state_arrays(self) -> tuple[dict, dict]:
        arrays = {f"param.{n}": q.detach().cpu().numpy() for n, q in self.model.named_parameters()}
        opt = self.optimizer.state_dict()
        scalars = {}
        for idx, st in opt["state"].items():
            for key, val in st.items():
                if torch.is_tensor(val) and val.dim() > 0:
                    arrays[f"opt.{idx}.{key}"] = val.cpu().numpy()
                else:
                    scalars[f"{idx}.{key}"] = float(val)
        meta = {"step": self.step, "elapsed": self.elapsed, "logit_scale": self.logit_scale,
                "opt_scalars": scalars, "param_groups": opt["param_groups"]}
        return arrays, meta

    def load_state(self, arrays: dict, meta: dict) -> None:
        with torch.no_grad():
            for n, q in self.model.named_parameters():
                q.copy_(torch.from_numpy(arrays[f"param.{n}"]))
        state: dict = {}
        for key, val in arrays.items():
            if key.startswith("opt."):
                _, idx, name = key.split(".", 2)
                state.setdefault(int(idx), {})[name] = torch.from_numpy(val).to(self.device)
        for key, val in meta["opt_scalars"].items():
            idx, name = key.split(".", 1)
            state.setdefault(int(idx), {})[name] = torch.tensor(val)
        self.optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
        self.step, self.elapsed, self.logit_scale = meta["step"], meta["elapsed"], meta["logit_scale"]

    def save(self, last_only: bool = False) -> None:
        if self.run_dir is None:
            return
        arrays, meta = self.state_arrays()
        if not last_only and self.step in self.ckpt_steps:
            params = {k: v for k, v in arrays.items() if k.startswith("param.")}
            runstore.save_arrays(self.run_dir / "checkpoints" / f"step_{self.step:08d}.npz", params,
                                 {"step": self.step, "model": self._model_config()})
        runstore.save_arrays(self.run_dir / "last.npz", arrays, meta)

    def _model_config(self) -> dict:
        if self.is_transformer:
            return {"kind": "transformer", **dataclasses.asdict(self.model.cfg)}
        return self.model.config()

    def try_resume(self) -> bool:
        if self.run_dir is None or not (self.run_dir / "last.npz").exists():
            return False
        arrays, meta = runstore.load_arrays(self.run_dir / "last.npz")
        self.load_state(arrays, meta)
        runstore.truncate_metrics(self.run_dir, self.step)
        self.history = runstore.read_metrics(self.run_dir)
        return True

    # ----------------------------------------------------------------------------------------- loop
    def run(self) -> dict:
        resumed = self.try_resume()
        if not resumed:
            if self.run_dir is not None:
                runstore.truncate_metrics(self.run_dir, -1)  # rows of an attempt killed before its first save
            self._log(self.evaluate())
            self.save()
        last_save = time.time()
        bar = tqdm(total=self.cfg.steps, initial=self.step, disable=not self.progress, unit="step",
                   dynamic_ncols=True, desc="train")
        status = "done"
        while self.step < self.cfg.steps:
            t0 = time.time()
            lr = learning_rate(self.cfg, self.step, self.base_lr)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            self.optimizer.zero_grad(set_to_none=True)
            loss = self._forward_backward(self._batch())
            if not math.isfinite(loss):
                status = "diverged"
                break
            self.optimizer.step()
            if self.cfg.normalize:
                self._project()
            if not all(bool(torch.isfinite(q).all()) for q in self.model.parameters()):
                status, loss = "diverged", float("nan")  # overflow in the update: save nothing more
                break
            self.step += 1
            self.elapsed += time.time() - t0
            bar.update(1)
            if self.step in self.eval_steps or self.step == self.cfg.steps:
                row = self.evaluate()
                row["loss"], row["lr"] = loss, lr
                self._log(row)
                bar.set_postfix(margin_ratio=row["margin_ratio"], acc=row["train_accuracy"])
                if self.converged():
                    status = "converged"
                    break
            if self.step in self.ckpt_steps or time.time() - last_save > SAVE_EVERY_SECONDS:
                self.save()
                last_save = time.time()
        bar.close()
        if status == "diverged":
            raise DivergedError(f"loss became {loss} at step {self.step}; last good checkpoint kept"
                                + (f" in {self.run_dir}" if self.run_dir else ""))
        if self.history[-1]["step"] != self.step:  # stopped between log rows
            self._log(self.evaluate())
        self.save()
        return self.result(status)

    def _log(self, row: dict) -> None:
        row["seconds"] = round(self.elapsed, 3)
        self.history.append(row)
        if self.run_dir is not None:
            runstore.append_metrics(self.run_dir, row)

    def result(self, status: str) -> dict:
        last = self.history[-1]
        return {"status": status, "steps": self.step, "seconds": round(self.elapsed, 3),
                "normalized_margin": last["normalized_margin"], "gamma_star": self.gamma_star,
                "margin_ratio": last["margin_ratio"], "train_accuracy": last["train_accuracy"],
                "test_accuracy": last["test_accuracy"], "train_loss": last["train_loss"],
                "run_dir": str(self.run_dir) if self.run_dir else None}


def config_hash(cfg: TrainConfig) -> str:
    """Short hash of the resolved config: the same command maps to the same run directory."""
    return hashlib.sha256(json.dumps(cfg.to_dict(), sort_keys=True).encode()).hexdigest()[:8]


def default_run_name(cfg: TrainConfig) -> str:
    if cfg.model == "transformer":
        return (f"modadd-p{cfg.p}-k{cfg.k}-tf-L{cfg.n_layers}-H{cfg.n_heads}-d{cfg.d_model}-{cfg.recipe}"
                f"-s{cfg.seed}-{config_hash(cfg)}")
    model = "relu" if cfg.activation == "relu" else f"d{cfg.degree or (2 if cfg.task == 'group' else cfg.k)}"
    task = {"modadd": f"modadd-p{cfg.p}-k{cfg.k}", "group": f"group-{cfg.group}",
            "parity": f"parity-n{cfg.n}-k{cfg.k}"}[cfg.task]
    return f"{task}-m{cfg.width}-{model}-{cfg.recipe}-s{cfg.seed}-{config_hash(cfg)}"


def prepare_run_dir(cfg: TrainConfig, run_dir: str | Path) -> Path:
    """Create (or reopen) a run directory; refuse one that holds a different configuration."""
    run_dir = Path(run_dir)
    config_path = run_dir / "config.json"
    if config_path.exists():
        stored = TrainConfig(**json.loads(config_path.read_text())).to_dict()  # keys added later: defaults
        wanted = cfg.to_dict()
        diff = sorted(k for k in wanted if stored[k] != wanted[k])
        if diff:
            raise ValueError(f"run directory {run_dir} holds a different config (differs in: {', '.join(diff)})")
        return run_dir
    if run_dir.exists() and any(run_dir.iterdir()):
        raise ValueError(f"run directory {run_dir} exists, is not empty and holds no config.json")
    run_dir.mkdir(parents=True, exist_ok=True)
    task = task_of(cfg)
    train_idx, test_idx = train_test_split(task.size, cfg.train_fraction, cfg.split_seed)
    runstore.save_arrays(run_dir / "split.npz", {"train": train_idx.numpy(), "test": test_idx.numpy()})
    runstore.atomic_write_json(config_path, cfg.to_dict())  # written last: marks the directory as a run
    return run_dir


def train(cfg: TrainConfig, run_dir: str | Path | None = None, progress: bool = True,
          runs_root: str | Path | None = None) -> dict:
    """Train the run of `cfg` in `run_dir`: start it, resume it after a crash, or return its stored result.

    The run is registered in the SQLite index of `runs_root` (default: the run directory's parent).
    """
    if run_dir is None:
        return Trainer(cfg, None, progress).run()
    run_dir = prepare_run_dir(cfg, run_dir)
    index = runstore.RunIndex(runs_root if runs_root is not None else run_dir.parent)
    result_path = run_dir / "result.json"
    if result_path.exists():
        return json.loads(result_path.read_text())
    with runstore.run_lock(run_dir):  # another process training this run: RunBusyError
        if result_path.exists():  # it finished while we waited for the lock
            return json.loads(result_path.read_text())
        record = {"run_dir": str(run_dir), "task": cfg.task, "model": cfg.model, "p": cfg.p, "k": cfg.k,
                  "width": cfg.width, "recipe": cfg.recipe, "seed": cfg.seed}
        index.upsert({**record, "status": "running"}, cfg.to_dict())
        try:
            result = Trainer(cfg, run_dir, progress).run()
        except DivergedError:
            index.upsert({**record, "status": "diverged"}, cfg.to_dict())
            raise
        runstore.atomic_write_json(result_path, result)
        index.upsert({**record, **result}, cfg.to_dict())
    return result


def load_run(run_dir: str | Path, step: int | None = None) -> tuple[TrainConfig, PolyNet | Transformer, list[dict]]:
    """(config, model at `step` (a saved checkpoint; default the latest state), metrics rows) of a run."""
    run_dir = Path(run_dir)
    config_path = run_dir / "config.json"
    if not config_path.exists():
        raise FileNotFoundError(f"{run_dir} is not a run directory (no config.json)")
    cfg = TrainConfig(**json.loads(config_path.read_text()))
    model = build_model(dataclasses.replace(cfg, device="cpu"), torch.device("cpu"))
    path = run_dir / "last.npz" if step is None else run_dir / "checkpoints" / f"step_{step:08d}.npz"
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint {path}")
    arrays, _ = runstore.load_arrays(path)
    with torch.no_grad():
        for name, param in model.named_parameters():
            param.copy_(torch.from_numpy(arrays[f"param.{name}"]))
    return cfg, model, runstore.read_metrics(run_dir)


def checkpoint_steps(run_dir: str | Path) -> list[int]:
    """Steps of the log-spaced parameter snapshots saved in a run."""
    return sorted(int(p.stem.split("_")[1]) for p in (Path(run_dir) / "checkpoints").glob("step_*.npz"))
