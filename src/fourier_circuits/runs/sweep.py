"""Parameter sweeps: a grid of configs × seeds, run where missing, aggregated and plotted over seeds.

A sweep spec is a TOML file:

    name = "width"                      # optional; default: the file name without .toml
    seeds = [0, 1, 2]                   # optional; each grid point is trained once per seed
    [base]                              # fixed config keys (any TrainConfig key, or preset = "...")
    p = 23
    steps = 1000
    [grid]                              # key = list of values; the Cartesian product is swept
    width = [20, 40, 88]
    activation = ["poly", "relu"]
    [plot]                              # optional
    x = "width"                         # default: the first grid key
    y = "margin_ratio"                  # a result key (default margin_ratio)
    group_by = "activation"             # one curve per value; default: the other grid key if there are two

Every run lives in `RUNS/<default_run_name(cfg)>` like a `train` run, so a sweep re-run (after a kill, or
with more grid points) trains only the runs that have no result.json yet, and every trained run is upserted
into the run index by `train()`. Runs are independent and seeded, so the backend (in-process, a process
pool, Ray) does not change any result.
"""
from __future__ import annotations

import itertools
import logging
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import fields
from multiprocessing import get_context
from pathlib import Path
from typing import Iterator

import numpy as np
from tqdm import tqdm

from fourier_circuits.errors import ConfigError
from fourier_circuits.runs.naming import default_run_name
from fourier_circuits.training.config import TrainConfig, read_toml, resolve_config

SPEC_KEYS = ("name", "seeds", "base", "grid", "plot")
PLOT_KEYS = ("x", "y", "group_by", "name")
RESULT_KEYS = ("normalized_margin", "margin_ratio", "gamma_star", "train_accuracy", "test_accuracy",
               "train_loss", "steps", "seconds")
CONFIG_KEYS = tuple(f.name for f in fields(TrainConfig))
RAY_MISSING = 'backend ray needs Ray: pip install "fourier-circuits[ray]"'


# ----------------------------------------------------------------------------------------- spec and grid
def load_sweep_spec(path: str | Path) -> dict:
    """Read and check a sweep spec; returns dict(name, base, grid, seeds, plot=dict(x, y, group_by)).

    Structural errors (unknown keys, non-list or empty grid values, bad seeds) raise ConfigError naming
    the offending key and value; config values themselves are checked by `expand_grid`.
    """
    path = Path(path)
    data = read_toml(path, "sweep spec")
    for key in data:
        if key not in SPEC_KEYS:
            raise ConfigError(f"unknown sweep spec key {key!r} in {path} (known: {', '.join(SPEC_KEYS)})")
    base, grid, plot = data.get("base", {}), data.get("grid"), data.get("plot", {})
    for table, value in (("base", base), ("grid", grid), ("plot", plot)):
        if value is not None and not isinstance(value, dict):
            raise ConfigError(f"{table} must be a table ([{table}]), got {table}={value!r}")
    if not grid:
        raise ConfigError(f"sweep spec {path} has an empty grid: add a [grid] table with key = [values]")
    for key in list(base) + list(grid):
        if key not in CONFIG_KEYS and key != "preset":
            raise ConfigError(f"unknown config key {key!r} in sweep spec {path}")
    for key, values in grid.items():
        if not isinstance(values, list):
            raise ConfigError(f"grid.{key} must be a list of values, got {key}={values!r}")
        if not values:
            raise ConfigError(f"grid.{key} is an empty list")
    seeds = data.get("seeds")
    if seeds is not None:
        if not isinstance(seeds, list) or not seeds or not all(type(s) is int for s in seeds):
            raise ConfigError(f"seeds must be a non-empty list of integers, got seeds={seeds!r}")
        if len(set(seeds)) != len(seeds):
            raise ConfigError(f"seeds must be distinct, got seeds={seeds!r}")
        if "seed" in grid:
            raise ConfigError("give the seeds either as seeds = [...] or as grid.seed, not both")
    for key in plot:
        if key not in PLOT_KEYS:
            raise ConfigError(f"unknown plot key {key!r} in {path} (known: {', '.join(PLOT_KEYS)})")
    name = data.get("name", plot.get("name", path.stem))
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        raise ConfigError(f"name must be a plain file name, got name={name!r}")
    keys = [k for k in grid if k != "seed"] or list(grid)
    x = plot.get("x", keys[0])
    others = [k for k in keys if k != x]
    group_by = plot.get("group_by", others[0] if len(others) == 1 and len(keys) == 2 else None)
    y = plot.get("y", "margin_ratio")
    for key, value, known in (("x", x, CONFIG_KEYS), ("group_by", group_by, CONFIG_KEYS), ("y", y, RESULT_KEYS)):
        if value is not None and value not in known:
            raise ConfigError(f"plot.{key} must be one of {', '.join(known)}, got {key}={value!r}")
    return {"name": name, "base": base, "grid": grid, "seeds": seeds,
            "plot": {"x": x, "y": y, "group_by": group_by}}


def expand_grid(base: dict, grid: dict[str, list], seeds: list[int] | None = None) -> list[TrainConfig]:
    """All configs of the sweep, validated: the Cartesian product of the grid values (first key slowest,
    values in the given order), each trained once per seed (seeds innermost).

    Args:
        base: TrainConfig keys shared by every run (and optionally "preset"), e.g. {"p": 11, "k": 2}.
        grid: key -> non-empty list of values, e.g. {"width": [10, 16, 22]}.
        seeds: The seeds of each grid point (None: the base's or the default seed; or give grid["seed"]).

    Returns:
        The validated `TrainConfig`s, len(grid points) × len(seeds) of them.

    Raises:
        ConfigError: On an empty grid, an unknown key, seeds given twice, or an invalid config (the message
            names the grid point).
    """
    if not grid:
        raise ConfigError("empty grid: give at least one key = [values]")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"grid.{key} must be a non-empty list of values, got {key}={values!r}")
    for key in list(base) + list(grid):
        if key not in CONFIG_KEYS and key != "preset":
            raise ConfigError(f"unknown config key {key!r}")
    if seeds is not None and "seed" in grid:
        raise ConfigError("give the seeds either as seeds = [...] or as grid.seed, not both")
    configs = []
    for point in itertools.product(*grid.values()):
        for seed in seeds if seeds is not None else [None]:
            values = {**base, **dict(zip(grid, point))}
            if seed is not None:
                values["seed"] = seed
            preset = values.pop("preset", None)
            try:
                configs.append(resolve_config(preset=preset, **values))
            except ConfigError as e:
                where = ", ".join(f"{k}={v!r}" for k, v in zip(grid, point))
                raise ConfigError(f"{e} (grid point {where})") from None
    return configs


# ----------------------------------------------------------------------------------------- running
def run_configs(configs: list[TrainConfig], runs_root: str | Path, workers: int = 1, backend: str = "local",
                address: str | None = None, progress: bool = True, pool: RunPool | None = None) -> list[dict]:
    """Train every config in `runs_root / default_run_name(cfg)`; returns their results in config order,
    each with "run_dir" and "config" (the config dict). Finished runs are read back, not dispatched.

    backend "local": workers = 1 trains in this process, workers > 1 in a spawn process pool whose
    workers use cpu_count // workers torch threads each (`pool`: an open RunPool to use instead, when more
    than one run is to be trained). backend "ray": one task per run (num_cpus=1,
    1 torch thread) on the cluster at `address`, or on a local instance with `workers` CPUs; runs_root
    must then be a file system shared by all nodes. A run that raises is recorded as
    {"status": "failed", "error": ...} and the sweep goes on.

    Args:
        configs: The runs, e.g. from `expand_grid`.
        runs_root: The run store the runs live in.
        workers: Parallel runs (local: processes; ray: CPUs of a local instance).
        backend: "local" or "ray".
        address: The Ray cluster address (None: start a local instance).
        progress: Show a progress bar on stderr.
        pool: An open local `RunPool` to use instead of starting one.

    Returns:
        One result dict per config, in config order (as `train` returns it, plus "run_dir" and "config").

    Raises:
        ConfigError: On an unknown backend or workers < 1.
    """
    if backend not in ("local", "ray"):
        raise ConfigError(f"backend must be local or ray, got backend={backend!r}")
    if type(workers) is not int or workers < 1:
        raise ConfigError(f"workers must be an integer >= 1, got workers={workers!r}")
    root = Path(runs_root).resolve()
    dirs = [root / default_run_name(cfg) for cfg in configs]
    results: dict[Path, dict] = {}
    todo: dict[Path, TrainConfig] = {}
    for cfg, run_dir in zip(configs, dirs):
        if run_dir in results or run_dir in todo:
            continue  # the same config twice in the grid: one run
        if (run_dir / "result.json").exists():
            results[run_dir] = _train_one(cfg, run_dir, root)  # checks config.json, reads result.json
        else:
            todo[run_dir] = cfg
    bar = tqdm(total=len(results) + len(todo), initial=len(results), disable=not progress, unit="run",
               desc="sweep", dynamic_ncols=True, file=sys.stderr)
    if backend == "ray":
        runner = _run_ray(todo, root, workers, address)
    elif pool is not None and len(todo) > 1:
        runner = pool.train(todo, root)
    elif workers == 1 or len(todo) <= 1:
        runner = ((run_dir, _train_one(cfg, run_dir, root)) for run_dir, cfg in todo.items())
    else:
        runner = _run_pool(todo, root, workers)
    for run_dir, result in runner:
        results[run_dir] = result
        bar.update(1)
        if result.get("status") == "failed":
            bar.write(f"sweep: run failed: {run_dir.name}: {result['error']}", file=sys.stderr)
    bar.close()
    out = [{**results[run_dir], "run_dir": str(run_dir), "config": cfg.to_dict()}
           for cfg, run_dir in zip(configs, dirs)]
    failed = [r for r in out if r.get("status") == "failed"]
    if failed and progress:
        print(f"sweep: {len(failed)} of {len(out)} runs failed", file=sys.stderr)
    return out


def train(cfg: TrainConfig, run_dir: Path, progress: bool = False, runs_root: Path | None = None,
          wait: bool = False) -> dict:
    """`runs.train.train`, imported on first use: reading and checking a spec needs no torch."""
    from fourier_circuits.runs.train import train as train_run
    return train_run(cfg, run_dir, progress=progress, runs_root=runs_root, wait=wait)


def _train_one(cfg: TrainConfig, run_dir: Path, root: Path) -> dict:
    """train() one run; any exception becomes a failed-run record. A run that another sweep (or a concurrent
    recipe of `reproduce`) is training is waited for, and its result read back."""
    try:
        return train(cfg, run_dir, progress=False, runs_root=root, wait=True)
    except Exception as e:  # noqa: BLE001 (divergence, a foreign run dir, ..: keep the sweep going)
        return _failed(e)


def _failed(error: Exception) -> dict:
    return {"status": "failed", "error": f"{type(error).__name__}: {error}"}


def _die_with_parent(parent: int) -> None:
    """Linux: this worker gets SIGTERM when the process that started it dies (PR_SET_PDEATHSIG), so a `reproduce`
    killed with kill -9 leaves no worker training on; its runs resume from the store. Elsewhere a no-op."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:   # the parent died before the prctl: nobody is left to signal us
        os._exit(1)


def init_worker(threads: int, parent: int | None = None) -> None:
    """A pool worker's start: `threads` torch threads, and (given the pool owner's pid) it dies with that owner."""
    if parent is not None:
        _die_with_parent(parent)
    import torch
    torch.set_num_threads(threads)


class RunPool:
    """A spawn process pool kept open across `run_configs` calls (a whole `reproduce`), so that its workers
    import torch once: `with RunPool(2) as pool: run_configs(..., pool=pool)`. Each worker uses
    cpu_count // workers torch threads. `pool.submit(fn, *args)` runs any picklable function there too."""

    def __init__(self, workers: int) -> None:
        if type(workers) is not int or workers < 1:
            raise ConfigError(f"workers must be an integer >= 1, got workers={workers!r}")
        self.workers = workers
        self._executor: ProcessPoolExecutor | None = None

    def __enter__(self) -> "RunPool":
        return self

    def __exit__(self, *exc) -> None:
        if self._executor is not None:
            self._executor.shutdown(cancel_futures=True)
            self._executor = None

    def submit(self, fn, *args):
        if self._executor is None:   # started on first use: a reproduce that trains nothing spawns nothing
            threads = max(1, (os.cpu_count() or 1) // self.workers)
            self._executor = ProcessPoolExecutor(self.workers, mp_context=get_context("spawn"),
                                                 initializer=init_worker, initargs=(threads, os.getpid()))
        return self._executor.submit(fn, *args)

    def train(self, todo: dict[Path, TrainConfig], root: Path) -> Iterator[tuple[Path, dict]]:
        """Runs in the pool; yields (run_dir, result) as they finish."""
        futures = {self.submit(_train_one, cfg, run_dir, root): run_dir for run_dir, cfg in todo.items()}
        for future in as_completed(futures):
            try:
                result = future.result()
            except Exception as e:  # noqa: BLE001 (a worker process died)
                result = _failed(e)
            yield futures[future], result


def _run_pool(todo: dict[Path, TrainConfig], root: Path, workers: int) -> Iterator[tuple[Path, dict]]:
    """Runs in a process pool of its own, closed when they are done."""
    with RunPool(min(workers, len(todo))) as pool:
        yield from pool.train(todo, root)


def import_ray():
    """`import ray`, or a ConfigError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(RAY_MISSING) from None
    return ray


def _ray_task(cfg: TrainConfig, run_dir: Path, root: Path) -> dict:
    init_worker(1)  # num_cpus=1 per task: one torch thread, so tasks do not fight over cores
    return _train_one(cfg, run_dir, root)


def _run_ray(todo: dict[Path, TrainConfig], root: Path, workers: int,
             address: str | None) -> Iterator[tuple[Path, dict]]:
    """Runs as Ray tasks (started only when there is something to run); yields (run_dir, result)."""
    if not todo:
        return
    ray = import_ray()
    started = not ray.is_initialized()
    if started:
        quiet = dict(logging_level=logging.ERROR, log_to_driver=False)
        if address is None:
            ray.init(num_cpus=workers, include_dashboard=False, **quiet)
        else:
            ray.init(address=address, **quiet)
    try:
        task = ray.remote(num_cpus=1)(_ray_task)
        refs = {task.remote(cfg, run_dir, root): run_dir for run_dir, cfg in todo.items()}
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for ref in ready:
                try:
                    result = ray.get(ref)
                except Exception as e:  # noqa: BLE001 (a lost worker or node)
                    result = _failed(e)
                yield refs[ref], result
    finally:
        if started:
            ray.shutdown()


# ----------------------------------------------------------------------------------------- results
def _value(result: dict, key: str, config_first: bool):
    """A key of the result or of its config (x and group_by: config first; y: result first)."""
    config = result.get("config", {})
    first, second = (config, result) if config_first else (result, config)
    return first[key] if key in first else second.get(key)


def _sort_key(v) -> tuple:
    return (0, v, "") if isinstance(v, (int, float)) and not isinstance(v, bool) else (1, 0, str(v))


def aggregate(results: list[dict], x: str, y: str, group_by: str | None = None) -> list[dict]:
    """Rows {"x", "group" (with group_by), "n", "mean", "std", "min", "max"} of y over the seeds (all runs
    sharing x and group), groups in order of appearance, x ascending. std is the sample std (0 for n = 1).
    Failed runs and runs whose y is None are left out.

    Args:
        results: The results of `run_configs`.
        x: The key the rows are indexed by, e.g. "width" (looked up in the config first).
        y: The value aggregated over seeds, e.g. "margin_ratio" (looked up in the result first).
        group_by: A key splitting the rows into curves (None: one curve).

    Returns:
        The rows described above.
    """
    buckets: dict = {}
    for r in results:
        value = _value(r, y, config_first=False)
        if r.get("status") == "failed" or value is None:
            continue
        g = _value(r, group_by, config_first=True) if group_by else None
        xv = _value(r, x, config_first=True)
        buckets.setdefault(_hashable(g), {}).setdefault(_hashable(xv), (g, xv, []))[2].append(float(value))
    rows = []
    for per_x in buckets.values():
        for g, xv, values in sorted(per_x.values(), key=lambda t: _sort_key(t[1])):
            a = np.asarray(values, dtype=np.float64)
            row = {"x": xv, "n": len(a), "mean": float(a.mean()), "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0,
                   "min": float(a.min()), "max": float(a.max())}
            rows.append({"group": g, **row} if group_by else row)
    return rows


def _hashable(v):
    return tuple(v) if isinstance(v, list) else v


def plot_sweep(results: list[dict], x: str, y: str, path: str | Path,
               group_by: str | None = None) -> tuple[Path, Path]:
    """y against x: the mean over seeds as a line, the min–max over seeds as a band, one curve per group;
    writes <path>.png and <path>.svg and returns them. Non-numeric x values are placed at 0, 1, 2, .."""
    from fourier_circuits.analysis.plots import COLORS, new_figure, save_figure
    rows = aggregate(results, x, y, group_by)
    if not rows:
        raise ValueError(f"nothing to plot: no finished run has a value for {y!r}")
    xs = [r["x"] for r in rows]
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in xs)
    categories = list(dict.fromkeys(map(str, xs)))
    fig = new_figure(5.5, 3.8)
    ax = fig.subplots()
    groups = list(dict.fromkeys(_hashable(r.get("group")) for r in rows))
    for i, g in enumerate(groups):
        sub = [r for r in rows if _hashable(r.get("group")) == g]
        pos = np.array([r["x"] if numeric else categories.index(str(r["x"])) for r in sub], dtype=float)
        mean, lo, hi = (np.array([r[k] for r in sub]) for k in ("mean", "min", "max"))
        color = COLORS[i % len(COLORS)]
        label = f"{group_by}={g}" if group_by else None
        ax.fill_between(pos, lo, hi, color=color, alpha=0.2, lw=0)
        ax.plot(pos, mean, "o-", color=color, ms=4, label=label)
    if numeric and min(xs) > 0 and max(xs) / min(xs) >= 20:
        ax.set_xscale("log")
    if not numeric:
        ax.set_xticks(range(len(categories)), categories)
    if y == "margin_ratio":
        ax.axhline(1.0, color="0.5", ls=":", lw=1)  # γ*
    n = sorted({r["n"] for r in rows})
    seeds = f"{n[0]}" if len(n) == 1 else f"{n[0]}–{n[-1]}"
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(f"{y} vs {x}: mean and min–max over {seeds} seed(s)", fontsize=10)
    if group_by:
        ax.legend(fontsize=8)
    return save_figure(fig, path)


def format_table(rows: list[dict], x: str, y: str, group_by: str | None = None) -> str:
    """The aggregate rows as an aligned text table (y as mean ± std over seeds)."""
    head = ([group_by] if group_by else []) + [x, "n", f"{y} mean ± std", "min", "max"]
    body = [([str(r["group"])] if group_by else []) + [str(r["x"]), str(r["n"]), f"{r['mean']:.6g} ± {r['std']:.2g}",
             f"{r['min']:.6g}", f"{r['max']:.6g}"] for r in rows]
    widths = [max(len(line[i]) for line in [head] + body) for i in range(len(head))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(line, widths)) for line in [head] + body)
