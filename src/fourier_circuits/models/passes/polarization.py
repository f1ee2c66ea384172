"""The polarization pass: z^k on the whole population, d = k, by the polarization identity

    (x_1 + .. + x_k)^k = k!·x_1⋯x_k − Σ_{∅≠S⊊[k]} (−1)^{k−|S|} (Σ_{j∈S} x_j)^k,

which splits f into one multilinear term and 2^k − 2 terms that each ignore at least one input:
    f[a, c] = k!·T[a, c] + Σ_S ε_S g_S[a_S, c],        ε_S = (−1)^{k−|S|+1},
    T[a, c] = Σ_i Π_j u_ij[a_j] w_ic,                 g_S[a_S, c] = Σ_i (Σ_{j∈S} u_ij[a_j])^k w_ic.
T is ONE matmul: X[(a_1..a_L), i] = Π_{j≤L} u_ij[a_j] times Y[(a_{L+1}..a_k, c), i] = Π_{j>L} u_ij[a_j] w_ic,
and its (p^L, p^{k−L+1}) result is already f's lexicographic (a, c) layout; the backward is two more.
These are exactly the dense pass's matmul FLOPs, on (p^L, m) and (p^{k−L+1}, m) operands, with no (N, m)
activation. The g_S are small dense nets on p^|S| rows: together Σ_S p^|S| ≈ k/p of the population.
"""
from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING, Iterator

import torch

from fourier_circuits.models.passes.tables import accumulate_grads, add_table_grad, table

if TYPE_CHECKING:
    from fourier_circuits.models.polynet import PolyNet


def applies(net: PolyNet, budget_rows: int) -> bool:
    """Use the polarization pass? Needs z^k with d = k. Measured on 2 CPU cores it pays for k ≥ 3 when
    the g_S rows Σ_S p^|S| are at most a fifth of the p^k population rows (k = 3: p ≥ 17); for k = 2 the
    Y operand has p^2 = N rows and the chunked pass is faster. Its largest tables, Y (p^{k−L+1} rows) and
    the g_S with |S| = k − 1, must fit the memory budget."""
    k, p = net.n_inputs, net.vocab_size
    if net.activation != "poly" or net.degree != k or k < 3:
        return False
    if p ** max(k - (k + 1) // 2 + 1, k - 1) > budget_rows:
        return False
    return 5 * sum(math.comb(k, size) * p**size for size in range(1, k)) <= p**k


def _tables(net: PolyNet) -> tuple[int, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(L, k!·X (p^L, m), X_B = Π_{j>L} u_j[a_j] (p^{k−L}, m), Y (p^{k−L}·p, m)) with L = ⌈k/2⌉."""
    k, L = net.n_inputs, (net.n_inputs + 1) // 2
    X = table(net, range(L), product=True) * math.factorial(k)
    X_B = table(net, range(L, k), product=True)
    Y = (X_B[:, None, :] * net.unembed.T[None, :, :]).reshape(-1, net.width)
    return L, X, X_B, Y


def _side_terms(net: PolyNet) -> Iterator[tuple[tuple[int, ...], int]]:
    """(S, ε_S) for the proper non-empty subsets S of the inputs."""
    k = net.n_inputs
    for size in range(1, k):
        for S in itertools.combinations(range(k), size):
            yield S, (-1) ** (k - size + 1)


def logits(net: PolyNet, x: None, budget_rows: int) -> torch.Tensor:
    """f = k!·X Y^T, plus each ε_S g_S broadcast over the inputs S ignores."""
    k, p, w = net.n_inputs, net.vocab_size, net.unembed
    _, X, _, Y = _tables(net)
    out = X @ Y.T                                                          # k!·T, (p^L, p^{k−L}·p)
    full = out.view(*([p] * k), net.n_classes)
    # fold each ε_S g_S into the table of the first input S ignores, then k broadcast adds
    acc = [torch.zeros(*(1 if a == j else p for a in range(k)), net.n_classes, dtype=w.dtype,
                       device=w.device) for j in range(k)]
    for S, eps in _side_terms(net):
        g = (table(net, S).pow(k) @ w).mul_(eps)
        acc[min(set(range(k)) - set(S))] += g.view(*(p if a in S else 1 for a in range(k)), net.n_classes)
    for a in acc:
        full += a
    return out.view(-1, net.n_classes)


def backward(net: PolyNet, x: None, grad_logits: torch.Tensor, budget_rows: int) -> None:
    """∂L/∂θ of f above for G = ∂L/∂f: two matmuls for T, and the small dense backward of each g_S on
    the marginal G_S[a_S, c] = Σ_{a_j, j ∉ S} G[a, c]."""
    k, p, m, w = net.n_inputs, net.vocab_size, net.width, net.unembed
    L, X, X_B, Y = _tables(net)
    Gm = grad_logits.view(p**L, -1)                                        # rows a_1..a_L, cols (a_{L+1}.., c)
    g_embed, g_w = torch.zeros_like(net.embed), torch.zeros_like(w)
    add_table_grad(net, g_embed, (Gm @ Y).mul_(math.factorial(k)), range(L), product=True)
    dY = (Gm.T @ X).view(-1, net.n_classes, m)                             # ∂L/∂Y
    g_w += (dY * X_B[:, None, :]).sum(0).T
    add_table_grad(net, g_embed, (dY * w.T[None, :, :]).sum(1), range(L, k), product=True)
    marginals = {tuple(range(k)): grad_logits.view(*([p] * k), net.n_classes)}

    def marginal(S: tuple[int, ...]) -> torch.Tensor:                    # G summed over the inputs ∉ S
        if S not in marginals:
            j = min(set(range(k)) - set(S))
            parent = tuple(sorted(S + (j,)))
            marginals[S] = marginal(parent).sum(dim=parent.index(j))
        return marginals[S]

    for S, eps in _side_terms(net):
        z, G_S = table(net, S), marginal(S).reshape(-1, net.n_classes)
        zk1 = z.pow(k - 1)
        g_w.addmm_((zk1 * z).T, G_S, alpha=eps)
        add_table_grad(net, g_embed, (G_S @ w.T).mul_(zk1).mul_(eps * k), S)
    accumulate_grads(net, g_embed, g_w)
