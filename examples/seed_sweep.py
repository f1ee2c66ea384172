# %% [markdown]
# # A sweep over widths and seeds: mean and 95% confidence interval, locally or on Ray
#
# `expand_grid` turns a base config, a grid and seeds into validated configs; `run_configs` trains the ones not
# already in the run store (local worker processes, or one Ray task per run) and returns their results;
# `aggregate` groups them by the grid value. A sweep killed midway finishes only the missing runs when run
# again. Set `FOURIER_CIRCUITS_RAY=1` (and optionally `RAY_ADDRESS`) to run the same sweep on Ray
# (`pip install -e ".[ray]"`; on a cluster the run store must be on a shared filesystem).

# %%
import os

import numpy as np
from _common import TINY, out_dir
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy import stats

from fourier_circuits.runs.sweep import aggregate, expand_grid, format_table, run_configs

base = dict(p=7, k=2, steps=100, polish_iters=0, rebalance_rounds=0) if TINY else dict(p=11, k=2)
widths, seeds = ([8, 24], [0, 1]) if TINY else ([10, 16, 22, 30, 40], [0, 1, 2, 3, 4])
configs = expand_grid(base, {"width": widths}, seeds)
backend = "ray" if os.environ.get("FOURIER_CIRCUITS_RAY") == "1" else "local"
root = out_dir("seed_sweep")
results = run_configs(configs, root, workers=1 if TINY else 2, backend=backend,
                      address=os.environ.get("RAY_ADDRESS"), progress=False)
rows = aggregate(results, "width", "margin_ratio")
print(f"{len(results)} runs on the {backend} backend")
print(format_table(rows, "width", "margin_ratio"))

# %% [markdown]
# The 95% interval of the mean over seeds, from Student's t with n − 1 degrees of freedom.

# %%
half = [stats.t.ppf(0.975, r["n"] - 1) * r["std"] / np.sqrt(r["n"]) if r["n"] > 1 else 0.0 for r in rows]
for r, h in zip(rows, half):
    print(f"width {r['x']:>3}: margin / γ* = {r['mean']:.4f} ± {h:.4f} (95% CI, n = {r['n']})")
fig = Figure(figsize=(5, 3.4), layout="constrained")
FigureCanvasAgg(fig)
ax = fig.subplots()
ax.errorbar([r["x"] for r in rows], [r["mean"] for r in rows], yerr=half, fmt="o-", capsize=3)
for res in results:
    ax.plot(res["config"]["width"], res["margin_ratio"], ".", color="grey", alpha=0.6)
ax.axhline(1.0, color="grey", ls="--", lw=0.8)
ax.set(xlabel="width m", ylabel="normalized margin / γ*", title=f"mod-{base['p']} addition, {len(seeds)} seeds")
figure = root / "seed_sweep.png"
fig.savefig(figure, dpi=130)
print(f"figure: {figure}")
