"""Sparse parity theory (docs/theory.md §4, §6): [MO] Theorem 8 and the explicit max-margin parity net.

(n,k) sparse parity [MO Thm 8], parity net (u·x)^k w, ν = k+1, m ≥ 2^{k−1}:
    γ* = k! · sqrt(2 (k+1)^{−(k+1)})            (independent of n).
"""
from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING

from fourier_circuits.errors import TaskError

if TYPE_CHECKING:  # torch is imported where a network is built: the formulas answer without it
    import torch

    from fourier_circuits.models.parity import ParityNet


def choose_support(n: int, k: int, seed: int = 0) -> tuple[int, ...]:
    """A seeded random k-subset S of {0..n−1}, sorted (the hidden support of `SparseParity(n, k, seed=seed)`)."""
    import torch
    gen = torch.Generator().manual_seed(seed)
    return tuple(sorted(int(j) for j in torch.randperm(n, generator=gen)[:k]))


def _check_parity(n: int, k: int) -> None:
    for name, v in (("n", n), ("k", k)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise TaskError(f"{name} must be an integer >= 1, got {name}={v!r}")
    if k > n:
        raise TaskError(f"k must be <= n, got k={k} > n={n}")


def gamma_star_parity(n: int, k: int) -> float:
    """The maximum normalized margin of (n, k) sparse parity ([MO] Theorem 8, docs/theory.md §4).

    γ* = k! · sqrt(2 (k+1)^{−(k+1)}) for the parity net (u·x)^k w with ν = k+1, attained by any width
    m ≥ 2^{k−1}; it does not depend on n.

    Args:
        n: The number of ±1 input bits, n ≥ 1.
        k: The size of the hidden support S, 1 ≤ k ≤ n.

    Returns:
        γ* as a float (e.g. 4!·sqrt(2·5^{−5}) ≈ 0.6072 for k = 4).

    Raises:
        TaskError: If n or k is not a positive integer, or k > n.
    """
    _check_parity(n, k)
    return math.factorial(k) * math.sqrt(2.0 * (k + 1) ** (-(k + 1)))


def min_width_parity(n: int, k: int) -> int:
    """2^{k−1}: the width of the explicit construction."""
    _check_parity(n, k)
    return 2 ** (k - 1)


def theory_parity(n: int, k: int) -> dict:
    """Everything the theory says about (n, k) sparse parity, as `fourier-circuits theory --task parity` prints it.

    Args:
        n: The number of ±1 input bits, n ≥ 1.
        k: The size of the hidden support S, 1 ≤ k ≤ n.

    Returns:
        A dict with keys `task` ("parity"), `n`, `k`, `gamma_star` (`gamma_star_parity(n, k)`), `min_width`
        (2^{k−1}, the width of `construct_parity`), `nu` (k + 1), `applies` (always True: [MO] Theorem 8 has
        no further condition) and `reason` (None).

    Raises:
        TaskError: If n or k is not a positive integer, or k > n.
    """
    return {"task": "parity", "n": n, "k": k, "gamma_star": gamma_star_parity(n, k),
            "min_width": min_width_parity(n, k), "nu": k + 1, "applies": True, "reason": None}


def construct_parity(n: int, k: int, support=None, dtype: torch.dtype | None = None) -> ParityNet:
    """The max-margin parity net of docs/theory.md §6 with m = 2^{k−1} neurons.

    For each c ∈ {±1}^k with c_1 = +1: u = c on S (0 elsewhere), w = (Π_j c_j)/sqrt(2) · [1, −1]. From
        Σ_{c∈{±1}^k} (Π_j c_j)(Σ_j c_j x_j)^k = 2^k k! Π_j x_j   (c and −c give the same term)
    the logits are f(x) = 2^{k−1} k!/sqrt(2) · χ_S(x) · [1, −1]: margin 2^k k!/sqrt(2) on every point.
    Each neuron has |u_j| = ‖w‖ = 1 on S, which is already the balanced scaling (min of k t² + t^{−2k}
    at t = 1), so ‖θ_i‖^{k+1} = (k+1)^{(k+1)/2} and the normalized margin is exactly γ*; no rebalancing.

    Args:
        n: The number of ±1 input bits, n ≥ 1.
        k: The size of the hidden support S, 1 ≤ k ≤ n.
        support: The hidden set S, k distinct indices in 0..n−1 (default: `choose_support(n, k, 0)`, the support
            of `SparseParity(n, k)`).
        dtype: The torch dtype of the weights (default float64).

    Returns:
        A `ParityNet` of width 2^{k−1} whose normalized margin on the 2^n inputs equals `gamma_star_parity(n, k)`.

    Raises:
        TaskError: If n or k is not a positive integer, k > n, or `support` is not k distinct indices in 0..n−1.
    """
    import torch

    from fourier_circuits.models.parity import ParityNet
    dtype = torch.float64 if dtype is None else dtype
    _check_parity(n, k)
    support = choose_support(n, k, 0) if support is None else tuple(int(j) for j in support)
    if len(set(support)) != k or any(not 0 <= j < n for j in support):
        raise TaskError(f"support must be {k} distinct indices in 0..{n - 1}, got {support}")
    signs = torch.tensor([c for c in itertools.product((1.0, -1.0), repeat=k) if c[0] == 1.0],
                         dtype=torch.float64)                       # (2^{k−1}, k)
    u = torch.zeros(len(signs), n, dtype=torch.float64)
    u[:, list(support)] = signs
    w = signs.prod(dim=1)[:, None] / math.sqrt(2.0) * torch.tensor([1.0, -1.0], dtype=torch.float64)
    return ParityNet.from_weights(u.to(dtype), w.to(dtype), k)
