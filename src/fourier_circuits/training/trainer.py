"""The training loop: one `Trainer` per run, with log-spaced metric rows, a divergence guard and exact resume.

The trainer knows no task or model kind: the task kind (`tasks.registry.kind_of`) builds the population, the
model and γ*; the model offers its own pass (`logits` / `backward_from_logits`, fused for PolyNet) and its
memory cost per row; the objectives are functions (`objectives`). Where metric rows and checkpoints go is the
recorder's business (`runs.checkpoints.RunRecorder` for a run directory; None keeps everything in memory).
Parameters are projected back to ‖θ‖_{2,ν} = 1 after every step when `normalize` (the softmin loss is
scale-invariant). Margins, accuracies and the normalized margin are always measured in float64 over the whole
training set.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import torch
from tqdm import tqdm

from fourier_circuits.errors import DivergedError
from fourier_circuits.models.base import flush_subnormals
from fourier_circuits.models.margins import l2nu_norm_pow
from fourier_circuits.tasks.registry import kind_of, task_of
from fourier_circuits.tasks.split import train_test_split
from fourier_circuits.training.config import TrainConfig
from fourier_circuits.training.evaluation import loss_row, margin_collapse_row, margin_row
from fourier_circuits.training.objectives import (
    cross_entropy64,
    regularizer,
    rms_normalized_logit,
    softmin_value_and_grad,
)
from fourier_circuits.training.refine import polish_stages, rebalance_phase, reseed_dead_neurons
from fourier_circuits.training.schedules import learning_rate, log_spaced_steps, temperature

SAVE_EVERY_SECONDS = 30  # besides the log-spaced checkpoints, the resume state is refreshed this often


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device=cuda requested but CUDA is not available")
    return torch.device(name)


def build_model(cfg: TrainConfig, device: torch.device):
    """The network of a configuration, built by its task kind."""
    return kind_of(cfg).build_model(cfg, task_of(cfg), device, getattr(torch, cfg.dtype))


@dataclass
class Batch:
    x: torch.Tensor
    y: torch.Tensor
    population: bool = False  # x is the whole population in lexicographic order

    def model_input(self, model) -> torch.Tensor | None:
        """What the model's pass reads: None (its structured population pass) when this is the whole
        population and the model has one, else the rows."""
        return None if self.population and model.fused_population else self.x


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


def param_rms(model) -> float:
    """The RMS parameter entry."""
    total = sum(float(q.detach().double().pow(2).sum()) for q in model.parameters())
    return math.sqrt(total / sum(q.numel() for q in model.parameters()))


def margin_converged(history: list[dict], start: int, step: int, steps: int, tol: float) -> bool:
    """The normalized margin is positive and changed by < tol (relative) over the last 25% of a phase's steps
    (from step `start`; checked once a quarter of its `steps` has run)."""
    if step - start < steps // 4:
        return False
    last = history[-1]["normalized_margin"]
    earlier = [r for r in history if start <= r["step"] <= start + 0.75 * (step - start)]
    if last is None or last <= 0 or not earlier or earlier[-1]["normalized_margin"] is None:
        return False
    return abs(last - earlier[-1]["normalized_margin"]) <= tol * last


class Trainer:
    """Owns the model, optimizer and data of one run; `run()` trains to the end (or resumes).

    Most users call `fourier_circuits.train(cfg, run_dir)`, which wraps a Trainer with a run directory; a
    Trainer alone (recorder None) keeps everything in memory: `Trainer(cfg).run()` then `trainer.model`.

    Args:
        cfg: The run's configuration (`resolve_config`).
        recorder: Where metric rows and checkpoints go, and where a run resumes from (a
            `runs.checkpoints.RunRecorder`); None keeps them in memory only.
        progress: Show a tqdm progress bar.

    Attributes:
        model: The network being trained (PolyNet, ParityNet or Transformer).
        task: The population (ModularAddition, GroupComposition or SparseParity).
        gamma_star: γ* of the architecture, or None where no closed form or certified value is known.
        history: The metric rows logged so far (step, normalized_margin, margin_ratio, accuracies, losses, ...).
        step: The optimizer steps taken.

    Raises:
        RuntimeError: If `cfg.device` is "cuda" and CUDA is not available.
    """

    def __init__(self, cfg: TrainConfig, recorder=None, progress: bool = True) -> None:
        self.cfg, self.recorder, self.progress = cfg, recorder, progress
        keep_freed_memory()
        flush_subnormals()
        self.device = resolve_device(cfg.device)
        kind, self.task = kind_of(cfg), task_of(cfg)
        inputs = kind.encode_inputs(cfg, self.task, self.task.inputs(self.device))
        labels = self.task.labels(self.device)
        self.train_idx, self.test_idx = train_test_split(self.task.size, cfg.train_fraction, cfg.split_seed)
        train_rows, test_rows = self.train_idx.to(self.device), self.test_idx.to(self.device)
        self.train = Batch(inputs[train_rows], labels[train_rows], population=len(self.train_idx) == self.task.size)
        self.test = Batch(inputs[test_rows], labels[test_rows])
        self.model = build_model(cfg, self.device)
        self.gamma_star = kind.gamma_star(cfg, self.model)
        self.gamma_star_source = kind.gamma_star_source(cfg) if self.gamma_star is not None else None
        self.nu = self.model.nu                               # None: not homogeneous, no margins
        self._row = loss_row if self.nu is None else margin_collapse_row if cfg.objective == "ce" else margin_row
        if cfg.normalize:
            self.project()
        # lr for the normalized recipe is relative to the RMS parameter entry on the unit sphere
        self.base_lr = cfg.lr * param_rms(self.model) if cfg.normalize else cfg.lr
        self.optimizer = self._make_optimizer()
        self.step, self.elapsed, self.logit_scale, self.polish_stage, self.status = 0, 0.0, None, 0, "done"
        self.phase_start, self.rebalances = 0, 0     # the current Adam phase began at phase_start
        self.budget = cfg.memory_budget_mb * 2**20
        self._plan_phase()
        self.history: list[dict] = []

    def _plan_phase(self) -> None:
        """The current Adam phase's schedules, in steps since phase_start: the first phase runs cfg.steps, each
        one after a rebalance half as many; lr and τ follow phase_cfg (cfg with that many steps)."""
        cfg = self.cfg
        steps = cfg.steps if self.rebalances == 0 else max(1, cfg.steps // 2)
        self.phase_cfg = dataclasses.replace(cfg, steps=steps)
        self.reseed_steps = {steps // 2, 3 * steps // 4} if cfg.reseed_below > 0 else set()
        self.eval_steps = set(log_spaced_steps(steps, cfg.n_evals))
        self.ckpt_steps = set(log_spaced_steps(steps, cfg.n_checkpoints))

    @property
    def phase_step(self) -> int:
        """The steps taken since the current Adam phase began (phases restart after a rebalance)."""
        return self.step - self.phase_start

    def _make_optimizer(self) -> torch.optim.Optimizer:
        params, cfg = list(self.model.parameters()), self.cfg
        if cfg.optimizer == "gd":
            return torch.optim.SGD(params, lr=self.base_lr)
        cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
        return cls(params, lr=self.base_lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)

    @torch.no_grad()
    def project(self) -> None:
        """Rescale the parameters in place, θ ← θ / ‖θ‖_{2,ν}, onto the unit sphere (f is ν-homogeneous, so
        normalized quantities are unchanged)."""
        scale = l2nu_norm_pow(self.model).pow(1.0 / self.nu)
        for q in self.model.parameters():
            q.div_(scale)

    def _batch(self) -> Batch:
        """Full batch, or the minibatch of this step: epoch e uses the permutation seeded by (seed, e)."""
        bs, n = self.cfg.batch_size, len(self.train.y)
        if bs is None or bs >= n:
            return self.train
        epoch, slot = divmod(self.step, n // bs)
        gen = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + epoch)
        idx = torch.randperm(n, generator=gen)[slot * bs:(slot + 1) * bs].to(self.device)
        return Batch(self.train.x[idx], self.train.y[idx])

    def _softmin_scale(self, logits: torch.Tensor, norm: float) -> tuple[float, float]:
        """(s, τ_t): s the RMS of F = f/‖θ‖^ν at the previous step (this one's is stored for the next)."""
        rms = rms_normalized_logit(logits, norm)
        s = self.logit_scale if self.logit_scale is not None else rms
        self.logit_scale = rms
        return s, temperature(self.phase_cfg, self.phase_step)

    def _forward_backward(self, batch: Batch) -> float:
        """One gradient evaluation: the model's logits, the loss and ∂L/∂f on the (N, classes) logits (by hand
        for softmin, by autograd for cross-entropy), then ∂L/∂θ by the model's backward from the logits."""
        rows = self.model.rows_per_chunk(self.budget)
        x = batch.model_input(self.model)
        logits = self.model.logits(x, rows)
        if self.cfg.objective == "softmin":
            norm = l2nu_norm_pow(self.model)                       # ‖θ‖^ν, with its gradient
            s, tau = self._softmin_scale(logits, float(norm.detach()))
            loss, grad = softmin_value_and_grad(logits, batch.y, norm, s, tau)
        else:
            leaf = logits.detach().requires_grad_()
            loss_t = cross_entropy64(leaf, batch.y) + regularizer(self.cfg, self.model)
            loss_t.backward()
            loss, grad = float(loss_t.detach()), leaf.grad
        self.model.backward_from_logits(x, grad, rows)
        return loss

    def evaluate(self) -> dict:
        """Measure the network now, in float64 over the whole training (and test) set.

        Returns:
            A metric row: `step` and, for a homogeneous net, the margin, `normalized_margin`, `margin_ratio`
            (over γ*), train/test accuracy and loss; for a transformer the accuracies and losses.
        """
        return {"step": self.step, **self._row(self.model, self.train, self.test, self.budget, self.gamma_star)}

    def converged(self) -> bool:
        """Whether the current phase has converged (and may stop early).

        Returns:
            True when `early_stop` is on and the normalized margin is positive and changed by at most
            `converge_tol` (relative) over the last quarter of the current phase's steps.
        """
        return self.cfg.early_stop and margin_converged(self.history, self.phase_start, self.step,
                                                        self.phase_cfg.steps, self.cfg.converge_tol)

    def save(self) -> None:
        """Hand the resume state (and, at a log-spaced step, a parameter snapshot) to the recorder."""
        if self.recorder is not None:
            self.recorder.save(self, checkpoint=self.phase_step in self.ckpt_steps)

    def _start(self) -> None:
        if self.recorder is not None and self.recorder.resume(self):
            self._plan_phase()   # the phase the saved state is in
            return
        if self.recorder is not None:
            self.recorder.start()
        self.log(self.evaluate())
        self.save()

    def _take_step(self) -> tuple[float, float]:
        """One optimizer step; returns (loss, lr). The loss is NaN if the update overflowed."""
        lr = learning_rate(self.phase_cfg, self.phase_step, self.base_lr)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.zero_grad(set_to_none=True)
        loss = self._forward_backward(self._batch())
        if not math.isfinite(loss):
            return loss, lr
        self.optimizer.step()
        if self.cfg.normalize:
            self.project()
        if not all(bool(torch.isfinite(q).all()) for q in self.model.parameters()):
            return float("nan"), lr                             # overflow in the update: save nothing more
        return loss, lr

    def run(self) -> dict:
        """Train to the end (or resume and finish): the Adam phase and the polish, again after each rebalance
        (`refine.rebalance_phase`).

        Returns:
            The result dict: `status` ("done" or "converged"), `steps`, `seconds`, `normalized_margin`,
            `gamma_star`, `gamma_star_source`, `margin_ratio`, `train_accuracy`, `test_accuracy`,
            `train_loss`, `rebalances` and `run_dir` (None without a recorder).

        Raises:
            DivergedError: If the loss becomes NaN or inf (the last good checkpoint is kept).
        """
        self._start()
        while True:
            self._adam_phase()
            polish_stages(self)
            if not rebalance_phase(self):
                return self.result(self.status)

    def begin_phase(self) -> None:
        """Another Adam phase from here (after a rebalance): its schedules, a fresh optimizer (the old moments
        belong to the old network), the polish again; saved, so that a resumed run is in it."""
        self.rebalances += 1
        self.phase_start, self.polish_stage, self.status, self.logit_scale = self.step, 0, "done", None
        self._plan_phase()
        self.optimizer = self._make_optimizer()
        self.save()

    def _adam_phase(self) -> None:
        """The optimizer's steps of the current phase, until its step count, convergence or divergence."""
        last_save = time.time()
        bar = tqdm(total=self.phase_cfg.steps, initial=self.phase_step, disable=not self.progress, unit="step",
                   dynamic_ncols=True, desc="train" if self.rebalances == 0 else f"train (rebalanced {self.rebalances})")
        while self.phase_step < self.phase_cfg.steps and self.polish_stage == 0 and self.status != "converged":
            t0 = time.time()
            loss, lr = self._take_step()
            if not math.isfinite(loss):
                self.status = "diverged"
                break
            self.step += 1
            if self.phase_step in self.reseed_steps:
                reseed_dead_neurons(self.model, self.optimizer, self.cfg.reseed_below, self.cfg.seed + self.step)
            self.elapsed += time.time() - t0
            bar.update(1)
            if self.phase_step in self.eval_steps or self.phase_step == self.phase_cfg.steps:
                row = self.evaluate()
                row["loss"], row["lr"] = loss, lr
                self.log(row)
                bar.set_postfix(margin_ratio=row["margin_ratio"], acc=row["train_accuracy"])
                if self.converged():
                    self.status = "converged"
                    break
            if self.phase_step in self.ckpt_steps or time.time() - last_save > SAVE_EVERY_SECONDS:
                self.save()
                last_save = time.time()
        bar.close()
        if self.status == "diverged":
            where = f" in {self.recorder.run_dir}" if self.recorder is not None else ""
            raise DivergedError(f"loss became {loss} at step {self.step}; last good checkpoint kept{where}")
        if self.history[-1]["step"] != self.step:  # stopped between log rows
            self.log(self.evaluate())
        self.save()

    def log(self, row: dict) -> None:
        """Append a metric row to `history` (and the recorder's metrics file), stamped with the seconds trained.

        Args:
            row: A metric row, e.g. from `evaluate()`; a "seconds" key is added in place.
        """
        row["seconds"] = round(self.elapsed, 3)
        self.history.append(row)
        if self.recorder is not None:
            self.recorder.log(row)

    def result(self, status: str) -> dict:
        """The run's summary from its last metric row.

        Args:
            status: The status to report, e.g. "done" or "converged".

        Returns:
            The dict `run()` returns (keys listed there).
        """
        last = self.history[-1]
        return {"status": status, "steps": self.step, "seconds": round(self.elapsed, 3),
                "normalized_margin": last["normalized_margin"], "gamma_star": self.gamma_star,
                "gamma_star_source": self.gamma_star_source,
                "margin_ratio": last["margin_ratio"], "train_accuracy": last["train_accuracy"],
                "test_accuracy": last["test_accuracy"], "train_loss": last["train_loss"],
                "rebalances": self.rebalances,
                "run_dir": str(self.recorder.run_dir) if self.recorder is not None else None}
