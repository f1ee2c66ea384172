"""Figures of [MO] and [LI] for PolyNet Fourier features (matplotlib, no pyplot state).

Every function takes data and an output path prefix, writes `<prefix>.png` and `<prefix>.svg`
(a trailing .png/.svg on the prefix is dropped), and returns the two paths. Figures are built with
`matplotlib.figure.Figure` and rendered by the Agg canvas, so nothing touches the global pyplot backend
and no figure is left open.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from fourier_circuits.analysis.fourier import merged_power, neuron_vectors, trig_interpolation
from fourier_circuits.models.polynet import PolyNet

COLORS = ["tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:red"]


def new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: str | Path) -> tuple[Path, Path]:
    """Write fig as PNG and SVG next to the prefix `path`; returns (png, svg)."""
    prefix = Path(path)
    if prefix.suffix.lower() in (".png", ".svg"):
        prefix = prefix.with_suffix("")
    prefix.parent.mkdir(parents=True, exist_ok=True)
    png, svg = prefix.with_name(prefix.name + ".png"), prefix.with_name(prefix.name + ".svg")
    fig.savefig(png, dpi=150)
    fig.set_layout_engine("none")   # keep the layout the PNG computed: the SVG does not lay it out again
    fig.savefig(svg)
    fig.clear()
    return png, svg


def plot_neurons(model: PolyNet, neurons: Sequence[int], path: str | Path) -> tuple[Path, Path]:
    """[MO] Fig 1(a/b), [LI] Fig 1: one row per neuron i.

    Columns: u_{i,1}, .., u_{i,k}, w_i as dots over a = 0..p−1 with their trigonometric interpolant, then
    the neuron's merged power spectrum S_i(ζ) normalized to sum 1 (bar chart, dominant ζ highlighted).
    """
    vecs = neuron_vectors(model)[list(neurons)]                    # (n, k+1, p)
    n, kp1, p = vecs.shape
    names = [f"$u_{{{j + 1}}}$" for j in range(kp1 - 1)] + ["$w$"]
    t, curves = trig_interpolation(vecs, 20 * p)
    spectra = merged_power(vecs).sum(dim=1)
    spectra = spectra / spectra.sum(dim=-1, keepdim=True)
    fig = new_figure(2.6 * (kp1 + 1), 2.0 * n + 0.6)
    axes = np.asarray(fig.subplots(n, kp1 + 1, squeeze=False))
    a = np.arange(p)
    for r, i in enumerate(neurons):
        for j in range(kp1):
            ax, color = axes[r, j], COLORS[j % len(COLORS)]
            ax.plot(t.numpy(), curves[r, j].numpy(), color=color, lw=1.2, alpha=0.7)
            ax.plot(a, vecs[r, j].numpy(), "o", color=color, ms=3)
            ax.axhline(0, color="0.8", lw=0.6, zorder=0)
            ax.set_title(f"neuron {i}: {names[j]}", fontsize=9)
            if r == n - 1:
                ax.set_xlabel("input / class $a$")
        ax = axes[r, -1]
        spec = spectra[r].numpy()
        top = int(np.argmax(spec))
        bars = ax.bar(np.arange(len(spec)), spec, color="0.6")
        bars[top].set_color("tab:red")
        ax.set_ylim(0, 1.05)
        ax.set_title(f"power: max {spec[top]:.3f} at ζ={top}", fontsize=9)
        if r == n - 1:
            ax.set_xlabel("frequency ζ")
    fig.suptitle(f"Neuron weights and Fourier power (p={p}, k={kp1 - 1})")
    return save_figure(fig, path)


def plot_max_power_hist(trained: np.ndarray | torch.Tensor, init: np.ndarray | torch.Tensor | None,
                        path: str | Path, what: str = "Fourier") -> tuple[Path, Path]:
    """[MO] Figs 4, 6c-d, [LI] Fig 2b-c: histogram of per-neuron max normalized power (init vs trained).

    what: "Fourier" (power per frequency) or "irrep" (power per irreducible representation).
    """
    fig = new_figure(5.5, 3.6)
    ax = fig.add_subplot()
    bins = np.linspace(0, 1, 41)
    series = [("init", init, "tab:gray"), ("trained", trained, "tab:blue")]
    for label, values, color in series:
        if values is None:
            continue
        v = np.asarray(values, dtype=np.float64)
        v = np.clip(v[np.isfinite(v)], 0.0, 1.0)           # 1 + 1e-16 must land in the last bin
        ax.hist(v, bins=bins, color=color, alpha=0.6, edgecolor=color,
                label=f"{label} (n={v.size}, median {np.median(v):.3f})")
    ax.set_xlim(0, 1.01)
    ax.set_xlabel(f"max normalized {what} power of neuron")
    ax.set_ylabel("number of neurons")
    ax.set_title(f"Per-neuron {what} sparsity (1 = single {'frequency' if what == 'Fourier' else what})")
    ax.legend(loc="upper center")
    return save_figure(fig, path)


def plot_dominant_frequency_hist(freqs: Sequence[int] | np.ndarray | torch.Tensor, p: int,
                                 path: str | Path) -> tuple[Path, Path]:
    """[MO] Fig 7, [LI] Fig 2a: number of neurons per dominant frequency ζ = 1..(p−1)/2."""
    half = (p - 1) // 2
    f = np.asarray(freqs, dtype=np.int64).ravel()
    counts = np.bincount(f, minlength=half + 1)[1 : half + 1]
    coverage = np.count_nonzero(counts) / half
    fig = new_figure(max(5.5, 0.12 * half + 2.5), 3.6)
    ax = fig.add_subplot()
    ax.bar(np.arange(1, half + 1), counts, color="tab:blue", width=0.8)
    ax.set_xlim(0.4, half + 0.6)
    ax.set_xlabel("dominant frequency ζ")
    ax.set_ylabel("number of neurons")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_title(f"Dominant frequency per neuron (p={p})\n{np.count_nonzero(counts)}/{half} frequencies used "
                 f"(coverage {coverage:.2f})", fontsize=10)
    return save_figure(fig, path)


def plot_margin_curve(steps: Sequence[float] | np.ndarray, normalized_margins: Sequence[float] | np.ndarray,
                      gamma_star: float | None, path: str | Path) -> tuple[Path, Path]:
    """[MO] Fig 1(c): normalized margin h(θ)/‖θ‖_{2,ν}^ν vs training step (log x), dashed γ* line."""
    s = np.asarray(steps, dtype=np.float64)
    g = np.asarray(normalized_margins, dtype=np.float64)
    keep = s > 0                                            # log axis: step 0 cannot be drawn
    fig = new_figure(5.5, 3.6)
    ax = fig.add_subplot()
    ax.plot(s[keep], g[keep], color="tab:blue", lw=1.5, label="normalized margin")
    if gamma_star is not None:
        ax.axhline(gamma_star, color="tab:red", ls="--", lw=1.2, label=f"γ* = {gamma_star:.4g}")
        if keep.any():
            ax.set_title(f"Normalized margin (final {g[keep][-1] / gamma_star:.3f} γ*)")
    else:
        ax.set_title("Normalized margin")
    ax.set_xscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("normalized margin")
    ax.legend(loc="lower right")
    return save_figure(fig, path)



def plot_accuracy_curve(steps: Sequence[float] | np.ndarray, train: Sequence[float] | np.ndarray,
                        test: Sequence[float | None] | np.ndarray, path: str | Path) -> tuple[Path, Path]:
    """[LI] Fig 4: train (blue) and test (red) accuracy vs training step (log x; step 0 is not drawn)."""
    s = np.asarray(steps, dtype=np.float64)
    keep = s > 0
    fig = new_figure(5.5, 3.6)
    ax = fig.add_subplot()
    ax.plot(s[keep], np.asarray(train, dtype=np.float64)[keep], color="tab:blue", lw=1.5, label="train")
    te = np.asarray([np.nan if v is None else v for v in test], dtype=np.float64)
    if np.isfinite(te).any():
        ax.plot(s[keep], te[keep], color="tab:red", lw=1.5, label="test")
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("training step")
    ax.set_ylabel("accuracy")
    ax.set_title("Accuracy")
    ax.legend(loc="lower right")
    return save_figure(fig, path)


def plot_neurons_per_irrep(names: Sequence[str], observed: Sequence[float], expected: Sequence[float],
                           path: str | Path) -> tuple[Path, Path]:
    """[MO] Fig 6b: fraction of neurons whose dominant irrep is R, against the d_R³ proportion of the
    explicit construction."""
    fig = new_figure(max(5.0, 0.6 * len(names) + 2), 3.6)
    ax = fig.add_subplot()
    x = np.arange(len(names))
    ax.bar(x - 0.2, observed, width=0.4, color="tab:blue", label="trained")
    ax.bar(x + 0.2, expected, width=0.4, color="tab:gray", label="construction (∝ d³)")
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_ylabel("fraction of neurons")
    ax.set_title("Neurons per irreducible representation")
    ax.legend()
    return save_figure(fig, path)


def plot_parity_neurons(u: np.ndarray | torch.Tensor, w: np.ndarray | torch.Tensor, support: Sequence[int],
                        path: str | Path) -> tuple[Path, Path]:
    """[MO] Fig 5: input weights u_i (bars, support S highlighted) and output weights w_i of the given
    neurons, one row each."""
    u, w = np.asarray(u, dtype=np.float64), np.asarray(w, dtype=np.float64)
    fig = new_figure(8.0, 1.9 * len(u) + 0.6)
    colors = ["tab:red" if j in set(support) else "tab:gray" for j in range(u.shape[1])]
    for row, (ui, wi) in enumerate(zip(u, w)):
        ax_u = fig.add_subplot(len(u), 4, (4 * row + 1, 4 * row + 3))
        ax_u.bar(np.arange(len(ui)), ui, color=colors)
        ax_u.axhline(0, color="black", lw=0.5)
        ax_u.set_ylabel(f"u (neuron {row})")
        ax_w = fig.add_subplot(len(u), 4, 4 * row + 4)
        ax_w.bar([0, 1], wi, color="tab:blue")
        ax_w.set_xticks([0, 1], ["w[+1]", "w[−1]"])
    fig.suptitle("Largest neurons: support S in red")
    return save_figure(fig, path)


def plot_grokking(curves: dict[int, list[tuple[list[dict], int]]], path: str | Path) -> tuple[Path, Path]:
    """[LI] Fig 4: per k, train (blue) and test (red) accuracy vs step, mean over seeds with the min–max band.
    `curves[k]` lists (metric rows, p) per seed."""
    ks = sorted(curves)
    fig = new_figure(3.2 * len(ks), 3.0)
    axes = fig.subplots(1, len(ks), squeeze=False)[0]
    for ax, k in zip(axes, ks):
        rows = [[r for r in metrics if r["step"] > 0 and r.get("train_accuracy") is not None]
                for metrics, _ in curves[k]]
        n = min(len(r) for r in rows)
        steps = np.asarray([r["step"] for r in rows[0][:n]], dtype=np.float64)
        for key, color, label in (("train_accuracy", "tab:blue", "train"), ("test_accuracy", "tab:red", "test")):
            acc = np.asarray([[np.nan if r[key] is None else r[key] for r in run[:n]] for run in rows])
            ax.fill_between(steps, acc.min(0), acc.max(0), color=color, alpha=0.2, lw=0)
            ax.plot(steps, acc.mean(0), color=color, lw=1.5, label=label)
        ax.set_xscale("log")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"k = {k}, p = {curves[k][0][1]} ({len(rows)} seeds)")
        ax.set_xlabel("training step")
    axes[0].set_ylabel("accuracy")
    axes[0].legend(loc="lower right")
    return save_figure(fig, path)


def plot_minimal_width(table: Sequence[dict], path: str | Path) -> tuple[Path, Path]:
    """Margin / γ* against width / bound for every width scanned: the line is the best seed, dots are the
    single seeds (stalls show as dots below the line), crosses the runs with twice the seeds and steps.
    Dashed: the 0.999 target; dotted: the bound 2^{2k−2}(p−1). `table` rows: p, k, bound, m_min,
    ratios {m: [per seed]}, check {m: [per seed]}."""
    fig = new_figure(5.8, 3.8)
    ax = fig.add_subplot()
    for i, row in enumerate(table):
        color, bound = COLORS[i % len(COLORS)], row["bound"]
        widths = sorted(row["ratios"])
        ax.plot([m / bound for m in widths], [max(row["ratios"][m]) for m in widths], "-", color=color,
                label=f"p={row['p']}, k={row['k']}: m_min={row['m_min']} / {bound}")
        for m in widths:
            ax.plot([m / bound] * len(row["ratios"][m]), row["ratios"][m], "o", ms=3, color=color, alpha=0.6)
        for m, ratios in row.get("check", {}).items():
            ax.plot([m / bound] * len(ratios), ratios, "x", ms=4, color=color)
    ax.axhline(0.999, color="k", ls="--", lw=1)
    ax.axvline(1.0, color="gray", ls=":", lw=1)
    ax.set_xlabel("width m / bound 2^(2k−2)(p−1)")
    ax.set_ylabel("margin / γ* (dots: seeds; x: 2× seeds and steps)")
    ax.set_title("Minimal width (downward scan)")
    ax.legend(fontsize=7, loc="lower right")
    return save_figure(fig, path)


def plot_margin_vs_lambda(lams: Sequence[float], ratios: Sequence[float], path: str | Path) -> tuple[Path, Path]:
    """[MO] Theorem 1: normalized margin / γ* of the regularized minimizer against λ (log x)."""
    fig = new_figure(5.0, 3.4)
    ax = fig.add_subplot()
    ax.plot(lams, ratios, "o-", color="tab:blue")
    ax.axhline(1.0, color="k", ls="--", lw=1, label="γ*")
    ax.set_xscale("log")
    ax.invert_xaxis()
    ax.set_xlabel("λ")
    ax.set_ylabel("normalized margin / γ*")
    ax.set_title("Margin of CE + λ‖θ‖^ν minimizers")
    ax.legend(loc="lower right")
    return save_figure(fig, path)


def plot_progress_measures(rows: Sequence[dict], path: str | Path) -> tuple[Path, Path]:
    """Nanda et al. progress measures over the checkpoints: train, test, restricted and excluded loss (log y)."""
    rows = [r for r in rows if r["step"] > 0]
    steps = [r["step"] for r in rows]
    fig = new_figure(5.5, 3.6)
    ax = fig.add_subplot()
    for key, color in (("train_loss", "tab:blue"), ("test_loss", "tab:red"), ("restricted_loss", "tab:green"),
                       ("excluded_loss", "tab:purple")):
        values = [np.nan if r.get(key) is None else max(r[key], 1e-12) for r in rows]
        ax.plot(steps, values, "o-", ms=3, color=color, label=key.replace("_", " "))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("cross-entropy")
    ax.set_title("Progress measures\n(restricted / excluded: key frequencies of the final embedding)", fontsize=10)
    ax.legend(fontsize=7, loc="lower left")
    return save_figure(fig, path)


def plot_softmax_collapse(rows: Sequence[dict], path: str | Path) -> tuple[Path, Path]:
    """Softmax-collapse diagnostics beside the loss curves (Prieto et al. 2025), from the metric rows of a
    cross-entropy run (`training.evaluation.collapse_stats`): (left) train / test loss, log y; (middle) the
    fraction of training examples whose softmax is exactly one-hot at the label in the run's dtype
    (sc_fraction) and the fraction of the logit gradient along the logit-scaling direction (nlm_fraction);
    (right) the largest top-1 − top-2 logit gap. Log x; step 0 is not drawn; rows without a key are skipped."""
    def series(key: str) -> tuple[np.ndarray, np.ndarray]:
        pts = [(r["step"], r[key]) for r in rows if r.get("step", 0) > 0 and r.get(key) is not None]
        return (np.asarray([s for s, _ in pts], dtype=np.float64), np.asarray([v for _, v in pts], dtype=np.float64))

    fig = new_figure(13.0, 3.6)
    ax0, ax1, ax2 = fig.subplots(1, 3)
    for key, color in (("train_loss", "tab:blue"), ("test_loss", "tab:red")):
        s, v = series(key)
        if len(s):
            ax0.plot(s, np.maximum(v, 1e-300), color=color, lw=1.5, label=key.replace("_", " "))
    ax0.set(xscale="log", yscale="log", xlabel="training step", ylabel="cross-entropy", title="Loss")
    for key, color, label in (("sc_fraction", "tab:purple", "SC fraction (one-hot softmax)"),
                              ("nlm_fraction", "tab:green", "gradient fraction along logit scaling")):
        s, v = series(key)
        if len(s):
            ax1.plot(s, v, color=color, lw=1.5, label=label)
    ax1.set(xscale="log", ylim=(-0.02, 1.02), xlabel="training step", ylabel="fraction", title="Softmax collapse")
    s, v = series("max_logit_gap")
    if len(s):
        ax2.plot(s, v, color="tab:orange", lw=1.5)
    ax2.set(xscale="log", xlabel="training step", ylabel="max (top-1 − top-2) logit", title="Largest logit gap")
    for ax in (ax0, ax1):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best", fontsize=8)
    return save_figure(fig, path)


def plot_margin_feature_link(rows: Sequence[dict], path: str | Path) -> tuple[Path, Path]:
    """Features appear as the margin closes: over a run's checkpoints, the share of significant neurons that
    are single frequencies (max power ≥ 0.95) against 1 − margin/γ* (log x; the run moves right to left)."""
    gap = np.asarray([r["margin_gap"] for r in rows], dtype=np.float64)
    share = np.asarray([r["single_frequency_share"] for r in rows], dtype=np.float64)
    keep = gap > 0
    fig = new_figure(5.5, 3.6)
    ax = fig.add_subplot()
    ax.plot(gap[keep], share[keep], "o-", color="tab:blue", lw=1.2, ms=4)
    for r, g, s in zip(rows, gap, share):
        if g > 0:
            ax.annotate(str(r["step"]), (g, s), textcoords="offset points", xytext=(3, 3), fontsize=6, color="0.4")
    ax.axhline(0.95, color="tab:red", ls="--", lw=1.0, label="95% (the [LI] claim's threshold)")
    ax.set_xscale("log")
    ax.invert_xaxis()
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("1 − normalized margin / γ*   (checkpoint step annotated)")
    ax.set_ylabel("single-frequency share")
    ax.set_title("Neurons become single frequencies as the margin closes")
    ax.legend(loc="lower left")
    return save_figure(fig, path)


def plot_irrep_masses(cases: Sequence[tuple[str, Sequence[tuple[str, float]]]], path: str | Path) -> tuple[Path, Path]:
    """Which irreps carry the max-margin neurons (docs/theory.md §8): one horizontal bar per (group, k) case, cut
    into the mass the class LP's dual gives each irrep it uses (segments labelled by irrep name)."""
    fig = new_figure(8.0, 0.42 * len(cases) + 1.2)
    ax = fig.add_subplot()
    for row, (_, masses) in enumerate(cases):
        left = 0.0
        for j, (name, mass) in enumerate(masses):
            ax.barh(row, mass, left=left, color=COLORS[j % len(COLORS)], edgecolor="white", height=0.7)
            if mass > 0.06:
                ax.text(left + mass / 2, row, name, ha="center", va="center", fontsize=6, color="white")
            left += mass
    ax.set_yticks(np.arange(len(cases)), [label for label, _ in cases], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of the optimal neuron mass")
    ax.set_title("Irreps used by max-margin networks (class-LP dual)")
    return save_figure(fig, path)


def plot_composite_ratio(rows: Sequence[tuple[int, int, float]], path: str | Path) -> tuple[Path, Path]:
    """γ*(C_n, k) / [LI]'s formula at composite moduli n, one line per k (rows: (n, k, ratio))."""
    fig = new_figure(5.5, 3.6)
    ax = fig.add_subplot()
    for j, k in enumerate(sorted({k for _, k, _ in rows})):
        pts = sorted((n, r) for n, kk, r in rows if kk == k)
        ax.plot([n for n, _ in pts], [r for _, r in pts], "o-", color=COLORS[j % len(COLORS)], label=f"k = {k}")
    ax.axhline(1.0, color="0.5", lw=0.8, ls="--")
    ax.set_xlabel("modulus n (composite)")
    ax.set_ylabel("γ* / [LI] Thm 4.1 formula")
    ax.set_title("Composite moduli: where [LI]'s formula holds")
    ax.legend()
    return save_figure(fig, path)
