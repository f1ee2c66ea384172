"""Closed-form maximum margins, width bounds and explicit max-margin networks (docs/theory.md §4, §6).

k-input modular addition [LI Thm 4.1], m ≥ 2^{2k−2}(p−1), ν = k+1:
    γ* = 2·k! / ( (2k+2)^{(k+1)/2} · (p−1) · p^{(k−1)/2} ).
"""
from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING

from fourier_circuits.algebra.integers import check_modadd

if TYPE_CHECKING:  # torch is imported where a network is built: the formulas answer without it
    import torch

    from fourier_circuits.models.polynet import PolyNet


def gamma_star_modadd(p: int, k: int = 2) -> float:
    """The maximum normalized margin of k-input addition mod p ([LI] Theorem 4.1, docs/theory.md §4).

    γ* = 2·k! / ((2k+2)^{(k+1)/2} · (p−1) · p^{(k−1)/2}) for the polynomial net with activation z^k and
    ν = k+1, attained by any width m ≥ 2^{2k−2}(p−1) (`min_width_modadd`).

    Args:
        p: The modulus, an odd prime.
        k: The number of summands (inputs), k ≥ 2.

    Returns:
        γ* as a float, e.g. 0.0025795… for p = 23, k = 2.

    Raises:
        TaskError: If p is not an odd prime, k < 2, or p^k > 2^31.
    """
    check_modadd(p, k)
    return 2 * math.factorial(k) / ((2 * k + 2) ** ((k + 1) / 2) * (p - 1) * p ** ((k - 1) / 2))


def min_width_modadd(p: int, k: int = 2) -> int:
    """The width of the explicit construction, m = 2^{2k−2}(p−1): enough neurons to reach γ* (not necessarily
    the fewest; `fourier-circuits min-width` measures the smallest width that trains to γ*).

    Args:
        p: The modulus, an odd prime.
        k: The number of summands (inputs), k ≥ 2.

    Returns:
        2^{2k−2}(p−1), e.g. 88 for p = 23, k = 2.

    Raises:
        TaskError: If p is not an odd prime, k < 2, or p^k > 2^31.
    """
    check_modadd(p, k)
    return 2 ** (2 * k - 2) * (p - 1)


def theory_modadd(p: int, k: int = 2) -> dict:
    """Everything the theory says about k-input addition mod p, as `fourier-circuits theory --task modadd`
    prints it.

    Args:
        p: The modulus, an odd prime.
        k: The number of summands (inputs), k ≥ 2.

    Returns:
        A dict with keys `task` ("modadd"), `p`, `k`, `gamma_star` (`gamma_star_modadd(p, k)`), `min_width`
        (`min_width_modadd(p, k)`) and `nu` (k + 1, the exponent of the norm ‖θ‖_{2,ν}).

    Raises:
        TaskError: If p is not an odd prime, k < 2, or p^k > 2^31.
    """
    return {"task": "modadd", "p": p, "k": k, "gamma_star": gamma_star_modadd(p, k),
            "min_width": min_width_modadd(p, k), "nu": k + 1}


def construct_modadd(p: int, k: int = 2, dtype: torch.dtype | None = None) -> PolyNet:
    """The max-margin network of docs/theory.md §6 with m = 2^{2k−2}(p−1) neurons.

    For each frequency ζ in 1..(p−1)/2, with φ_j = 2πζa_j/p and ψ = 2πζc/p,
        cos(φ_1 + .. + φ_k − ψ) = Σ_{T⊆[k]} Π_{j∉T} cos φ_j Π_{j∈T} sin φ_j · w_T(ψ),
    w_T = (−1)^{|T|/2} cos ψ for |T| even and (−1)^{(|T|−1)/2} sin ψ for |T| odd; each product of k
    factors x_j is written with 2^{k−1} neurons via
        Π_j x_j = 2/(2^k k!) Σ_{s∈{±1}^k, s_1=+1} (−1)^{(k−Σs)/2} (Σ_j s_j x_j)^k.
    Summed over ζ the logits are (p·1[c = Σa] − 1)/2. Each neuron is then rebalanced
    (u → t·u, w → w/t^k with ‖u_j‖ = ‖w‖), without which the margin is only ~0.6–0.7 γ*.

    Args:
        p: The modulus, an odd prime.
        k: The number of summands (inputs), k ≥ 2.
        dtype: The torch dtype of the weights (default float64, so that its normalized margin is γ* to ~1e-15).

    Returns:
        A `PolyNet` with activation z^k and m = 2^{2k−2}(p−1) neurons whose normalized margin equals
        `gamma_star_modadd(p, k)`.

    Raises:
        TaskError: If p is not an odd prime, k < 2, or p^k > 2^31.
    """
    import torch

    from fourier_circuits.models.polynet import PolyNet
    check_modadd(p, k)
    dtype = torch.float64 if dtype is None else dtype
    a = torch.arange(p, dtype=dtype)
    subsets = list(itertools.product((0, 1), repeat=k))          # T as indicator: 1 = sin factor
    signs = [s for s in itertools.product((1, -1), repeat=k) if s[0] == 1]
    coef = 2.0 / (2**k * math.factorial(k))
    embeds, unembeds = [], []
    for zeta in range(1, (p - 1) // 2 + 1):
        angle = 2 * math.pi * zeta * a / p
        cos, sin = torch.cos(angle), torch.sin(angle)
        for t in subsets:
            size = sum(t)
            w_t = (-1) ** (size // 2) * (sin if size % 2 else cos)
            for s in signs:
                embeds.append(torch.stack([s[j] * (sin if t[j] else cos) for j in range(k)]))  # (k, p)
                unembeds.append(coef * (-1) ** ((k - sum(s)) // 2) * w_t)
    embed = torch.stack(embeds, dim=2)             # (k, p, m)
    unembed = torch.stack(unembeds, dim=0)         # (m, p)
    embed, unembed = rebalance(embed, unembed, k)
    return PolyNet.from_weights(embed.to(dtype), unembed.to(dtype), "poly", k)


def rebalance(embed: torch.Tensor, unembed: torch.Tensor, degree: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rescale each neuron u → t·u, w → w/t^d (f unchanged) so that the RMS input-embedding norm equals ‖w‖.

    With ‖u_j‖ all equal this is ‖u_j‖ = ‖w‖, which minimizes ‖θ_i‖ at fixed output.
    """
    k = embed.shape[0]
    u_norm = (embed.pow(2).sum(dim=(0, 1)) / k).sqrt()   # (m,)
    w_norm = unembed.pow(2).sum(dim=1).sqrt()             # (m,)
    t = (w_norm / u_norm).pow(1.0 / (degree + 1))
    return embed * t, unembed / t[:, None] ** degree
