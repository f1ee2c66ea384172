"""Embedding tables over the values of some inputs, and the routing of their gradients to u.

For inputs J = (j_1, .., j_n), the table over their p^n values (rows lexicographic in (a_{j_1}, .., a_{j_n})):
    T[(a_j)_{j∈J}] = Σ_{j∈J} u_j[a_j]   (sum table)     or     Π_{j∈J} u_j[a_j]   (product table),   (p^n, m)
with u_j[a] = embed[j, a] ∈ R^m.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import torch

if TYPE_CHECKING:
    from fourier_circuits.models.polynet import PolyNet


def table(net: PolyNet, inputs: Sequence[int], product: bool = False) -> torch.Tensor:
    """(p^|inputs|, m) table over the values of `inputs` (rows lexicographic): Σ_j u_j[a_j], or Π_j."""
    out = net.embed[inputs[0]]
    for j in inputs[1:]:
        e = net.embed[j][None, :, :]
        out = (out[:, None, :] * e if product else out[:, None, :] + e).reshape(-1, net.width)
    return out


def population_tables(net: PolyNet, split: int) -> tuple[torch.Tensor, torch.Tensor]:
    """P[(a_1..a_L)] = Σ_{j<L} u_j[a_j] (p^L, m) and S[(a_{L+1}..a_k)] (p^{k−L}, m), lexicographic."""
    return table(net, range(split)), table(net, range(split, net.n_inputs))


def add_table_grad(net: PolyNet, g_embed: torch.Tensor, g_table: torch.Tensor, inputs: Sequence[int],
                   product: bool = False) -> None:
    """Route ∂L/∂T of a table T[(a_j)_{j ∈ inputs}] = Σ_j u_j[a_j] (or Π_j u_j[a_j] with `product`;
    lexicographic rows) to those u_j: ∂u_j = Σ_{other inputs} ∂L/∂T (⊙ Π_{j' ≠ j} u_j' for a product)."""
    n, p = len(inputs), net.vocab_size
    g_table = g_table.view(*([p] * n), net.width)
    for axis, j in enumerate(inputs):
        others = tuple(a for a in range(n) if a != axis)
        g = g_table
        if product and others:
            rest = table(net, [inputs[a] for a in others], product=True)
            g = g * rest.view(*([p] * axis), 1, *([p] * (n - 1 - axis)), net.width)
        g_embed[j] += g.sum(dim=others) if others else g


def accumulate_grads(net: PolyNet, g_embed: torch.Tensor, g_unembed: torch.Tensor) -> None:
    """.grad += (∂L/∂u, ∂L/∂w), or .grad = them where there is none yet."""
    for param, grad in ((net.embed, g_embed), (net.unembed, g_unembed)):
        param.grad = grad if param.grad is None else param.grad.add_(grad)
