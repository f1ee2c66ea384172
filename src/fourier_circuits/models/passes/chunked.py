"""The chunked pass: any activation σ, any batch x (N, k), or the whole population (x = None).

Per chunk of rows, z[n, i] = Σ_j u_{i,j}[x[n, j]] is formed in a reused (rows, m) buffer, then
    forward:   f = σ(z) W
    backward:  ∂L/∂W += σ(z)^T g,   ∂L/∂z = σ'(z) ⊙ (g W^T),   ∂L/∂u_j[a] += Σ_{n: x[n, j] = a} ∂L/∂z[n]
with g = ∂L/∂f of the chunk's rows. Activations are recomputed chunk by chunk, so memory stays O(rows·m)
whatever the batch size.

For a batch, z is a gather (embedding_bag). For the whole population Z_p^k in lexicographic order, a chunk
is a block of prefixes (a_1..a_L) times all suffixes: z = P[prefix] + S[suffix] with the sum tables P, S of
`tables.population_tables` broadcast, no gathers, and the embedding gradients are sums of ∂L/∂z over the
other axis.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

import torch
from torch import nn

from fourier_circuits.models.passes.tables import accumulate_grads, add_table_grad, population_tables

if TYPE_CHECKING:
    from fourier_circuits.models.polynet import PolyNet

CACHE_ROWS = 2048  # rows per chunk: keeps (rows, m) activations in cache



def applies(net: PolyNet, budget_rows: int) -> bool:
    """Always: the chunked pass is the fallback for every activation and batch."""
    return True


def population_split(net: PolyNet, budget_rows: int) -> int:
    """Smallest prefix length L ≥ 1 whose suffix table fits in budget_rows rows."""
    for split in range(1, net.n_inputs):
        if net.vocab_size ** (net.n_inputs - split) <= budget_rows:
            return split
    return net.n_inputs - 1


def _gather_preactivation(net: PolyNet, x: torch.Tensor) -> torch.Tensor:
    """z[n] = Σ_j u_j[x[n, j]]: one embedding_bag over the flattened (k·p, m) embedding."""
    offsets = torch.arange(net.n_inputs, device=x.device) * net.vocab_size
    return nn.functional.embedding_bag(x + offsets, net.embed.reshape(-1, net.width), mode="sum")


def _chunks(net: PolyNet, x: torch.Tensor | None, budget_rows: int) -> Iterator[tuple[slice, torch.Tensor, tuple]]:
    """Yield (row slice, z, route) over the batch; the route says how to send ∂L/∂z back to u:
    ("gather", the chunk's x rows) or ("population", L, first prefix, end prefix, n_suffix).

    z lives in one reused buffer: fresh multi-MB tensors per chunk cost more in page faults than the math.
    """
    with torch.no_grad():
        if x is None:  # whole population
            split = population_split(net, budget_rows)
            prefix, suffix = population_tables(net, split)
            n_suffix = suffix.shape[0]
            block = max(1, min(CACHE_ROWS, budget_rows) // n_suffix)
            buf = prefix.new_empty(block, n_suffix, net.width)
            for start in range(0, prefix.shape[0], block):
                stop = min(start + block, prefix.shape[0])
                z = torch.add(prefix[start:stop, None, :], suffix[None, :, :], out=buf[:stop - start])
                yield (slice(start * n_suffix, stop * n_suffix), z.view(-1, net.width),
                       ("population", split, start, stop, n_suffix))
        else:
            rows = max(1, min(CACHE_ROWS, budget_rows))
            for start in range(0, x.shape[0], rows):
                xs = x[start:start + rows]
                yield slice(start, start + xs.shape[0]), _gather_preactivation(net, xs), ("gather", xs)


def _power(z: torch.Tensor, exponent: int, out: torch.Tensor) -> torch.Tensor:
    """z^exponent (exponent ≥ 1) by repeated in-place multiplication into `out`."""
    out = out[: z.shape[0]]
    if exponent == 1:
        return out.copy_(z)
    torch.mul(z, z, out=out)
    for _ in range(exponent - 2):
        out.mul_(z)
    return out


def logits(net: PolyNet, x: torch.Tensor | None, budget_rows: int) -> torch.Tensor:
    """f = σ(z) W chunk by chunk, into one (N, classes) output."""
    n = net.vocab_size**net.n_inputs if x is None else x.shape[0]
    out = torch.empty(n, net.n_classes, dtype=net.embed.dtype, device=net.embed.device)
    hbuf = None
    for rows, z, _ in _chunks(net, x, budget_rows):
        hbuf = torch.empty_like(z) if hbuf is None else hbuf
        h = torch.clamp(z, min=0, out=hbuf[: z.shape[0]]) if net.activation == "relu" else \
            _power(z, net.degree, hbuf)
        torch.mm(h, net.unembed, out=out[rows])
    return out


def backward(net: PolyNet, x: torch.Tensor | None, grad_logits: torch.Tensor, budget_rows: int) -> None:
    """Per chunk: ∂L/∂W += σ(z)^T g,  ∂L/∂z = σ'(z) ⊙ (g W^T), routed to the embeddings. For z^d the
    factor d of σ'(z) = d z^{d−1} is applied once at the end (the embedding gradient is linear in it)."""
    g_embed = torch.zeros_like(net.embed)
    g_unembed = torch.zeros_like(net.unembed)
    g_suffix, bufs = None, None
    relu = net.activation == "relu"
    for rows, z, route in _chunks(net, x, budget_rows):
        n = z.shape[0]
        bufs = [torch.empty_like(z) for _ in range(3)] if bufs is None else bufs
        g = grad_logits[rows]
        if relu:
            h = torch.clamp(z, min=0, out=bufs[0][:n])
            gz = torch.mm(g, net.unembed.T, out=bufs[2][:n]).masked_fill_(z <= 0, 0.0)
        else:
            zd1 = z if net.degree == 2 else _power(z, net.degree - 1, bufs[0])  # z^{d−1}
            h = torch.mul(zd1, z, out=bufs[1][:n]) if net.degree > 1 else z
            gz = torch.mm(g, net.unembed.T, out=bufs[2][:n])
            if net.degree > 1:
                gz.mul_(zd1)
        g_unembed.addmm_(h.T, g)
        if route[0] == "gather":
            flat = g_embed.view(-1, net.width)
            for j in range(net.n_inputs):
                flat.index_add_(0, route[1][:, j] + j * net.vocab_size, gz)
        else:
            _, split, start, stop, n_suffix = route
            gz = gz.view(stop - start, n_suffix, net.width)
            g_prefix = gz.sum(dim=1)                            # (block, m)
            g_suffix = gz.sum(dim=0) if g_suffix is None else g_suffix.add_(gz.sum(dim=0))
            prefixes = torch.arange(start, stop, device=z.device)
            for j in range(split):                               # digit j of each prefix index
                digit = (prefixes // net.vocab_size ** (split - 1 - j)) % net.vocab_size
                g_embed[j].index_add_(0, digit, g_prefix)
    if g_suffix is not None:                                     # S was shared by every block: route it once
        add_table_grad(net, g_embed, g_suffix, range(split, net.n_inputs))
    if not relu and net.degree > 1:
        g_embed.mul_(net.degree)
    accumulate_grads(net, g_embed, g_unembed)
