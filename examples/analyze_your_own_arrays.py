# %% [markdown]
# # Analyze a network you trained elsewhere
#
# Bring your own arrays: an embedding `E` of shape (k, p, m) (E[j, a, i] is neuron i's weight on input j
# taking value a) and an unembedding `W` of shape (m, p). Put them in a `PolyNet` and read off what the theory
# predicts: each neuron's Fourier spectrum, its irrep power (the cyclic group C_p's real irreps are the
# frequencies), and the normalized margin against γ*.
#
# To keep the example self-contained, "elsewhere" is a plain PyTorch loop below (autograd, cross-entropy plus
# weight decay, nothing from this package); replace it with `np.load` of your own arrays.

# %%
import numpy as np
import torch
from _common import TINY, out_dir
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from fourier_circuits import (
    ModularAddition,
    PolyNet,
    analyze_group_net,
    analyze_polynet,
    gamma_star_modadd,
    normalized_margin,
)
from fourier_circuits.analysis.fourier import neuron_spectrum

p, k, m, steps = (11, 2, 40, 500) if TINY else (23, 2, 88, 6000)
task = ModularAddition(p, k)
x, y = task.inputs(), task.labels()

torch.manual_seed(0)
E = (torch.randn(k, p, m, dtype=torch.float64) / p**0.5).requires_grad_()
W = (torch.randn(m, p, dtype=torch.float64) / m**0.5).requires_grad_()
opt = torch.optim.AdamW([E, W], lr=0.01, weight_decay=1e-3)
for step in range(steps):
    logits = (E[0][x[:, 0]] + E[1][x[:, 1]]) ** 2 @ W
    loss = torch.nn.functional.cross_entropy(logits, y)
    opt.zero_grad()
    loss.backward()
    opt.step()
embedding, unembedding = E.detach().numpy(), W.detach().numpy()     # your arrays: (k, p, m) and (m, p)
print(f"trained elsewhere: loss {loss.item():.2e}, arrays {embedding.shape} and {unembedding.shape}")

# %%
model = PolyNet(vocab_size=p, n_inputs=k, width=m, n_classes=p, dtype=torch.float64)
with torch.no_grad():
    model.embed.copy_(torch.from_numpy(embedding))
    model.unembed.copy_(torch.from_numpy(unembedding))

fourier = analyze_polynet(model)
irreps = analyze_group_net(model, f"C{p}")
ratio = normalized_margin(model, x, y) / gamma_star_modadd(p, k)
print(f"normalized margin / γ* = {ratio:.4f}")
print(f"Fourier: median max power {fourier['max_power_median']:.4f}, frequency coverage "
      f"{fourier['frequency_coverage']:.2f}, neurons per frequency {fourier['neurons_per_frequency']}")
print(f"irreps of C{p}: median max irrep power {irreps['irrep_power_median']:.4f}, used {irreps['irreps_used']}")

# %%
spectrum = neuron_spectrum(model).numpy()
share = spectrum / spectrum.sum(axis=1, keepdims=True)
order = np.argsort(share[:, 1:].argmax(axis=1), kind="stable")
fig = Figure(figsize=(9, 3.2), layout="constrained")
FigureCanvasAgg(fig)
ax_spec, ax_hist = fig.subplots(1, 2, width_ratios=[1.6, 1])
ax_spec.imshow(share[order].T, aspect="auto", cmap="magma", vmin=0, vmax=1, interpolation="nearest")
ax_spec.set(xlabel="neuron (sorted by frequency)", ylabel="frequency ζ (0 = constant)",
            title="power per frequency of your arrays")
ax_hist.hist(fourier["max_power"], bins=np.linspace(0, 1, 21), color="tab:orange")
ax_hist.set(xlabel="max normalized power", ylabel="neurons", title=f"margin / γ* = {ratio:.3f}")
figure = out_dir("analyze_your_own_arrays") / f"spectra-p{p}.png"
fig.savefig(figure, dpi=130)
print(f"figure: {figure}")
