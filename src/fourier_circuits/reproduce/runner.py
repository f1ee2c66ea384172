"""`fourier-circuits reproduce`: run the figure recipes at one scale and write the report.

Runs go through the run store (`sweep.run_configs`): a run already finished is read back, not retrained,
so a second invocation only re-analyzes what changed and re-renders. Each run's analysis (analysis.json and
its figures) is reused while it is newer than the run's result. A recipe that crashes is reported (in red)
and the others go on; failing claims never change the exit status. A seed offset (`--seed-offset N`) adds N to
the seed of every run the recipes train (their own seeds 0, 1, .. become N, N+1, ..; the data split, the
constructions and the solver do not change): the same claims on other seeds (experiments/claims_seeds.py).
"""
from __future__ import annotations

import contextlib
import json
import os
import platform
import time
import traceback
from collections.abc import Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import dataclass
from pathlib import Path

from fourier_circuits import __version__
from fourier_circuits.errors import ConfigError
from fourier_circuits.reproduce.figures import FIGURE_RECIPES, SCALES, FigureRecipe, gpu_note
from fourier_circuits.reproduce.report import RecipeReport, check_out_dir, write_report
from fourier_circuits.runs.analyze import ANALYSIS_VERSION, analyze_run
from fourier_circuits.runs.store import atomic_write_json, run_lock
from fourier_circuits.runs.store import runs_root as default_runs_root
from fourier_circuits.runs.sweep import RunPool, run_configs
from fourier_circuits.training.config import resolve_config

MAX_SEED_OFFSET = 2**31   # seeds stay far below the config's 2^63 limit

SHOWN_KEYS = ("recipe", "objective", "optimizer", "lr", "regularizer", "lam", "steps", "train_fraction")


@dataclass
class Outcome:
    config: dict
    result: dict
    analysis: dict
    run_dir: Path


def shifted_config(overrides: dict, seed_offset: int = 0):
    """The resolved config of `overrides` with `seed_offset` added to its seed (its own or the default)."""
    cfg = resolve_config(**overrides)
    return resolve_config(**{**overrides, "seed": cfg.seed + seed_offset}) if seed_offset else cfg


def drawn_figures(summary: dict) -> frozenset[str] | None:
    """The figure names a stored analysis has drawn (None: all of them, a full analysis); none when one of its
    figure files is gone."""
    figures = summary.get("figures")
    if figures is None or not all(Path(f).exists() for f in figures):
        return frozenset()
    drawn = summary.get("figures_drawn")   # absent in analyses written before names could be asked for: all
    return None if drawn is None else frozenset(drawn)


def cached_analysis(run_dir: Path, figures: Iterable[str] | bool = ()) -> dict:
    """The run's lean analysis (`analyze_run` with named figures) with the figures `figures` names drawn (True:
    a full analysis, every figure). analysis.json is reused when it is newer than result.json, of this
    ANALYSIS_VERSION and has those figures; when only figures are missing, those alone are drawn and added.
    Under the run's analysis lock, so that two concurrent recipes sharing a run analyze it once."""
    wanted = None if figures is True else set(figures or ())   # None: every figure
    path, result = run_dir / "analysis.json", run_dir / "result.json"
    with run_lock(run_dir, wait=True, name=".analysis.lock"):
        fresh = path.exists() and result.exists() and path.stat().st_mtime >= result.stat().st_mtime
        summary = json.loads(path.read_text()) if fresh else {}
        if summary.get("analysis_version") != ANALYSIS_VERSION:
            return analyze_run(run_dir, plots=True if wanted is None else wanted)
        drawn = drawn_figures(summary)
        if drawn is None or (wanted is not None and wanted <= drawn):
            return summary
        if wanted is None:
            return analyze_run(run_dir, plots=True)
        added = analyze_run(run_dir, plots=wanted - drawn, write=False)   # written once, merged
        merged = dict(added, figures=summary.get("figures", []) + added["figures"], figures_drawn=sorted(drawn | wanted))
        atomic_write_json(path, merged)
        return merged


class RecipeContext:
    """What a recipe sees: the scale, a figure directory, and `runs(group, overrides)` (each run's seed shifted by
    `seed_offset`)."""

    def __init__(self, scale: str, runs_root: Path, fig_dir: Path, workers: int, pool: RunPool | None = None,
                 seed_offset: int = 0) -> None:
        self.scale, self.runs_root, self.fig_dir = scale, runs_root, fig_dir
        self.workers, self.pool, self.seed_offset = workers, pool, seed_offset
        self.settings: dict[str, str] = {}
        self.first: dict[str, str] = {}
        self.counts: dict[str, int] = {}
        self.run_dirs: list[str] = []
        self.run_seconds: dict[str, float] = {}  # run dir → its training seconds (result.json)

    def runs(self, group: str, overrides: list[dict], analyze: bool = True, figures: Sequence[str] = (),
             plotted: int | None = None) -> list[Outcome]:
        """Train (or read back) one run per override dict; analyze each unless told not to (`cached_analysis`),
        drawing the `figures` named (those the report shows) for the first `plotted` runs (None: every run)."""
        configs = [shifted_config(o, self.seed_offset) for o in overrides]
        results = run_configs(configs, self.runs_root, workers=self.workers, progress=False, pool=self.pool)
        for res in results:
            if res.get("status") == "failed":
                raise RuntimeError(f"run {res.get('run_dir')} failed: {res.get('error')}")
        run_dirs = [Path(res["run_dir"]) for res in results]
        drawn = {d: tuple(figures) for d in (run_dirs if plotted is None else run_dirs[:plotted])}
        analyses = self._analyses(run_dirs, drawn) if analyze else {}
        outcomes = [Outcome(cfg.to_dict(), res, analyses.get(run_dir, {}), run_dir)
                    for cfg, res, run_dir in zip(configs, results, run_dirs)]
        self.run_dirs += [str(d) for d in run_dirs]
        self.run_seconds.update({str(d): float(res.get("seconds") or 0.0) for d, res in zip(run_dirs, results)})
        self._describe(group, overrides, configs)
        return outcomes

    def _analyses(self, run_dirs: list[Path], drawn: dict[Path, tuple[str, ...]]) -> dict[Path, dict]:
        """cached_analysis of each distinct run (with the figures `drawn` names for it), in the pool when there
        is one and more than one run."""
        distinct = list(dict.fromkeys(run_dirs))
        if self.pool is None or len(distinct) <= 1:
            return {d: cached_analysis(d, drawn.get(d, ())) for d in distinct}
        futures = {d: self.pool.submit(cached_analysis, d, drawn.get(d, ())) for d in distinct}
        return {d: f.result() for d, f in futures.items()}

    def _describe(self, group: str, overrides: list[dict], configs) -> None:
        """One settings line per group: the first overrides, the resolved optimization keys, the seeds, and
        the number of runs when the group is a grid (widths of a bisection, a λ grid, ...)."""
        self.counts[group] = self.counts.get(group, 0) + len(overrides)
        if group not in self.first:
            first = {k: v for k, v in overrides[0].items() if k != "seed"}
            resolved = configs[0].to_dict()
            self.first[group] = (", ".join(f"{k}={v}" for k, v in first.items()) + " | "
                                 + ", ".join(f"{k}={resolved[k]}" for k in SHOWN_KEYS)
                                 + f", seeds={sorted({c.seed for c in configs})}")
        n = self.counts[group]
        self.settings[group] = self.first[group] + (f", {n} runs" if n > 1 else "")


def check_recipe_names(names: list[str]) -> list[FigureRecipe]:
    unknown = [n for n in names if n not in FIGURE_RECIPES]
    if unknown:
        raise ConfigError(f"unknown recipe {', '.join(map(repr, unknown))}; known: {', '.join(FIGURE_RECIPES)}")
    return [FIGURE_RECIPES[n] for n in (names or list(FIGURE_RECIPES))]


def run_recipe(recipe: FigureRecipe, scale: str, runs_root: Path, workers: int,
               pool: RunPool | None = None, seed_offset: int = 0) -> RecipeReport:
    fig_dir = runs_root / "reproduce" / scale / recipe.name
    ctx = RecipeContext(scale, runs_root, fig_dir, workers, pool, seed_offset)
    start = time.perf_counter()
    claims, figures, error = [], [], None
    try:
        claims, figures = recipe.check(ctx)
    except Exception as exc:  # reported in red; the other recipes go on
        error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"
    return recipe_report(recipe, scale, settings=ctx.settings, claims=claims, figures=[Path(f) for f in figures],
                         runs=ctx.run_dirs, seconds=time.perf_counter() - start,
                         run_seconds=dict(ctx.run_seconds), error=error)


def recipe_report(recipe: FigureRecipe, scale: str, **outcome) -> RecipeReport:
    """The report of `recipe` at `scale`: its name, title, paper and description, and `outcome` (settings,
    claims, figures, runs, seconds, error)."""
    return RecipeReport(name=recipe.name, title=recipe.title, paper=recipe.paper, scale=scale,
                        description=recipe.description, new=recipe.new, **outcome)


def _run_recipe_named(name: str, scale: str, runs_root: Path, seed_offset: int = 0) -> RecipeReport:
    """A pool worker's job when recipes run concurrently: one recipe, its runs one at a time in this worker."""
    return run_recipe(FIGURE_RECIPES[name], scale, runs_root, workers=1, seed_offset=seed_offset)


def schedule_order(recipes: list[FigureRecipe]) -> list[FigureRecipe]:
    """The long recipes first (`long`: at cpu scale li-fig4's 12 transformer runs and mo-fig6's S5 net, which
    would otherwise end the run alone), then those that others read (their `after`), then those that read
    others (multi-run ones such as new-minimal-width: they start as soon as what they read is done), then the
    rest; each in the order given."""
    read = {name for r in recipes for name in r.after}
    return sorted(recipes, key=lambda r: (not r.long, r.name not in read, not r.after))


def _train_planned(overrides: dict, runs_root: Path, seed_offset: int = 0) -> float:
    """A pool worker's job: train (or read back) one of a recipe's `planned` runs; its wall seconds. A run
    that fails is reported by the recipe's own `runs` call, which reads it back."""
    start = time.perf_counter()
    run_configs([shifted_config(overrides, seed_offset)], runs_root, workers=1, progress=False)
    return time.perf_counter() - start


def _concurrent_reports(recipes: list[FigureRecipe], scale: str, root: Path, pool: RunPool, bar,
                        seed_offset: int = 0) -> list[RecipeReport]:
    """Every recipe as one job of the pool, at most `pool.workers` at a time, a recipe only once the recipes
    it reads (`after`) are done; the reports in the order given. A recipe's `planned` runs are jobs of their
    own, queued just before it, and the recipe starts once they are done (its `runs` then reads them back):
    so li-fig4's 12 cpu runs spread over the workers. A run two recipes share is still trained once: the
    second waits on the run's lock and reads the result back."""
    names = {r.name for r in recipes}
    waiting: list[tuple[FigureRecipe, dict | None]] = []    # (recipe, None) or (recipe, a planned run's overrides)
    for recipe in schedule_order(recipes):
        waiting += [(recipe, o) for o in (recipe.planned(scale) if recipe.planned else [])] + [(recipe, None)]
    running, reports, planned_seconds = {}, {}, dict.fromkeys(names, 0.0)

    def ready(job: tuple[FigureRecipe, dict | None]) -> bool:
        """A planned run always; a recipe once what it reads is reported and none of its planned runs is left."""
        recipe, overrides = job
        if overrides is not None:
            return True
        planned_left = any(r is recipe and o is not None for r, o in [*waiting, *running.values()])
        return not planned_left and all(a in reports or a not in names for a in recipe.after)

    while waiting or running:
        free = [job for job in waiting if ready(job)]
        if not free and not running:   # `after` in a cycle: go on in order rather than wait forever
            free = waiting[:1]
        for job in free[:pool.workers - len(running)]:
            waiting.remove(job)
            recipe, overrides = job
            future = (pool.submit(_run_recipe_named, recipe.name, scale, root, seed_offset) if overrides is None
                      else pool.submit(_train_planned, overrides, root, seed_offset))
            running[future] = job
        finished, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in finished:
            recipe, overrides = running.pop(future)
            if overrides is None:
                reports[recipe.name] = _report_of(future, recipe, scale)
                reports[recipe.name].seconds += planned_seconds[recipe.name]  # its worker time, planned runs too
                bar.set_postfix_str(recipe.name)
                bar.update(1)
            elif future.exception() is None:   # (an exception: the worker died; the recipe's `runs` reports it)
                planned_seconds[recipe.name] += future.result() or 0.0
    return [reports[r.name] for r in recipes]


def _report_of(future, recipe: FigureRecipe, scale: str) -> RecipeReport:
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 (the worker process died): reported in red, like a crash
        return recipe_report(recipe, scale, settings={}, claims=[], figures=[], runs=[], seconds=0.0,
                             error=f"{type(exc).__name__}: {exc}")


def _cuda_available() -> bool:
    import torch
    return torch.cuda.is_available()


def machine_description() -> str:
    import torch
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU cores, {device}, "
            f"Python {platform.python_version()}, torch {torch.__version__}")


def reproduce(names: list[str], scale: str = "ci", out: str | Path = "report", runs_root: str | Path | None = None,
              workers: int = 1, progress: bool = True, command: str = "", seed_offset: int = 0) -> dict:
    """Run the recipes `names` (all when empty) at `scale`, write out/index.html and out/summary.json, and
    return the summary (as written to summary.json).

    With workers > 1, one process pool (cpu_count // workers torch threads per worker) serves the whole run:
    - at least as many recipes as workers: the recipes run concurrently, one per worker, each training its
      runs one at a time (most recipes train one run at a time, and on 2 cores two 1-thread runs do about
      1.5× the work of one 2-thread run);
    - fewer: one recipe at a time, its multi-run batches and their analyses spread over the pool.
    A recipe's `seconds` is then its wall time in its worker, plus that of its `planned` runs.
    `seed_offset` (0 ≤ N < 2^31) shifts every trained run's seed by N (the module docstring)."""
    if scale not in SCALES:
        raise ConfigError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    if workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    if isinstance(seed_offset, bool) or not isinstance(seed_offset, int) or not 0 <= seed_offset < MAX_SEED_OFFSET:
        raise ConfigError(f"--seed-offset must be an integer in [0, {MAX_SEED_OFFSET}), got {seed_offset!r}")
    recipes = check_recipe_names(list(names))
    check_out_dir(out)   # a directory of the user's own files is refused before any run starts
    gpu_only = [r for r in recipes if r.gpu_presets] if scale == "paper" and not _cuda_available() else []
    skipped = [recipe_report(r, scale, settings={}, claims=[], figures=[], runs=[], not_run=gpu_note(r)) for r in gpu_only]
    recipes = [r for r in recipes if r not in gpu_only]
    root = default_runs_root(runs_root).resolve()
    start = time.perf_counter()
    reports = []
    from tqdm import tqdm
    bar = tqdm(total=len(recipes), desc=f"reproduce ({scale})", unit="recipe", disable=not progress)
    with RunPool(workers) if workers > 1 else contextlib.nullcontext() as pool:
        if pool is not None and len(recipes) >= workers:
            reports = _concurrent_reports(recipes, scale, root, pool, bar, seed_offset)
        else:
            for recipe in recipes:
                bar.set_postfix_str(recipe.name)
                reports.append(run_recipe(recipe, scale, root, workers, pool, seed_offset))
                bar.update(1)
    bar.close()
    reports += skipped
    shift = f", seeds shifted by {seed_offset}" if seed_offset else ""
    meta = dict(title=f"fourier-circuits: reproduction at scale {scale}{shift}", scale=scale, seed_offset=seed_offset,
                date=time.strftime("%Y-%m-%d %H:%M:%S"), version=__version__, machine=machine_description(),
                command=command, runs_root=str(root), total_seconds=time.perf_counter() - start)
    _, summary_path = write_report(out, reports, meta)
    return json.loads(summary_path.read_text())

