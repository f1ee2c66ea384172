"""Analysis of a saved run: Fourier structure of the final network against its initialization, and figures.

Reads only the run directory (config.json, checkpoints, metrics.jsonl); writes analysis.json and
figures/*.png|svg there.

Transformer runs (model = transformer): per head of layer 0, the 2-D Fourier sparsity of the token-space
W^KQ (attention.all_heads_qk / heads_sparsity: max normalized pair power, pairs for 90% of the power) for
the final and the step-0 parameters, the key frequencies of the number-token embedding
(progress.embedding_key_frequencies), the first logged step where train / test accuracy reach 0.99, and
figures: [LI] Fig 3 panels for the two sparsest heads, accuracy vs step (train and test).
"""
from __future__ import annotations

from pathlib import Path

import torch

from fourier_circuits.runs import store as runstore
from fourier_circuits.analysis.fourier import analyze_polynet, neuron_max_power, neuron_dominant_frequency, significant_neurons
from fourier_circuits.tasks.modadd import task_of
from fourier_circuits.training.trainer import checkpoint_steps, gamma_star_for, load_run


def analyze_run(run_dir: str | Path, plots: bool = True) -> dict:
    """Structure of the final parameters (Fourier for modadd, irreps for groups, support for parity), the
    same statistic at initialization, the final margins and (optionally) figures."""
    run_dir = Path(run_dir)
    cfg, model, metrics = load_run(run_dir)
    steps = checkpoint_steps(run_dir)
    init_model = load_run(run_dir, 0)[1] if steps and steps[0] == 0 else None
    if cfg.model == "transformer":
        summary, figures = _transformer(run_dir, cfg, model, init_model, metrics, plots)
    elif cfg.task == "modadd":
        summary, figures = _modadd(run_dir, model, init_model, plots)
    elif cfg.task == "group":
        summary, figures = _group(run_dir, cfg.group, model, init_model, plots)
    else:
        summary, figures = _parity(run_dir, task_of(cfg), model, init_model, plots)
    last = metrics[-1] if metrics else {}
    gamma_star = gamma_star_for(cfg, model)
    summary.update(run_dir=str(run_dir), task=cfg.task, normalized_margin=last.get("normalized_margin"),
                   margin_ratio=last.get("margin_ratio"), gamma_star=gamma_star, steps=last.get("step"))
    rows = [r for r in metrics if r["step"] > 0 and r["normalized_margin"] is not None]
    if plots and rows:
        from fourier_circuits.analysis.plots import plot_margin_curve
        figures += plot_margin_curve([r["step"] for r in rows], [r["normalized_margin"] for r in rows],
                                     gamma_star, run_dir / "figures" / "margin")
    if plots:
        summary["figures"] = [str(p) for p in figures]
    runstore.atomic_write_json(run_dir / "analysis.json", summary)
    return summary


def _top_neurons(model, count: int = 4) -> list[int]:
    return torch.argsort(model.neuron_sq_norms().detach(), descending=True)[:count].tolist()


def _modadd(run_dir: Path, model, init_model, plots: bool) -> tuple[dict, list]:
    from fourier_circuits.analysis.plots import plot_dominant_frequency_hist, plot_max_power_hist, plot_neurons
    summary = analyze_polynet(model)
    init_power = neuron_max_power(init_model) if init_model is not None else None
    if init_power is not None:
        summary["max_power_median_init"] = float(init_power.median())
    if not plots:
        return summary, []
    fig_dir, mask = run_dir / "figures", significant_neurons(model)
    figures = list(plot_neurons(model, _top_neurons(model), fig_dir / "neurons"))
    figures += plot_max_power_hist(neuron_max_power(model)[mask], init_power, fig_dir / "max_power")
    figures += plot_dominant_frequency_hist(neuron_dominant_frequency(model)[mask], model.vocab_size,
                                            fig_dir / "dominant_frequency")
    return summary, figures


def _group(run_dir: Path, spec: str, model, init_model, plots: bool) -> tuple[dict, list]:
    from fourier_circuits.analysis.irreps import analyze_group_net
    from fourier_circuits.analysis.plots import plot_max_power_hist, plot_neurons_per_irrep
    summary = analyze_group_net(model, spec)
    init = analyze_group_net(init_model, spec) if init_model is not None else None
    if init is not None:
        summary["irrep_power_median_init"] = init["irrep_power_median"]
    if not plots:
        return summary, []
    fig_dir, mask = run_dir / "figures", significant_neurons(model).numpy()
    trained = [v for v, keep in zip(summary["max_irrep_power"], mask) if keep]
    figures = list(plot_max_power_hist(trained, init["max_irrep_power"] if init else None,
                                       fig_dir / "max_irrep_power", what="irrep"))
    names = summary["irrep_names"]
    figures += plot_neurons_per_irrep(names, [summary["observed_fraction_per_irrep"][n] for n in names],
                                      [summary["expected_fraction_per_irrep"][n] for n in names],
                                      fig_dir / "neurons_per_irrep")
    return summary, figures


def _parity(run_dir: Path, task, model, init_model, plots: bool) -> tuple[dict, list]:
    from fourier_circuits.analysis.irreps import analyze_parity_net
    from fourier_circuits.analysis.plots import plot_parity_neurons
    summary = analyze_parity_net(model, task)
    if init_model is not None:
        summary["support_fraction_median_init"] = analyze_parity_net(init_model, task)["support_fraction_median"]
    if not plots:
        return summary, []
    top = _top_neurons(model)
    figures = list(plot_parity_neurons(model.embed.detach().T[top], model.unembed.detach()[top], task.support,
                                       run_dir / "figures" / "parity_neurons"))
    return summary, figures


ACC_THRESHOLD = 0.99


def first_step_at(metrics: list[dict], key: str, threshold: float = ACC_THRESHOLD) -> int | None:
    """First logged step whose metrics[key] ≥ threshold (None if never)."""
    return next((r["step"] for r in metrics if r.get(key) is not None and r[key] >= threshold), None)


def test_loss_collapse_step(metrics: list[dict], factor: float = 100.0) -> int | None:
    """First logged step after the test-loss peak where the test loss is ≤ peak / factor (None if never):
    the grokking "collapse" of Nanda et al. (memorization drives the test loss up, then it falls by orders
    of magnitude)."""
    rows = [r for r in metrics if r.get("test_loss") is not None]
    if not rows:
        return None
    peak = max(range(len(rows)), key=lambda i: rows[i]["test_loss"])
    limit = rows[peak]["test_loss"] / factor
    return next((r["step"] for r in rows[peak:] if r["test_loss"] <= limit), None)


def _transformer(run_dir: Path, cfg, model, init_model, metrics: list[dict], plots: bool) -> tuple[dict, list]:
    import numpy as np
    from fourier_circuits.analysis.attention import all_heads_qk, heads_sparsity, plot_head
    from fourier_circuits.analysis.progress_measures import embedding_key_frequencies
    matrices = all_heads_qk(model, 0)
    final = heads_sparsity(matrices)
    init = heads_sparsity(all_heads_qk(init_model, 0)) if init_model is not None else None
    last = metrics[-1] if metrics else {}
    summary = {
        "model": "transformer", "p": cfg.p, "k": cfg.k, "n_layers": cfg.n_layers, "n_heads": cfg.n_heads,
        "head_max_power": [float(x) for x in final["max_power"]],
        "head_argmax_pair": [[int(u), int(v)] for u, v in final["argmax_pair"]],
        "head_n_pairs_90": [int(x) for x in final["n_pairs_90"]],
        "head_power_median": float(np.median(final["max_power"])),
        "head_power_median_init": float(np.median(init["max_power"])) if init is not None else None,
        "n_pairs_90_median": float(np.median(final["n_pairs_90"])),
        "n_pairs_90_median_init": float(np.median(init["n_pairs_90"])) if init is not None else None,
        "key_frequencies": embedding_key_frequencies(model, cfg.p).freqs,
        "train_acc_step": first_step_at(metrics, "train_accuracy"),
        "test_acc_step": first_step_at(metrics, "test_accuracy"),
        "test_loss_collapse_step": test_loss_collapse_step(metrics),
        "train_accuracy": last.get("train_accuracy"), "test_accuracy": last.get("test_accuracy"),
    }
    summary["progress"] = progress_over_checkpoints(run_dir, summary["key_frequencies"])
    if not plots:
        return summary, []
    from fourier_circuits.analysis.plots import plot_accuracy_curve
    fig_dir, figures = run_dir / "figures", []
    for h in np.argsort(-final["max_power"], kind="stable")[:2]:
        figures += plot_head(matrices[int(h)], fig_dir / f"head_{int(h)}_qk", title=f"layer 0, head {int(h)}")
    rows = [r for r in metrics if r.get("train_accuracy") is not None]
    if rows:
        figures += plot_accuracy_curve([r["step"] for r in rows], [r["train_accuracy"] for r in rows],
                                       [r["test_accuracy"] for r in rows], fig_dir / "accuracy")
    if summary["progress"]:
        from fourier_circuits.analysis.plots import plot_progress_measures
        figures += plot_progress_measures(summary["progress"], fig_dir / "progress_measures")
    return summary, figures


def progress_over_checkpoints(run_dir: Path, freqs: list[int]) -> list[dict]:
    """Nanda et al.'s progress measures at every saved checkpoint, tracking the key frequencies `freqs` of
    the final embedding: train / test loss, restricted loss (only the key-frequency directions of the
    logits kept) and excluded loss (those directions removed; train rows). One row per checkpoint."""
    from fourier_circuits.analysis.progress_measures import progress_measures
    from fourier_circuits.tasks.modadd import task_of
    if not freqs:
        return []
    split, _ = runstore.load_arrays(run_dir / "split.npz")
    rows = []
    for step in checkpoint_steps(run_dir):
        cfg, model, _ = load_run(run_dir, step)
        m = progress_measures(model, task_of(cfg), freqs, torch.from_numpy(split["train"]))
        rows.append({"step": step, **{k: m[k] for k in ("train_loss", "test_loss", "restricted_loss",
                                                         "excluded_loss", "train_acc", "test_acc")}})
    return rows
