# %% [markdown]
# # Watch Fourier features emerge as the margin climbs
#
# Train the quadratic network f(a, b)[c] = Σ_i (u_i[a] + v_i[b])² w_i[c] on addition mod p with the
# default (fast) recipe, then replay its checkpoints: the normalized margin climbs to the closed-form maximum
# γ*, and at the same time every neuron's Fourier spectrum collapses onto one frequency. The figure at the top
# of the README is this script's output at the full size (p = 23, m = 88).

# %%
from pathlib import Path

import numpy as np
from _common import TINY, out_dir
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from fourier_circuits import load_run, resolve_config, train
from fourier_circuits.analysis.fourier import neuron_max_power, neuron_spectrum
from fourier_circuits.runs.checkpoints import checkpoint_steps

# tiny (CI): 300 Adam steps, no L-BFGS polish and no frequency rebalance; full: the default recipe
p, width, tiny = (7, 24, dict(steps=300, polish_iters=0, rebalance_rounds=0)) if TINY else (23, 88, {})
run_dir = out_dir("features_emerge") / f"p{p}-m{width}"
result = train(resolve_config(p=p, k=2, width=width, **tiny), run_dir, progress=False)
print(f"p={p} m={width}: margin / γ* = {result['margin_ratio']:.5f} after {result['steps']} steps "
      f"({result['seconds']:.1f} s)")

# %% [markdown]
# Replay: at each saved checkpoint, the median over neurons of the *max normalized power* (the share of a
# neuron's squared norm in its strongest frequency, ±ζ merged: 1 for a single cosine).

# %%
rows = []
for step in checkpoint_steps(run_dir):
    _, model, _ = load_run(run_dir, step)
    rows.append((step, float(neuron_max_power(model).median())))
_, first, metrics = load_run(run_dir, 0)
_, last, _ = load_run(run_dir)
print(f"median max power: {rows[0][1]:.3f} at init, {rows[-1][1]:.3f} at the end")


# %%
def spectra(model) -> np.ndarray:
    """Each neuron's power per frequency ζ = 1..(p−1)/2 (DC dropped), normalized to sum 1."""
    s = neuron_spectrum(model)[:, 1:].numpy()
    return s / s.sum(axis=1, keepdims=True)


final = spectra(last)
order = np.lexsort((-final.max(axis=1), final.argmax(axis=1)))   # neurons grouped by their final frequency
fig = Figure(figsize=(11, 3.4), layout="constrained")
FigureCanvasAgg(fig)
ax_margin, ax_init, ax_end = fig.subplots(1, 3, width_ratios=[1.5, 1, 1])
curve = [(m["step"] + 1, m["margin_ratio"]) for m in metrics if m.get("margin_ratio") is not None]
ax_margin.plot(*zip(*curve), color="tab:blue", label="normalized margin / γ*")
ax_margin.plot([s + 1 for s, _ in rows], [v for _, v in rows], "o-", color="tab:orange", ms=3,
               label="median max Fourier power")
ax_margin.axhline(1.0, color="grey", lw=0.8, ls="--")
ax_margin.set(xscale="log", xlabel="step + 1", ylim=(-0.05, 1.05), title=f"mod-{p} addition, m = {width}")
ax_margin.legend(loc="lower right", fontsize=8)
for ax, model, name in ((ax_init, first, "init"), (ax_end, last, "trained")):
    ax.imshow(spectra(model)[order].T, aspect="auto", cmap="magma", vmin=0, vmax=1, interpolation="nearest",
              extent=(-0.5, width - 0.5, (p - 1) / 2 + 0.5, 0.5))
    ax.set(xlabel="neuron", ylabel="frequency ζ", title=f"power per frequency, {name}",
           yticks=range(1, (p - 1) // 2 + 1, max(1, (p - 1) // 10)))
figure = Path(run_dir) / "features_emerge.png"
fig.savefig(figure, dpi=130)
print(f"figure: {figure}")
