"""Analysis of a saved run: the task kind's analysis of the final network against its initialization, the
margin curve, and figures.

Reads only the run directory (config.json, split.npz, checkpoints, metrics.jsonl); writes analysis.json and
figures/*.png|svg there. What is measured is the kind's (`TaskKind.analyze`): Fourier statistics for modadd,
irreps for groups, support for parity, W^KQ sparsity and progress measures for the transformer.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch

from fourier_circuits.errors import RunStoreError
from fourier_circuits.runs import store
from fourier_circuits.runs.checkpoints import checkpoint_steps, damaged_advice, load_model, load_run
from fourier_circuits.tasks.base import RunView
from fourier_circuits.tasks.registry import kind_of, task_of
from fourier_circuits.tasks.solver_cache import solver_cache_at

# Written into analysis.json; a cached analysis of another version is recomputed. Bump it whenever a task
# kind's analysis gains, loses or redefines a key, so that old runs do not report the new keys as missing.
ANALYSIS_VERSION = 2


def run_view(run_dir: str | Path, plots: bool | Iterable[str] = True) -> RunView:
    """The stored run as a task kind's analysis sees it, with the figures `plots` asks for (`analyze_run`)."""
    run_dir = Path(run_dir)
    cfg, model, metrics = load_run(run_dir)
    steps = checkpoint_steps(run_dir)
    init_model = load_model(cfg, run_dir, 0) if steps and steps[0] == 0 else None
    try:
        split, _ = store.load_arrays(run_dir / "split.npz")
        train_idx = torch.from_numpy(split["train"])
    except (RunStoreError, KeyError) as e:
        raise RunStoreError(f"{run_dir / 'split.npz'} is damaged ({e}): {damaged_advice(run_dir)}") from None
    wanted = None if isinstance(plots, bool) else frozenset(plots)   # None: a full analysis
    return RunView(cfg=cfg, task=task_of(cfg), model=model, init_model=init_model, metrics=metrics,
                   fig_dir=run_dir / "figures" if plots is True or wanted else None, train_idx=train_idx,
                   checkpoints=lambda: ((s, load_model(cfg, run_dir, s)) for s in steps), figures=wanted)


def analyze_run(run_dir: str | Path, plots: bool | Iterable[str] = True, write: bool = True) -> dict:
    """Analyze a stored run, as `fourier-circuits analyze` does: the structure of the final parameters, the same
    statistic at initialization, the final margins and (optionally) figures; written to analysis.json unless
    `write` is False (a caller that merges it into the stored analysis first).

    What is measured is the task kind's: Fourier statistics (`analyze_polynet`) for modadd, irreps
    (`analyze_group_net`) for groups, support (`analyze_parity_net`) for parity, W^KQ sparsity
    (`heads_sparsity`) and progress measures for the transformer.

    Args:
        run_dir: A run directory.
        plots: Write the figures to `run_dir/figures/`: True all of them, False none, or the names of those
            wanted (file stems: "margin", "softmax_collapse", and the kind's, e.g. "neurons", "max_power").
            With names (`reproduce`) the analysis is a lean one: a costly key that only an unnamed figure
            needs is left out (`RunView`).
        write: Write the summary to `run_dir/analysis.json` (False: only return it).

    Returns:
        The summary dict: the kind's keys (e.g. `max_power_median`, `frequency_coverage`) plus `normalized_margin`,
        `margin_ratio`, `gamma_star`, `gamma_star_source`, `steps`, `task`, `run_dir` and, with plots, `figures`
        (the paths written) and `figures_drawn` (the names asked for; None: all).

    Raises:
        FileNotFoundError: If `run_dir` holds no config.json.
        RunStoreError: If a file of the run is damaged.
    """
    run_dir = Path(run_dir)
    run = run_view(run_dir, plots)
    kind = kind_of(run.cfg)
    summary, figures = kind.analyze(run)
    last = run.metrics[-1] if run.metrics else {}
    with solver_cache_at(run_dir.parent / store.SOLVER_DIR):   # the store the run lives in
        gamma_star = kind.gamma_star(run.cfg, run.model)
    summary.update(analysis_version=ANALYSIS_VERSION, run_dir=str(run_dir), task=run.cfg.task,
                   normalized_margin=last.get("normalized_margin"),
                   margin_ratio=last.get("margin_ratio"), gamma_star=gamma_star, steps=last.get("step"),
                   gamma_star_source=kind.gamma_star_source(run.cfg) if gamma_star is not None else None)
    # softmax collapse (training.evaluation.collapse_stats), on every cross-entropy run: the largest SC
    # fraction over the metric rows (rows written before the diagnostics have none)
    collapse = [r for r in run.metrics if r.get("sc_fraction") is not None]
    if collapse:
        summary["sc_fraction_max"] = max(r["sc_fraction"] for r in collapse)
    rows = [r for r in run.metrics if r["step"] > 0 and r["normalized_margin"] is not None]
    if rows and run.draws("margin"):
        from fourier_circuits.analysis.plots import plot_margin_curve
        figures += plot_margin_curve([r["step"] for r in rows], [r["normalized_margin"] for r in rows],
                                     gamma_star, run_dir / "figures" / "margin")
    if collapse and run.draws("softmax_collapse"):
        from fourier_circuits.analysis.plots import plot_softmax_collapse
        figures += plot_softmax_collapse(run.metrics, run_dir / "figures" / "softmax_collapse")
    if run.fig_dir is not None:
        summary["figures"] = [str(p) for p in figures]
        summary["figures_drawn"] = None if run.figures is None else sorted(run.figures)
    if write:
        store.atomic_write_json(run_dir / "analysis.json", summary)
    return summary
