"""Analysis of a saved run: Fourier structure of the final network against its initialization, and figures.

Reads only the run directory (config.json, checkpoints, metrics.jsonl); writes analysis.json and
figures/*.png|svg there.
"""
from __future__ import annotations

from pathlib import Path

import torch

from . import runstore
from .fourier import analyze_polynet, neuron_max_power, neuron_dominant_frequency, significant_neurons
from .train import checkpoint_steps, gamma_star_for, load_run


def analyze_run(run_dir: str | Path, plots: bool = True) -> dict:
    """analyze_polynet of the final parameters, plus init statistics, margins and (optionally) figures."""
    run_dir = Path(run_dir)
    cfg, model, metrics = load_run(run_dir)
    summary = analyze_polynet(model)
    steps = checkpoint_steps(run_dir)
    init_power = None
    if steps and steps[0] == 0:
        _, init_model, _ = load_run(run_dir, 0)
        init_power = neuron_max_power(init_model)
        summary["max_power_median_init"] = float(init_power.median())
    last = metrics[-1] if metrics else {}
    gamma_star = gamma_star_for(cfg, model)
    summary.update(run_dir=str(run_dir), normalized_margin=last.get("normalized_margin"),
                   margin_ratio=last.get("margin_ratio"), gamma_star=gamma_star, steps=last.get("step"))
    if plots:
        summary["figures"] = [str(p) for p in _figures(run_dir, model, metrics, init_power, gamma_star)]
    runstore.atomic_write_json(run_dir / "analysis.json", summary)
    return summary


def _figures(run_dir: Path, model, metrics: list[dict], init_power, gamma_star) -> list[Path]:
    from .plots import plot_dominant_frequency_hist, plot_margin_curve, plot_max_power_hist, plot_neurons
    fig_dir = run_dir / "figures"
    mask = significant_neurons(model)
    norms = model.neuron_sq_norms().detach()
    top = torch.argsort(norms, descending=True)[:4].tolist()
    paths = list(plot_neurons(model, top, fig_dir / "neurons"))
    paths += plot_max_power_hist(neuron_max_power(model)[mask], init_power, fig_dir / "max_power")
    paths += plot_dominant_frequency_hist(neuron_dominant_frequency(model)[mask], model.vocab_size,
                                          fig_dir / "dominant_frequency")
    rows = [r for r in metrics if r["step"] > 0]
    if rows:
        paths += plot_margin_curve([r["step"] for r in rows], [r["normalized_margin"] for r in rows], gamma_star,
                                   fig_dir / "margin")
    return paths
