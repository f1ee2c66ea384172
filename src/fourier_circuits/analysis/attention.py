"""Token-space attention matrices W^KQ of a `Transformer` and their 2-D Fourier sparsity ([LI] §5, Fig 3).

Token-space W^KQ (docs/theory.md §2). For head h of block l, with number-token embeddings x_a (a = 0..p-1),

    M[a, b] = (x_a W_Q[h]) · (x_b W_K[h])  =  x_a W_Q[h] W_K[h]^T x_b^T          (rows a = query, cols b = key)

i.e. M = (X W_Q)(X W_K)^T, the score a query holding token a gives a key holding token b (before the
1/sqrt(d_head) scaling unless `scaled=True`). Which vectors x_a enter:
  * default (query_pos = key_pos = None): x_a = W_E[a], the pure token embedding -- [LI]'s E^T W^KQ E.
  * query_pos = i and/or key_pos = j: the position embedding is added, x_a = W_E[a] + W_pos[i] (query side)
    and W_E[b] + W_pos[j] (key side). E.g. for k = 2, tokens [a1, op, a2, =]: query_pos=2, key_pos=0 gives the
    exact scores from a2 to a1. Note the readout query at '=' always holds the '=' token, not a number, so
    number-vs-number W^KQ is the quantity [LI] plot, not the readout's score vector.
  * with LayerNorm, the block's ln1 is applied to each x (per vector, as the model does), so for layer 0 with
    both positions given, M (scaled) equals the model's `attn.scores` exactly.
  * layer > 0: the same embedding vectors are fed to that block's W_Q, W_K (the direct path from the
    embeddings); the real residual stream also carries earlier blocks' outputs.

Spectrum. F̂(u, v) = Σ_{a,b} M[a, b] e^{-2πi(ua + vb)/p}, power |F̂(u, v)|². For real M,
|F̂(u, v)| = |F̂(-u, -v)|, so the power of a frequency *pair* is merged (docs/theory.md §7):
P({(u,v), (-u,-v)}) = |F̂(u,v)|² + |F̂(-u,-v)|²; the DC bin (0, 0) is its own bin. There are (p²+1)/2 bins;
canonical representative of a pair: u in 1..(p-1)/2 (any v in 0..p-1), or u = 0 and v in 1..(p-1)/2.
A pure 2-D cosine cos(2π(ua + vb)/p + φ), (u,v) != (0,0), has all its power in one merged pair.

Sparsity (`head_sparsity`): normalized power of a pair = its merged power / total non-DC power (i.e. the power
of M minus its mean; a constant offset does not change any attention pattern), the max over pairs and its
argmax, and the number of pairs (largest first) needed for 90% of the non-DC power. `dc_power` reports the DC
fraction of the total power separately. `include_dc=True` normalizes by the total power instead.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from fourier_circuits.models.transformer import Transformer


def _embeddings(model: Transformer, layer: int, pos: int | None) -> torch.Tensor:
    """(p, d_model): number-token embeddings (+ W_pos[pos]) passed through block `layer`'s ln1 if present."""
    p = model.cfg.n_classes
    x = model.W_E[:p]
    if pos is not None:
        x = x + model.W_pos[pos]
    ln1 = model.blocks[layer].ln1
    return ln1(x) if ln1 is not None else x


def all_heads_qk(
    model: Transformer, layer: int = 0, query_pos: int | None = None, key_pos: int | None = None, scaled: bool = False
) -> torch.Tensor:
    """(n_heads, p, p): M_h[a, b] = (x_a W_Q[h]) · (x_b W_K[h]) for every head (module docstring)."""
    if not 0 <= layer < model.cfg.n_layers:
        raise ValueError(f"layer must be in 0..{model.cfg.n_layers - 1}, got {layer}")
    block = model.blocks[layer]
    with torch.no_grad():
        xq = _embeddings(model, layer, query_pos)
        xk = _embeddings(model, layer, key_pos)
        q = torch.einsum("ad,hde->hae", xq, block.W_Q)
        k = torch.einsum("bd,hde->hbe", xk, block.W_K)
        m = q @ k.transpose(-1, -2)
    return m / model.cfg.d_head**0.5 if scaled else m


def token_space_qk(
    model: Transformer,
    layer: int = 0,
    head: int = 0,
    query_pos: int | None = None,
    key_pos: int | None = None,
    scaled: bool = False,
) -> torch.Tensor:
    """(p, p): token-space W^KQ of one head, rows = query token, cols = key token (module docstring)."""
    return all_heads_qk(model, layer, query_pos, key_pos, scaled)[head]


def power_spectrum_2d(matrix: torch.Tensor | np.ndarray) -> torch.Tensor:
    """|F̂(u, v)|² with F̂(u, v) = Σ_{a,b} M[a, b] e^{-2πi(ua + vb)/p}; (..., p, p) -> (..., p, p), float64."""
    m = torch.as_tensor(matrix).detach().to(torch.float64)
    return torch.fft.fft2(m).abs() ** 2


def frequency_pairs(p: int) -> torch.Tensor:
    """(n_bins, 2) canonical pair representatives; row 0 is the DC bin (0, 0), n_bins = (p² + 1)/2."""
    h = (p - 1) // 2
    pairs = [(0, 0)] + [(0, v) for v in range(1, h + 1)] + [(u, v) for u in range(1, h + 1) for v in range(p)]
    return torch.tensor(pairs, dtype=torch.long)


def canonical_pair(u: int, v: int, p: int) -> tuple[int, int]:
    """The representative of {(u, v), (-u, -v)} mod p used by `frequency_pairs`."""
    u, v = u % p, v % p
    if u > (p - 1) // 2 or (u == 0 and v > (p - 1) // 2):
        u, v = (-u) % p, (-v) % p
    return u, v


def merged_pair_power(power: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Merge conjugate bins of a power spectrum (..., p, p) (odd p).

    Returns (merged (..., n_bins), pairs (n_bins, 2)): merged[..., i] = P(u, v) + P(-u, -v) for
    (u, v) = pairs[i], except the DC bin i = 0, which is P(0, 0) alone.
    """
    p = power.shape[-1]
    if power.shape[-2] != p or p % 2 == 0:
        raise ValueError(f"power must be (..., p, p) with odd p, got {tuple(power.shape)}")
    pairs = frequency_pairs(p)
    u, v = pairs[:, 0], pairs[:, 1]
    merged = power[..., u, v] + power[..., (-u) % p, (-v) % p]
    merged[..., 0] = power[..., 0, 0]
    return merged, pairs


def heads_sparsity(matrices: torch.Tensor | np.ndarray, include_dc: bool = False, mass: float = 0.9) -> dict[str, np.ndarray]:
    """The 2-D Fourier sparsity of each (p, p) matrix in a stack, e.g. the token-space W^KQ of every head
    ([LI] Fig. 3: each head a 2-D cosine).

    The power of a frequency pair (u, v) is |F̂(u, v)|² + |F̂(−u, −v)|², normalized by the non-DC power (module
    docstring); a pure 2-D cosine has max_power 1.

    Args:
        matrices: (H, p, p) tensor or array, one matrix per head.
        include_dc: Normalize by the total power, DC included, instead of the non-DC power.
        mass: The share of the non-DC power that `n_pairs_90` counts pairs up to.

    Returns:
        A dict of numpy arrays: `max_power` (H,), `argmax_pair` (H, 2) canonical (u, v), `n_pairs_90` (H,) =
        number of non-DC pairs, largest first, holding `mass` of the non-DC power (0 for an all-constant
        matrix), `dc_power` (H,) = DC / total power.
    """
    merged, pairs = merged_pair_power(power_spectrum_2d(matrices))
    total = merged.sum(-1)
    dc = merged[..., 0]
    rest = merged[..., 1:]
    denom = (total if include_dc else total - dc).clamp_min(1e-300)
    norm = rest / denom[..., None]
    max_power, idx = norm.max(-1)
    cum = norm.sort(-1, descending=True).values.cumsum(-1)
    target = mass * (rest.sum(-1) / denom)  # = mass unless include_dc
    n90 = (cum < target[..., None] * (1 - 1e-9)).sum(-1) + 1
    n90 = torch.where(rest.sum(-1) > 0, n90, torch.zeros_like(n90))
    return {
        "max_power": max_power.numpy(),
        "argmax_pair": pairs[1:][idx].numpy(),
        "n_pairs_90": n90.numpy(),
        "dc_power": (dc / total.clamp_min(1e-300)).numpy(),
    }


def head_sparsity(matrix: torch.Tensor | np.ndarray, include_dc: bool = False, mass: float = 0.9) -> dict:
    """`heads_sparsity` of one (p, p) matrix, as Python scalars (argmax_pair a tuple (u, v))."""
    r = heads_sparsity(torch.as_tensor(matrix)[None], include_dc, mass)
    return {
        "max_power": float(r["max_power"][0]),
        "argmax_pair": tuple(int(x) for x in r["argmax_pair"][0]),
        "n_pairs_90": int(r["n_pairs_90"][0]),
        "dc_power": float(r["dc_power"][0]),
    }


def plot_head(matrix: torch.Tensor | np.ndarray, path: str | Path, title: str = "") -> list[Path]:
    """[LI] Fig 3 panel: heatmap of W^KQ (left) and its centred 2-D power spectrum (right). Writes PNG + SVG."""
    from matplotlib.figure import Figure  # renders with Agg, no pyplot global state, nothing left open

    m = torch.as_tensor(matrix).detach().to(torch.float64)
    p = m.shape[-1]
    power = torch.fft.fftshift(power_spectrum_2d(m)).numpy()
    s = head_sparsity(m)
    h = (p - 1) // 2
    fig = Figure(figsize=(9.5, 4.2), layout="constrained")
    ax0, ax1 = fig.subplots(1, 2)
    lim = float(m.abs().max()) or 1.0
    im0 = ax0.imshow(m.numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim, origin="upper")
    ax0.set(title="token-space $W^{KQ}$", xlabel="key token b", ylabel="query token a")
    fig.colorbar(im0, ax=ax0, shrink=0.85)
    ext = (-h - 0.5, h + 0.5, h + 0.5, -h - 0.5)
    im1 = ax1.imshow(power / max(power.sum(), 1e-300), cmap="viridis", extent=ext, origin="upper")
    u, v = s["argmax_pair"]
    v_signed = v if v <= h else v - p
    ax1.set(
        title=f"2-D power  (max pair {s['max_power']:.2f} at (u,v)=({u},{v_signed}), "
        f"{s['n_pairs_90']} pair{'s' if s['n_pairs_90'] != 1 else ''} for 90%)",
        xlabel="key frequency v",
        ylabel="query frequency u",
    )
    ax1.title.set_fontsize(9)
    fig.colorbar(im1, ax=ax1, shrink=0.85, label="fraction of power")
    if title:
        fig.suptitle(title)
    base = Path(path).with_suffix("")
    base.parent.mkdir(parents=True, exist_ok=True)
    paths = [base.with_suffix(".png"), base.with_suffix(".svg")]
    for out in paths:
        fig.savefig(out, dpi=120)
    return paths
