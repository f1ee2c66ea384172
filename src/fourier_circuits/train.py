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
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from . import runstore
from .config import TrainConfig
from .margins import evaluate_margins, l2nu_norm, l2nu_norm_pow
from .models import PolyNet
from .tasks import make_task, train_test_split
from .theory import gamma_star_modadd


class DivergedError(RuntimeError):
    """Loss became NaN/inf; the last good checkpoint is kept."""


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


def build_model(cfg: TrainConfig, device: torch.device) -> PolyNet:
    task = make_task(cfg.task, p=cfg.p, k=cfg.k)
    return PolyNet(task.vocab_size, task.k, cfg.width, task.n_classes, cfg.activation, cfg.degree,
                   cfg.init_scale, cfg.seed, getattr(torch, cfg.dtype), device)


def gamma_star_for(cfg: TrainConfig, model: PolyNet) -> float | None:
    """γ* when the theory covers this model (polynomial net with degree k), else None."""
    if cfg.task == "modadd" and model.activation == "poly" and model.degree == cfg.k:
        return gamma_star_modadd(cfg.p, cfg.k)
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


class Trainer:
    """Owns the model, optimizer and data of one run; `run()` trains to the end (or resumes)."""

    def __init__(self, cfg: TrainConfig, run_dir: str | Path | None = None, progress: bool = True) -> None:
        self.cfg = cfg
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.progress = progress
        self.device = resolve_device(cfg.device)
        self.task = make_task(cfg.task, p=cfg.p, k=cfg.k)
        inputs, labels = self.task.inputs(self.device), self.task.labels(self.device)
        self.train_idx, self.test_idx = train_test_split(self.task.size, cfg.train_fraction, cfg.split_seed)
        self.train = Batch(inputs[self.train_idx.to(self.device)], labels[self.train_idx.to(self.device)])
        self.test = Batch(inputs[self.test_idx.to(self.device)], labels[self.test_idx.to(self.device)])
        self.model = build_model(cfg, self.device)
        self.gamma_star = gamma_star_for(cfg, self.model)
        self.nu = self.model.nu
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
        per_row = self.model.width * self.model.embed.element_size() * 6  # activations kept for backward
        return max(1, self.budget // per_row)

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
        return torch.zeros((), device=self.device, dtype=self.model.embed.dtype)

    def _forward_backward(self, batch: Batch) -> float:
        """Accumulate ∇loss over chunks of the batch (bounded memory); return the loss value."""
        rows = self._rows_per_chunk()
        chunks = [(batch.x[i:i + rows], batch.y[i:i + rows]) for i in range(0, len(batch.y), rows)]
        n = len(batch.y)
        if self.cfg.objective == "ce":
            total = 0.0
            for x, y in chunks:
                loss = torch.nn.functional.cross_entropy(self.model(x), y, reduction="sum") / n
                loss.backward()
                total += float(loss)
            reg = self._regularizer()
            if reg.requires_grad:
                reg.backward()
            return total + float(reg)
        return self._softmin_backward(chunks)

    def _softmin_backward(self, chunks: list) -> float:
        """(s/τ) log Σ exp(−τG/s) over all chunks; with several chunks, pass 1 finds the normalizer."""
        tau = temperature(self.cfg, self.step)
        if self.logit_scale is None:
            with torch.no_grad():
                self.logit_scale = self._logit_rms(chunks)
        s = self.logit_scale

        def chunk_lse(x, y):
            norm = l2nu_norm_pow(self.model)
            logits = self.model(x) / norm                      # F = f(θ)/‖θ‖^ν
            gaps = logits.gather(1, y[:, None]) - logits       # G_{x,c} = F_y − F_c
            gaps = gaps.scatter(1, y[:, None], float("inf"))   # drop c = y
            return torch.logsumexp((-tau / s) * gaps.flatten(), 0), logits.detach()

        if len(chunks) == 1:
            lse, logits = chunk_lse(*chunks[0])
            ((s / tau) * lse).backward()
            self.logit_scale = float(logits.double().pow(2).mean().sqrt())
            return float(s / tau * lse.detach())
        with torch.no_grad():
            total = torch.logsumexp(torch.stack([chunk_lse(x, y)[0] for x, y in chunks]), 0)
        sq, count = 0.0, 0
        for x, y in chunks:
            lse, logits = chunk_lse(x, y)
            ((s / tau) * torch.exp(lse.detach() - total) * lse).backward()
            sq += float(logits.double().pow(2).sum())
            count += logits.numel()
        self.logit_scale = math.sqrt(sq / count)
        return float(s / tau * total)

    @torch.no_grad()
    def _logit_rms(self, chunks: list) -> float:
        norm = l2nu_norm_pow(self.model)
        sq = sum(float((self.model(x) / norm).double().pow(2).sum()) for x, _ in chunks)
        return math.sqrt(sq / sum(len(y) * self.model.n_classes for _, y in chunks))

    # ----------------------------------------------------------------------------------------- metrics
    def evaluate(self) -> dict:
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

    def converged(self) -> bool:
        """Normalized margin positive and changed by < converge_tol (relative) since the previous log row,
        at least a quarter of the way through the schedule."""
        if not self.cfg.early_stop or len(self.history) < 2 or self.step < self.cfg.steps // 4:
            return False
        prev, last = self.history[-2]["normalized_margin"], self.history[-1]["normalized_margin"]
        return last > 0 and abs(last - prev) <= self.cfg.converge_tol * last

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
                                 {"step": self.step, "model": self.model.config()})
        runstore.save_arrays(self.run_dir / "last.npz", arrays, meta)

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
            self.step += 1
            self.elapsed += time.time() - t0
            bar.update(1)
            if self.step in self.eval_steps or self.step == self.cfg.steps:
                row = self.evaluate()
                row["loss"], row["lr"] = loss, lr
                self._log(row)
                bar.set_postfix(margin_ratio=row["margin_ratio"], acc=row["train_accuracy"])
                self.save()
                last_save = time.time()
                if self.converged():
                    status = "converged"
                    break
            elif self.step in self.ckpt_steps or time.time() - last_save > 30:
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


def train(cfg: TrainConfig, run_dir: str | Path | None = None, progress: bool = True) -> dict:
    """Train (or resume / return the finished result of) the run of `cfg` in `run_dir`."""
    return Trainer(cfg, run_dir, progress).run()
