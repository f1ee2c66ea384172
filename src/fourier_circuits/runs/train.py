"""Training a run in the run store: name it, create or reopen its directory, lock it, train or resume it,
index it. `train(cfg, run_dir)` is the one entry point the CLI, the sweeps and the figure recipes use."""
from __future__ import annotations

import json
from pathlib import Path

from fourier_circuits.errors import DivergedError, RunStoreError
from fourier_circuits.runs import store
from fourier_circuits.runs.checkpoints import RunRecorder, read_config
from fourier_circuits.runs.naming import config_hash, default_run_name  # noqa: F401  (part of this API)
from fourier_circuits.tasks.registry import task_of
from fourier_circuits.tasks.solver_cache import solver_cache_at
from fourier_circuits.tasks.split import train_test_split
from fourier_circuits.training.config import LATER_KEYS, TrainConfig
from fourier_circuits.training.presets import earlier_values, recipe_values
from fourier_circuits.training.trainer import Trainer


def prepare_run_dir(cfg: TrainConfig, run_dir: str | Path) -> Path:
    """Create (or reopen) a run directory; refuse (RunStoreError) one that holds a different configuration, a
    damaged config.json, or other files. Nothing is written before the checks pass."""
    run_dir = Path(run_dir)
    if (run_dir / "config.json").exists():
        stored = read_config(run_dir).to_dict()   # keys added since: defaults; damaged: RunStoreError
        written, wanted = json.loads((run_dir / "config.json").read_text()), cfg.to_dict()
        # a run written before a later key existed, or with a recipe value since changed, is the run of its command
        degree = wanted["degree"] or wanted["k"]
        earlier, current = earlier_values(wanted["recipe"], degree), recipe_values(wanted["recipe"], degree)
        diff = sorted(k for k in wanted if stored[k] != wanted[k] and (k in written or k not in LATER_KEYS)
                      and not (k in earlier and stored[k] in earlier[k] and wanted[k] == current.get(k)))
        if diff:
            raise RunStoreError(f"run directory {run_dir} holds a different config (differs in: {', '.join(diff)})")
        return run_dir
    if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
        raise RunStoreError(f"run directory {run_dir} exists, is not an empty directory and holds no config.json")
    train_idx, test_idx = train_test_split(task_of(cfg).size, cfg.train_fraction, cfg.split_seed)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunStoreError(f"cannot create the run directory {run_dir} ({e.strerror})") from None
    store.save_arrays(run_dir / "split.npz", {"train": train_idx.numpy(), "test": test_idx.numpy()})
    store.atomic_write_json(run_dir / "config.json", cfg.to_dict())  # written last: marks the directory as a run
    return run_dir


def train(cfg: TrainConfig, run_dir: str | Path | None = None, progress: bool = True,
          runs_root: str | Path | None = None, wait: bool = False) -> dict:
    """Train the run of `cfg` in `run_dir`: start it, resume it after a crash, or return its stored result.
    When another process is training it: wait for its result (`wait`), or raise RunBusyError.

    The run is registered in the SQLite index of `runs_root` (default: the run directory's parent), and a
    solver value it needs (γ* where no closed form applies) is cached in `runs_root/solver`.

    Args:
        cfg: The run's configuration (`resolve_config`).
        run_dir: The run directory (created if absent); None trains in memory only, storing nothing.
        progress: Show a tqdm progress bar.
        runs_root: The run store whose index registers the run (default: `run_dir`'s parent).
        wait: If another process is training this run, wait for its result instead of raising.

    Returns:
        The result dict (stored as result.json): `status`, `steps`, `seconds`, `normalized_margin`, `gamma_star`
        (None where unknown), `margin_ratio` (normalized margin / γ*), `train_accuracy`, `test_accuracy`,
        `train_loss`, `rebalances`, `run_dir`.

    Raises:
        RunStoreError: If `run_dir` holds another configuration, damaged files or other files, or the store
            is not writable.
        RunBusyError: If another process is training the run and `wait` is False.
        DivergedError: If the loss becomes NaN or inf (the last good checkpoint is kept).
    """
    if run_dir is None:
        return Trainer(cfg, None, progress).run()
    run_dir = Path(run_dir)
    index = store.RunIndex(runs_root if runs_root is not None else run_dir.parent)
    index.check_writable()            # before the run directory is written
    run_dir = prepare_run_dir(cfg, run_dir)
    with solver_cache_at(index.root / store.SOLVER_DIR):   # γ* without a closed form: solved once per store
        return _train_in_store(cfg, run_dir, index, progress, wait)


def read_result(run_dir: Path) -> dict:
    """The stored result of a finished run; RunStoreError naming result.json when it is damaged."""
    path = run_dir / "result.json"
    advice = f"delete the run directory {run_dir} and train it again"
    result = store.read_json(path, advice)
    if not isinstance(result.get("status"), str):
        raise RunStoreError(f"{path} is corrupt (no status): {advice}")
    for key in RESULT_NUMBERS:
        value = result.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise RunStoreError(f"{path} is corrupt ({key} is not a number): {advice}")
    return result


RESULT_NUMBERS = ("steps", "seconds", "normalized_margin", "gamma_star", "margin_ratio", "train_accuracy",
                  "test_accuracy", "train_loss")


def _stored_result(cfg: TrainConfig, run_dir: Path, index: store.RunIndex, record: dict) -> dict:
    """The result of a finished run; its index row is brought up to date when a kill came between result.json
    and the row."""
    result = read_result(run_dir)
    if index.status(run_dir) != result["status"]:
        index.upsert({**record, **result}, cfg.to_dict())
    return result


def _train_in_store(cfg: TrainConfig, run_dir: Path, index: store.RunIndex, progress: bool, wait: bool) -> dict:
    result_path = run_dir / "result.json"
    record = {"run_dir": str(run_dir), "task": cfg.task, "model": cfg.model, "p": cfg.p, "k": cfg.k,
              "width": cfg.width, "recipe": cfg.recipe, "seed": cfg.seed}
    if result_path.exists():
        return _stored_result(cfg, run_dir, index, record)
    with store.run_lock(run_dir, wait):  # another process training this run: wait, or RunBusyError
        if result_path.exists():  # it finished while we waited for the lock
            return _stored_result(cfg, run_dir, index, record)
        index.upsert({**record, "status": "running"}, cfg.to_dict())
        try:
            result = Trainer(cfg, RunRecorder(run_dir), progress).run()
        except DivergedError:
            index.upsert({**record, "status": "diverged"}, cfg.to_dict())
            raise
        except Exception:   # the row must not stay at "running"
            index.upsert({**record, "status": "failed"}, cfg.to_dict())
            raise
        store.atomic_write_json(result_path, result)
        index.upsert({**record, **result}, cfg.to_dict())
    return result


def save_network_run(cfg: TrainConfig, model, run_dir: str | Path, result: dict) -> Path:
    """Store a network that was built, not trained (a construction, a solver's lower bound), as an ordinary
    run directory: config.json, split.npz, one metric row, the parameters as step 0 and as last.npz, and
    `result` as result.json — so that `analyze`, `load_run` and the plots work on it."""
    from fourier_circuits.models.margins import evaluate_margins, l2nu_norm
    from fourier_circuits.tasks.registry import task_of
    run_dir = prepare_run_dir(cfg, run_dir)
    task = task_of(cfg)
    stats = evaluate_margins(model, task.inputs(), task.labels())
    norm = l2nu_norm(model)
    row = {"step": 0, "train_loss": stats["loss"], "train_accuracy": stats["accuracy"], "margin": stats["margin"],
           "norm": norm, "normalized_margin": stats["margin"] / norm ** model.nu, "test_loss": None,
           "test_accuracy": None, "margin_ratio": result.get("margin_ratio"), "seconds": 0.0}
    store.truncate_metrics(run_dir, -1)
    store.append_metrics(run_dir, row)
    params = {f"param.{n}": q.detach().cpu().numpy() for n, q in model.named_parameters()}
    store.save_arrays(run_dir / "checkpoints" / "step_00000000.npz", params, {"step": 0, "model": model.config()})
    store.save_arrays(run_dir / "last.npz", params, {"step": 0, "elapsed": 0.0, "logit_scale": None,
                                                      "opt_scalars": {}, "param_groups": []})
    store.atomic_write_json(run_dir / "result.json", {**result, "run_dir": str(run_dir)})
    return run_dir
