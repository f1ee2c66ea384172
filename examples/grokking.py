# %% [markdown]
# # Grokking, with progress measures and softmax-collapse diagnostics
#
# A one-layer transformer on tokens [a, op, b, =] learns addition mod p from 70% of the pairs. Train accuracy
# reaches 99% first; test accuracy follows later (grokking). `analyze_run` replays the saved checkpoints and
# computes Nanda et al.'s progress measures (restricted loss: the logits kept only on the key frequencies;
# excluded loss: those frequencies removed), and every metric row carries softmax-collapse diagnostics
# (`sc_fraction`: training rows whose float32 softmax is exactly one-hot, Prieto et al. 2025).
# The settings are those of the `li-fig4` recipe at the ci scale (`LI_GROK_CI[2]` in reproduce/figures.py).

# %%
from _common import TINY, out_dir
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from fourier_circuits import analyze_run, resolve_config, train
from fourier_circuits.analysis.curves import first_step_at
from fourier_circuits.runs.store import read_metrics

settings = dict(preset="li-grok-k2-cpu", p=23, k=2, n_layers=1, n_heads=4, weight_decay=3.0, train_fraction=0.7,
                init_scale=1.5, lr=4e-3, steps=500, n_evals=50)
if TINY:
    settings.update(steps=200, n_checkpoints=6)   # the first 200 steps of the 500 (constant lr after warm-up)
run_dir = out_dir("grokking") / f"p{settings['p']}-steps{settings['steps']}"
result = train(resolve_config(**settings), run_dir, progress=False)
metrics = read_metrics(run_dir)
print(f"test accuracy {result['test_accuracy']:.4f} after {result['steps']} steps ({result['seconds']:.1f} s)")
print(f"train 99% at step {first_step_at(metrics, 'train_accuracy')}, test 99% at step "
      f"{first_step_at(metrics, 'test_accuracy')}")

# %%
analysis = analyze_run(run_dir, plots=False)
print(f"key frequencies of the embedding: {analysis['key_frequencies']}")
print(f"largest softmax-collapse fraction: {max(r.get('sc_fraction') or 0.0 for r in metrics):.3f}")
for row in analysis["progress"][-3:]:
    print({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})

# %%
fig = Figure(figsize=(11, 3.2), layout="constrained")
FigureCanvasAgg(fig)
ax_acc, ax_loss, ax_sc = fig.subplots(1, 3)
steps = [r["step"] for r in metrics]
ax_acc.plot(steps, [r["train_accuracy"] for r in metrics], label="train")
ax_acc.plot(steps, [r["test_accuracy"] for r in metrics], label="test")
ax_acc.set(xlabel="step", ylabel="accuracy", title="grokking")
ax_acc.legend(fontsize=8)
progress = analysis["progress"]
for key in ("train_loss", "test_loss", "restricted_loss", "excluded_loss"):
    points = [(r["step"], r[key]) for r in progress if r.get(key) is not None]
    if points:
        ax_loss.plot(*zip(*points), "o-", ms=3, label=key.replace("_", " "))
ax_loss.set(xlabel="step", yscale="log", title="progress measures (checkpoints)")
ax_loss.legend(fontsize=8)
ax_sc.plot(steps, [r.get("sc_fraction") or 0.0 for r in metrics], label="softmax collapse fraction")
ax_sc.plot(steps, [r.get("nlm_fraction") or 0.0 for r in metrics], label="naive-loss-minimization share")
ax_sc.set(xlabel="step", ylim=(-0.02, 1.02), title="softmax-collapse diagnostics")
ax_sc.legend(fontsize=8)
figure = run_dir / "grokking.png"
fig.savefig(figure, dpi=130)
print(f"figure: {figure}")
