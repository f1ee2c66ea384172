"""The binomial pass: polynomial activation z^d on the whole population, by the binomial expansion.

With z = P[a] + S[s] (prefix a = the first L = ⌊k/2⌋ inputs, suffix s the rest; `tables.population_tables`),
    f[a, s, c] = Σ_i (P_ai + S_si)^d w_ic = Σ_{r=0..d} C(d,r) Σ_i P_ai^r S_si^{d−r} w_ic.
The r = d and r = 0 terms are the small products (P^d w)[a, c] and (S^d w)[s, c]; the d − 1 middle terms
are ONE matmul  K[(a,c), (r,i)] = P_ai^r w_ic  times  B[s, (r,i)] = C(d,r) S_si^{d−r}  (r = 1..d−1), and so
are the two backward contractions. No (N, m) activation is formed: the matmuls do (d − 1) times the FLOPs
of a dense pass, but as large square-ish products that run near the machine's peak.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Iterator

import torch

from fourier_circuits.models.passes.tables import accumulate_grads, add_table_grad, population_tables

if TYPE_CHECKING:
    from fourier_circuits.models.polynet import PolyNet


def applies(net: PolyNet, budget_rows: int) -> bool:
    """Use the binomial pass? It saves the elementwise work on (N, m) activations, a factor
    n_suffix / p, for (d − 1)× the matmul FLOPs: measured on 2 CPU cores it pays when
    n_suffix ≥ 3(d − 1)·p (so k ≥ 3) and the population is not tiny (p^k·m ≥ 2^20). For k = 2 the prefix
    side has N rows: nothing saved. (Its blocks adapt to any budget_rows.)"""
    if net.activation != "poly" or net.degree < 2:
        return False
    n_suffix = net.vocab_size ** (net.n_inputs - _split(net))
    return (n_suffix >= 3 * (net.degree - 1) * net.n_classes
            and net.vocab_size ** net.n_inputs * net.width >= 1 << 20)


def _split(net: PolyNet) -> int:
    """L = ⌊k/2⌋ prefix inputs (at least 1)."""
    return max(1, net.n_inputs // 2)


def _tables(net: PolyNet) -> tuple[int, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(L, P (p^L, m), S (p^{k−L}, m), B (p^{k−L}, (d−1)m) with B[s, (r,i)] = C(d,r) S_si^{d−r})."""
    split = _split(net)
    prefix, suffix = population_tables(net, split)
    d = net.degree
    B = torch.cat([math.comb(d, r) * suffix ** (d - r) for r in range(1, d)], dim=1)
    return split, prefix, suffix, B


def _prefix_powers(net: PolyNet, prefix: torch.Tensor) -> torch.Tensor:
    """(b, d, m): P^r for r = 0..d−1."""
    return torch.stack([prefix ** r for r in range(net.degree)], dim=1)


def _prefix_products(net: PolyNet, powers: torch.Tensor) -> torch.Tensor:
    """K[(a,c), (r,i)] = P_ai^r w_ic from powers (b, d−1, m): shape (b·p, (d−1)m)."""
    return (powers[:, None] * net.unembed.T[None, :, None]).flatten(2).flatten(0, 1)


def _prefix_blocks(net: PolyNet, n_prefix: int, n_suffix: int, budget_rows: int) -> Iterator[slice]:
    """Slices of prefixes whose K block and (b, p, n_suffix) products fit the budget of (rows, m) x3."""
    per_prefix = net.n_classes * ((net.degree - 1) * net.width + 2 * n_suffix)
    block = max(1, min(n_prefix, budget_rows * net.width * 3 // per_prefix))
    for start in range(0, n_prefix, block):
        yield slice(start, min(start + block, n_prefix))


def logits(net: PolyNet, x: None, budget_rows: int) -> torch.Tensor:
    """f[a, s, c] = (P^d w)[a, c] + (S^d w)[s, c] + (K B^T)[(a,c), s], prefix block by prefix block."""
    p, d, w = net.n_classes, net.degree, net.unembed
    _, prefix, suffix, B = _tables(net)
    n_prefix, n_suffix = prefix.shape[0], suffix.shape[0]
    edge_s = suffix**d @ w                                               # r = 0: (S^d w)[s, c]
    edge_p = prefix**d @ w                                               # r = d: (P^d w)[a, c]
    out = torch.empty(n_prefix, n_suffix, p, dtype=w.dtype, device=w.device)
    for blk in _prefix_blocks(net, n_prefix, n_suffix, budget_rows):
        powers = _prefix_powers(net, prefix[blk])[:, 1:]                 # P^r, r = 1..d−1
        middle = (_prefix_products(net, powers) @ B.T).view(-1, p, n_suffix).transpose(1, 2)  # (b, n_suffix, p)
        torch.add(middle, edge_s, out=out[blk]).add_(edge_p[blk, None, :])
    return out.view(-1, p)


def backward(net: PolyNet, x: None, grad_logits: torch.Tensor, budget_rows: int) -> None:
    """∂L/∂w, ∂L/∂P, ∂L/∂S of f above for G = ∂L/∂f, then routed to the embeddings u_j."""
    p, d, m, w = net.n_classes, net.degree, net.width, net.unembed
    split, prefix, suffix, B = _tables(net)
    n_prefix, n_suffix = prefix.shape[0], suffix.shape[0]
    G = grad_logits.view(n_prefix, n_suffix, p)
    G_over_s, G_over_a = G.sum(1), G.sum(0)                              # (n_prefix, p), (n_suffix, p)
    # edges: r = d (P^d w) and r = 0 (S^d w)
    g_w = prefix.pow(d).T @ G_over_s + suffix.pow(d).T @ G_over_a
    g_prefix = d * prefix.pow(d - 1) * (G_over_s @ w.T)
    g_suffix = d * suffix.pow(d - 1) * (G_over_a @ w.T)
    J = torch.zeros(n_suffix, (d - 1) * m, dtype=w.dtype, device=w.device)  # Σ_(a,c) G P_ai^r w_ic
    ranks = torch.arange(1, d, dtype=w.dtype, device=w.device)[None, :, None]   # r = 1..d−1
    for blk in _prefix_blocks(net, n_prefix, n_suffix, budget_rows):
        Gt = G[blk].transpose(1, 2).reshape(-1, n_suffix)                # (b·p, n_suffix), rows (a, c)
        H = (Gt @ B).view(-1, p, d - 1, m)                               # C(d,r) Σ_s G[a,s,c] S_si^{d−r}
        all_powers = _prefix_powers(net, prefix[blk])                    # P^r, r = 0..d−1
        powers = all_powers[:, 1:]                                       # r = 1..d−1
        g_w += (H * powers[:, None]).sum(dim=(0, 2)).T                   # Σ_(a,r) P_ai^r H[(a,c), (r,i)]
        Q = (H * w.T[None, :, None]).sum(dim=1)                          # Σ_c w_ic H[(a,c), (r,i)]
        g_prefix[blk] += (ranks * all_powers[:, :-1] * Q).sum(1)         # Σ_r r P^{r−1} Q_r
        J += Gt.T @ _prefix_products(net, powers)
    for r in range(1, d):   # ∂/∂S of C(d,r) P^r S^{d−r} w: (d − r) C(d,r) S^{d−r−1} · J_r
        g_suffix += (d - r) * math.comb(d, r) * suffix.pow(d - r - 1) * J[:, (r - 1) * m:r * m]
    g_embed = torch.zeros_like(net.embed)
    add_table_grad(net, g_embed, g_prefix, range(split))
    add_table_grad(net, g_embed, g_suffix, range(split, net.n_inputs))
    accumulate_grads(net, g_embed, g_w)
