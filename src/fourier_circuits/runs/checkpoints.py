"""Checkpoints and resume: a trainer's state as arrays, the recorder that writes a run directory, `load_run`.

    last.npz                  the full resume state (parameters, optimizer state, step, elapsed, logit scale)
    checkpoints/step_*.npz    log-spaced parameter snapshots, with the model's config
    metrics.jsonl             one metric row per logged step

Resuming loads last.npz, truncates metrics.jsonl to its step and continues; a run killed at any moment ends
with exactly the result of an uninterrupted one. Each save first keeps the previous state as last.prev.npz:
when last.npz is damaged, the run resumes from last.prev.npz;
when both are damaged it trains again from step 0 (seeded: the same result). A damaged state is kept as
<name>.corrupt, and each fallback is one warning line on stderr.
"""
from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import torch

from fourier_circuits.errors import RunStoreError
from fourier_circuits.runs import store
from fourier_circuits.training.config import TrainConfig
from fourier_circuits.training.trainer import build_model


def copy_parameters(model, arrays: dict) -> None:
    """Load the "param.<name>" arrays of a checkpoint into `model`."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            param.copy_(torch.from_numpy(arrays[f"param.{name}"]))


def state_arrays(trainer) -> tuple[dict, dict]:
    """(arrays, meta) holding everything needed to resume: parameters, optimizer tensors and scalars, step."""
    arrays = {f"param.{n}": q.detach().cpu().numpy() for n, q in trainer.model.named_parameters()}
    opt = trainer.optimizer.state_dict()
    scalars = {}
    for idx, st in opt["state"].items():
        for key, val in st.items():
            if torch.is_tensor(val) and val.dim() > 0:
                arrays[f"opt.{idx}.{key}"] = val.cpu().numpy()
            else:
                scalars[f"{idx}.{key}"] = float(val)
    meta = {"step": trainer.step, "elapsed": trainer.elapsed, "logit_scale": trainer.logit_scale,
            "opt_scalars": scalars, "param_groups": opt["param_groups"], "polish_stage": trainer.polish_stage,
            "status": trainer.status, "phase_start": trainer.phase_start, "rebalances": trainer.rebalances}
    return arrays, meta


def load_state(trainer, arrays: dict, meta: dict) -> None:
    """The inverse of `state_arrays`."""
    copy_parameters(trainer.model, arrays)
    state: dict = {}
    for key, val in arrays.items():
        if key.startswith("opt."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = torch.from_numpy(val).to(trainer.device)
    for key, val in meta["opt_scalars"].items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = torch.tensor(val)
    trainer.optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    trainer.step, trainer.elapsed, trainer.logit_scale = meta["step"], meta["elapsed"], meta["logit_scale"]
    # states written before the polish existed: no stage done, not stopped early
    trainer.polish_stage, trainer.status = meta.get("polish_stage", 0), meta.get("status", "done")
    trainer.phase_start, trainer.rebalances = meta.get("phase_start", 0), meta.get("rebalances", 0)


STATES = ("last.npz", "last.prev.npz")   # the resume state, then the one saved before it


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


class RunRecorder:
    """Where a Trainer's rows and states go: the files of one run directory (all writes atomic)."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)

    def start(self) -> None:
        store.truncate_metrics(self.run_dir, -1)  # rows of an attempt killed before its first save

    def resume(self, trainer) -> bool:
        """Load the newest good state (last.npz, else last.prev.npz) into the trainer and its metric rows into
        trainer.history; False if there is none (a damaged state is set aside as <name>.corrupt)."""
        damaged = []
        for name in STATES:
            path = self.run_dir / name
            if not path.exists():
                continue
            try:
                self._load(trainer, path)
            except RunStoreError as e:
                os.replace(path, path.with_name(path.name + ".corrupt"))
                damaged.append(name)
                warn(f"{e}; kept as {name}.corrupt")
                continue
            if damaged:
                warn(f"resuming {self.run_dir} from {name} (step {trainer.step}) instead of the damaged "
                     f"{', '.join(damaged)}")
            store.truncate_metrics(self.run_dir, trainer.step)
            trainer.history = store.read_metrics(self.run_dir)
            return True
        if damaged:
            warn(f"no good state left in {self.run_dir}: training it again from step 0 (seeded: same result)")
        return False

    @staticmethod
    def _load(trainer, path: Path) -> None:
        """load_state from `path`, all or nothing: a state that does not fit is a RunStoreError and leaves
        the trainer as it was."""
        arrays, meta = store.load_arrays(path)
        fresh = state_arrays(trainer)
        try:
            load_state(trainer, arrays, meta)
        except (KeyError, ValueError, TypeError, RuntimeError, IndexError) as e:
            load_state(trainer, *fresh)
            raise RunStoreError(f"{path} does not hold this run's state ({type(e).__name__}: {e})") from None

    def log(self, row: dict) -> None:
        store.append_metrics(self.run_dir, row)

    def save(self, trainer, checkpoint: bool) -> None:
        arrays, meta = state_arrays(trainer)
        if checkpoint:
            params = {k: v for k, v in arrays.items() if k.startswith("param.")}
            store.save_arrays(self.run_dir / "checkpoints" / f"step_{trainer.step:08d}.npz", params,
                              {"step": trainer.step, "model": trainer.model.config()})
        last = self.run_dir / STATES[0]
        if last.exists():
            store.keep_previous(last, self.run_dir / STATES[1])
        store.save_arrays(last, arrays, meta)


def damaged_advice(run_dir: str | Path) -> str:
    """What to do about a damaged file in a run directory."""
    if (Path(run_dir) / "result.json").exists():
        return f"delete the run directory {run_dir} and train it again"
    return f"rerun the same `train` command (it falls back to the last good state), or delete {run_dir}"


def read_config(run_dir: str | Path) -> TrainConfig:
    """The TrainConfig stored in a run directory (keys added since it was written take their defaults);
    RunStoreError naming config.json when it is damaged or holds keys this version does not know."""
    path = Path(run_dir) / "config.json"
    if not path.exists():
        raise FileNotFoundError(f"{run_dir} is not a run directory (no config.json)")
    advice = f"delete the run directory {run_dir} and train it again"
    written = store.read_json(path, advice)
    unknown = sorted(set(written) - {f.name for f in dataclasses.fields(TrainConfig)})
    if unknown:
        raise RunStoreError(f"{path} is corrupt (unknown key {unknown[0]!r}): {advice}")
    try:
        return TrainConfig(**written)
    except TypeError as e:
        raise RunStoreError(f"{path} is corrupt ({e}): {advice}") from None


def load_model(cfg: TrainConfig, run_dir: str | Path, step: int | None = None):
    """The network of run `cfg` at `step` (a saved checkpoint; default the latest state), on the CPU."""
    model = build_model(dataclasses.replace(cfg, device="cpu"), torch.device("cpu"))
    path = Path(run_dir) / ("last.npz" if step is None else f"checkpoints/step_{step:08d}.npz")
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint {path}")
    try:
        copy_parameters(model, store.load_arrays(path)[0])
    except RunStoreError as e:
        raise RunStoreError(f"{e}: {damaged_advice(run_dir)}") from None
    except (KeyError, RuntimeError, TypeError) as e:
        raise RunStoreError(f"{path} does not hold this run's network ({type(e).__name__}: {e}): "
                            f"{damaged_advice(run_dir)}") from None
    return model


def load_run(run_dir: str | Path, step: int | None = None):
    """Read a stored run back: its configuration, its network and its metric rows.

    Args:
        run_dir: A run directory (written by `train` or `fourier-circuits train`).
        step: A saved checkpoint's step (`checkpoint_steps(run_dir)` lists them; 0 is the init); default the
            latest state.

    Returns:
        (cfg, model, metrics): the `TrainConfig`, the network on the CPU (PolyNet, ParityNet or Transformer)
        and the list of metric rows (dicts with step, normalized_margin, margin_ratio, accuracies, losses, ...).

    Raises:
        FileNotFoundError: If `run_dir` holds no config.json or there is no checkpoint at `step`.
        RunStoreError: If a file of the run is damaged (the message says what to do).
    """
    cfg = read_config(run_dir)
    return cfg, load_model(cfg, run_dir, step), store.read_metrics(run_dir)


def checkpoint_steps(run_dir: str | Path) -> list[int]:
    """Steps of the log-spaced parameter snapshots saved in a run."""
    return sorted(int(p.stem.split("_")[1]) for p in (Path(run_dir) / "checkpoints").glob("step_*.npz"))

