"""One-hidden-layer networks of THEORY.md §2 (no biases, homogeneous).

Polynomial net [LI eq. 2]:  f(θ, a)[c] = Σ_{i=1..m} (u_{i,1}[a_1] + .. + u_{i,k}[a_k])^d · w_i[c]
with k untied input embeddings per neuron and activation z^d (d = k by default). θ_i = (u_{i,1..k}, w_i)
is neuron i's parameter block and f(αθ) = α^ν f(θ) with homogeneity degree ν = d + 1.
The ReLU baseline [MO Fig 1a] replaces z^d by max(z, 0); then ν = 2.

Storage: `embed[j, a, i]` = u_{i,j}[a]  (shape (k, vocab, m)),  `unembed[i, c]` = w_i[c]  (shape (m, classes)).
"""
from __future__ import annotations

import itertools
import math
from typing import Sequence

import torch
from torch import nn

CACHE_ROWS = 2048  # rows per chunk in the fused passes: keeps (rows, m) activations in cache


class PolyNet(nn.Module):
    """Sum of m neurons σ(Σ_j u_{i,j}[a_j]) w_i with σ(z) = z^d ("poly") or max(z, 0) ("relu")."""

    def __init__(
        self,
        vocab_size: int,
        n_inputs: int,
        width: int,
        n_classes: int,
        activation: str = "poly",
        degree: int | None = None,
        init_scale: float = 1.0,
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"width must be >= 1, got width={width}")
        if activation not in ("poly", "relu"):
            raise ValueError(f"activation must be 'poly' or 'relu', got {activation!r}")
        self.vocab_size, self.n_inputs, self.width, self.n_classes = vocab_size, n_inputs, width, n_classes
        self.activation = activation
        self.degree = (degree or n_inputs) if activation == "poly" else 1
        if self.degree < 1:
            raise ValueError(f"degree must be >= 1, got degree={self.degree}")
        # Init: i.i.d. Gaussian, std init_scale/sqrt(vocab) for u and init_scale/sqrt(m) for w.
        gen = torch.Generator().manual_seed(seed)
        embed = torch.randn(n_inputs, vocab_size, width, generator=gen, dtype=torch.float64)
        unembed = torch.randn(width, n_classes, generator=gen, dtype=torch.float64)
        self.embed = nn.Parameter((embed * init_scale / vocab_size**0.5).to(dtype=dtype, device=device))
        self.unembed = nn.Parameter((unembed * init_scale / width**0.5).to(dtype=dtype, device=device))

    @property
    def nu(self) -> int:
        """Homogeneity degree ν: f(αθ) = α^ν f(θ)."""
        return self.degree + 1

    def forward_with(self, embed: torch.Tensor, unembed: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Logits of this architecture with the given weights (e.g. a float64 copy), shape (N, classes)."""
        z = embed[0][x[:, 0]]  # z[n, i] = Σ_j u_{i,j}[x[n, j]]
        for j in range(1, self.n_inputs):
            z = z + embed[j][x[:, j]]
        hidden = torch.relu(z) if self.activation == "relu" else z**self.degree
        return hidden @ unembed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits f(θ, x), shape (N, classes)."""
        return self.forward_with(self.embed, self.unembed, x)

    # ------------------------------------------------------------------------------------------------
    # Fused, chunked passes used by training. `logits(x)` needs no autograd graph; `backward_from_logits`
    # adds ∂L/∂θ = Σ_x J_f(x)^T ∂L/∂f(x) to .grad given ∂L/∂f. Activations are recomputed chunk by chunk,
    # so memory stays O(rows·m) whatever the population size.
    # When x is the whole population Z_p^k in lexicographic order (`population=True`), a chunk is a block
    # of prefixes (a_1..a_L) times all suffixes, z = P[prefix] + S[suffix] with P, S broadcast sums of the
    # embeddings: no gathers, and the embedding gradients are sums of ∂L/∂z over the other axes.

    def _gather_preactivation(self, x: torch.Tensor) -> torch.Tensor:
        offsets = torch.arange(self.n_inputs, device=x.device) * self.vocab_size
        return nn.functional.embedding_bag(x + offsets, self.embed.reshape(-1, self.width), mode="sum")

    def _table(self, inputs: Sequence[int], product: bool = False) -> torch.Tensor:
        """(p^|inputs|, m) table over the values of `inputs` (rows lexicographic): Σ_j u_j[a_j], or Π_j."""
        out = self.embed[inputs[0]]
        for j in inputs[1:]:
            e = self.embed[j][None, :, :]
            out = (out[:, None, :] * e if product else out[:, None, :] + e).reshape(-1, self.width)
        return out

    def _population_tables(self, split: int) -> tuple[torch.Tensor, torch.Tensor]:
        """P[(a_1..a_L)] = Σ_{j<L} u_j[a_j] (p^L, m) and S[(a_{L+1}..a_k)] (p^{k−L}, m), lexicographic."""
        return self._table(range(split)), self._table(range(split, self.n_inputs))

    def _population_split(self, budget_rows: int) -> int:
        """Smallest prefix length L ≥ 1 whose suffix table fits in budget_rows rows."""
        for split in range(1, self.n_inputs):
            if self.vocab_size ** (self.n_inputs - split) <= budget_rows:
                return split
        return self.n_inputs - 1

    def _chunks(self, x: torch.Tensor | None, budget_rows: int):
        """Yield (row slice, z, context) over the batch; context says how to route ∂L/∂z back.

        z lives in one reused buffer: fresh multi-MB tensors per chunk cost more in page faults than the math.
        """
        with torch.no_grad():
            if x is None:  # whole population
                split = self._population_split(budget_rows)
                prefix, suffix = self._population_tables(split)
                n_suffix = suffix.shape[0]
                block = max(1, min(CACHE_ROWS, budget_rows) // n_suffix)
                buf = prefix.new_empty(block, n_suffix, self.width)
                for start in range(0, prefix.shape[0], block):
                    stop = min(start + block, prefix.shape[0])
                    z = torch.add(prefix[start:stop, None, :], suffix[None, :, :], out=buf[:stop - start])
                    yield (slice(start * n_suffix, stop * n_suffix), z.view(-1, self.width),
                           ("population", split, start, stop, n_suffix))
            else:
                rows = max(1, min(CACHE_ROWS, budget_rows))
                for start in range(0, x.shape[0], rows):
                    xs = x[start:start + rows]
                    yield slice(start, start + xs.shape[0]), self._gather_preactivation(xs), ("gather", xs)

    def _power(self, z: torch.Tensor, exponent: int, out: torch.Tensor) -> torch.Tensor:
        """z^exponent (exponent ≥ 1) by repeated in-place multiplication into `out`."""
        out = out[: z.shape[0]]
        if exponent == 1:
            return out.copy_(z)
        torch.mul(z, z, out=out)
        for _ in range(exponent - 2):
            out.mul_(z)
        return out

    @torch.no_grad()
    def logits(self, x: torch.Tensor | None, budget_rows: int = 1 << 20) -> torch.Tensor:
        """f(θ, x) for a batch x (N, k), or for the whole population if x is None; no graph."""
        kind = self.population_pass(budget_rows) if x is None else "chunked"
        if kind != "chunked":
            return getattr(self, f"_{kind}_logits")(budget_rows)
        n = self.vocab_size**self.n_inputs if x is None else x.shape[0]
        out = torch.empty(n, self.n_classes, dtype=self.embed.dtype, device=self.embed.device)
        hbuf = None
        for rows, z, _ in self._chunks(x, budget_rows):
            hbuf = torch.empty_like(z) if hbuf is None else hbuf
            h = torch.clamp(z, min=0, out=hbuf[: z.shape[0]]) if self.activation == "relu" else \
                self._power(z, self.degree, hbuf)
            torch.mm(h, self.unembed, out=out[rows])
        return out

    @torch.no_grad()
    def backward_from_logits(self, x: torch.Tensor | None, grad_logits: torch.Tensor,
                             budget_rows: int = 1 << 20) -> None:
        """Accumulate into .grad the gradient of a loss whose gradient w.r.t. f(θ, x) is grad_logits.

        Per chunk: ∂L/∂W += σ(z)^T g,  ∂L/∂z = σ'(z) ⊙ (g W^T), routed to the embeddings. For z^d the
        factor d of σ'(z) = d z^{d−1} is applied once at the end (the embedding gradient is linear in it).
        """
        kind = self.population_pass(budget_rows) if x is None else "chunked"
        if kind != "chunked":
            return getattr(self, f"_{kind}_backward")(grad_logits, budget_rows)
        g_embed = torch.zeros_like(self.embed)
        g_unembed = torch.zeros_like(self.unembed)
        g_suffix, bufs = None, None
        relu = self.activation == "relu"
        for rows, z, ctx in self._chunks(x, budget_rows):
            n = z.shape[0]
            bufs = [torch.empty_like(z) for _ in range(3)] if bufs is None else bufs
            g = grad_logits[rows]
            if relu:
                h = torch.clamp(z, min=0, out=bufs[0][:n])
                gz = torch.mm(g, self.unembed.T, out=bufs[2][:n]).masked_fill_(z <= 0, 0.0)
            else:
                zd1 = z if self.degree == 2 else self._power(z, self.degree - 1, bufs[0])  # z^{d−1}
                h = torch.mul(zd1, z, out=bufs[1][:n]) if self.degree > 1 else z
                gz = torch.mm(g, self.unembed.T, out=bufs[2][:n])
                if self.degree > 1:
                    gz.mul_(zd1)
            g_unembed.addmm_(h.T, g)
            if ctx[0] == "gather":
                flat = g_embed.view(-1, self.width)
                for j in range(self.n_inputs):
                    flat.index_add_(0, ctx[1][:, j] + j * self.vocab_size, gz)
            else:
                _, split, start, stop, n_suffix = ctx
                gz = gz.view(stop - start, n_suffix, self.width)
                g_prefix = gz.sum(dim=1)                            # (block, m)
                g_suffix = gz.sum(dim=0) if g_suffix is None else g_suffix.add_(gz.sum(dim=0))
                prefixes = torch.arange(start, stop, device=z.device)
                for j in range(split):                               # digit j of each prefix index
                    digit = (prefixes // self.vocab_size ** (split - 1 - j)) % self.vocab_size
                    g_embed[j].index_add_(0, digit, g_prefix)
        if g_suffix is not None:
            self._add_table_grad(g_embed, g_suffix, range(split, self.n_inputs))
        if not relu and self.degree > 1:
            g_embed.mul_(self.degree)
        self._accumulate_grads(g_embed, g_unembed)

    def _accumulate_grads(self, g_embed: torch.Tensor, g_unembed: torch.Tensor) -> None:
        for param, grad in ((self.embed, g_embed), (self.unembed, g_unembed)):
            param.grad = grad if param.grad is None else param.grad.add_(grad)

    def _add_table_grad(self, g_embed: torch.Tensor, g_table: torch.Tensor, inputs: Sequence[int],
                        product: bool = False) -> None:
        """Route ∂L/∂T of a table T[(a_j)_{j ∈ inputs}] = Σ_j u_j[a_j] (or Π_j u_j[a_j] with `product`;
        lexicographic rows) to those u_j: ∂u_j = Σ_{other inputs} ∂L/∂T (⊙ Π_{j' ≠ j} u_j' for a product)."""
        n, p = len(inputs), self.vocab_size
        g_table = g_table.view(*([p] * n), self.width)
        for axis, j in enumerate(inputs):
            others = tuple(a for a in range(n) if a != axis)
            g = g_table
            if product and others:
                rest = self._table([inputs[a] for a in others], product=True)
                g = g * rest.view(*([p] * axis), 1, *([p] * (n - 1 - axis)), self.width)
            g_embed[j] += g.sum(dim=others) if others else g

    def population_pass(self, budget_rows: int = 1 << 20) -> str:
        """The pass `logits(None)` and `backward_from_logits(None, ..)` use on the whole population:
        'polarization' (z^k with d = k), 'binomial' (z^d where it pays) or 'chunked' (any activation).
        budget_rows: how many (rows, m) activation rows the memory budget allows (see `logits`)."""
        if self._polarization(budget_rows):
            return "polarization"
        return "binomial" if self._binomial() else "chunked"

    # ------------------------------------------------------------------------------------------------
    # Polynomial activation on the whole population: the binomial expansion. With z = P[a] + S[s]
    # (prefix a = the first L = ⌊k/2⌋ inputs, suffix s the rest),
    #     f[a, s, c] = Σ_i (P_ai + S_si)^d w_ic = Σ_{r=0..d} C(d,r) Σ_i P_ai^r S_si^{d−r} w_ic.
    # The r = d and r = 0 terms are the small products (P^d w)[a, c] and (S^d w)[s, c]; the d − 1 middle
    # terms are ONE matmul  K[(a,c), (r,i)] = P_ai^r w_ic  times  B[s, (r,i)] = C(d,r) S_si^{d−r}  (r = 1..d−1),
    # and so are the two backward contractions. No (N, m) activation is formed: the matmuls do (d − 1) times
    # the FLOPs of a dense pass, but as large square-ish products that run near the machine's peak.

    def _binomial(self) -> bool:
        """Use the binomial pass? It saves the elementwise work on (N, m) activations, a factor
        n_suffix / p, for (d − 1)× the matmul FLOPs: measured on 2 CPU cores it pays when
        n_suffix ≥ 3(d − 1)·p (so k ≥ 3) and the population is not tiny (p^k·m ≥ 2^20). For k = 2 the prefix
        side has N rows: nothing saved."""
        if self.activation != "poly" or self.degree < 2:
            return False
        n_suffix = self.vocab_size ** (self.n_inputs - self._binomial_split())
        return (n_suffix >= 3 * (self.degree - 1) * self.n_classes
                and self.vocab_size ** self.n_inputs * self.width >= 1 << 20)

    def _binomial_split(self) -> int:
        """L = ⌊k/2⌋ prefix inputs (at least 1)."""
        return max(1, self.n_inputs // 2)

    def _binomial_tables(self) -> tuple[int, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(L, P (p^L, m), S (p^{k−L}, m), B (p^{k−L}, (d−1)m) with B[s, (r,i)] = C(d,r) S_si^{d−r})."""
        split = self._binomial_split()
        prefix, suffix = self._population_tables(split)
        d = self.degree
        B = torch.cat([math.comb(d, r) * suffix ** (d - r) for r in range(1, d)], dim=1)
        return split, prefix, suffix, B

    def _prefix_powers(self, prefix: torch.Tensor) -> torch.Tensor:
        """(b, d, m): P^r for r = 0..d−1."""
        return torch.stack([prefix ** r for r in range(self.degree)], dim=1)

    def _prefix_products(self, powers: torch.Tensor) -> torch.Tensor:
        """K[(a,c), (r,i)] = P_ai^r w_ic from powers (b, d−1, m): shape (b·p, (d−1)m)."""
        return (powers[:, None] * self.unembed.T[None, :, None]).flatten(2).flatten(0, 1)

    def _prefix_blocks(self, n_prefix: int, n_suffix: int, budget_rows: int):
        """Slices of prefixes whose K block and (b, p, n_suffix) products fit the budget of (rows, m) x3."""
        per_prefix = self.n_classes * ((self.degree - 1) * self.width + 2 * n_suffix)
        block = max(1, min(n_prefix, budget_rows * self.width * 3 // per_prefix))
        for start in range(0, n_prefix, block):
            yield slice(start, min(start + block, n_prefix))

    def _binomial_logits(self, budget_rows: int) -> torch.Tensor:
        p, d, w = self.n_classes, self.degree, self.unembed
        _, prefix, suffix, B = self._binomial_tables()
        n_prefix, n_suffix = prefix.shape[0], suffix.shape[0]
        edge_s = suffix**d @ w                                               # r = 0: (S^d w)[s, c]
        edge_p = prefix**d @ w                                               # r = d: (P^d w)[a, c]
        out = torch.empty(n_prefix, n_suffix, p, dtype=w.dtype, device=w.device)
        for blk in self._prefix_blocks(n_prefix, n_suffix, budget_rows):
            powers = self._prefix_powers(prefix[blk])[:, 1:]                 # P^r, r = 1..d−1
            middle = (self._prefix_products(powers) @ B.T).view(-1, p, n_suffix).transpose(1, 2)         # (b, n_suffix, p)
            torch.add(middle, edge_s, out=out[blk]).add_(edge_p[blk, None, :])
        return out.view(-1, p)

    def _binomial_backward(self, grad_logits: torch.Tensor, budget_rows: int) -> None:
        """∂L/∂w, ∂L/∂P, ∂L/∂S of f above for G = ∂L/∂f, then routed to the embeddings u_j."""
        p, d, m, w = self.n_classes, self.degree, self.width, self.unembed
        split, prefix, suffix, B = self._binomial_tables()
        n_prefix, n_suffix = prefix.shape[0], suffix.shape[0]
        G = grad_logits.view(n_prefix, n_suffix, p)
        G_over_s, G_over_a = G.sum(1), G.sum(0)                              # (n_prefix, p), (n_suffix, p)
        # edges: r = d (P^d w) and r = 0 (S^d w)
        g_w = prefix.pow(d).T @ G_over_s + suffix.pow(d).T @ G_over_a
        g_prefix = d * prefix.pow(d - 1) * (G_over_s @ w.T)
        g_suffix = d * suffix.pow(d - 1) * (G_over_a @ w.T)
        J = torch.zeros(n_suffix, (d - 1) * m, dtype=w.dtype, device=w.device)  # Σ_(a,c) G P_ai^r w_ic
        ranks = torch.arange(1, d, dtype=w.dtype, device=w.device)[None, :, None]   # r = 1..d−1
        for blk in self._prefix_blocks(n_prefix, n_suffix, budget_rows):
            Gt = G[blk].transpose(1, 2).reshape(-1, n_suffix)                # (b·p, n_suffix), rows (a, c)
            H = (Gt @ B).view(-1, p, d - 1, m)                               # C(d,r) Σ_s G[a,s,c] S_si^{d−r}
            all_powers = self._prefix_powers(prefix[blk])                    # P^r, r = 0..d−1
            powers = all_powers[:, 1:]                                       # r = 1..d−1
            g_w += (H * powers[:, None]).sum(dim=(0, 2)).T                   # Σ_(a,r) P_ai^r H[(a,c), (r,i)]
            Q = (H * w.T[None, :, None]).sum(dim=1)                          # Σ_c w_ic H[(a,c), (r,i)]
            g_prefix[blk] += (ranks * all_powers[:, :-1] * Q).sum(1)         # Σ_r r P^{r−1} Q_r
            J += Gt.T @ self._prefix_products(powers)
        for r in range(1, d):   # ∂/∂S of C(d,r) P^r S^{d−r} w: (d − r) C(d,r) S^{d−r−1} · J_r
            g_suffix += (d - r) * math.comb(d, r) * suffix.pow(d - r - 1) * J[:, (r - 1) * m:r * m]
        g_embed = torch.zeros_like(self.embed)
        self._add_table_grad(g_embed, g_prefix, range(split))
        self._add_table_grad(g_embed, g_suffix, range(split, self.n_inputs))
        self._accumulate_grads(g_embed, g_w)

    # ------------------------------------------------------------------------------------------------
    # z^k on the whole population, d = k: the polarization identity
    #     (x_1 + .. + x_k)^k = k!·x_1⋯x_k − Σ_{∅≠S⊊[k]} (−1)^{k−|S|} (Σ_{j∈S} x_j)^k
    # splits f into one multilinear term and 2^k − 2 terms that each ignore at least one input:
    #     f[a, c] = k!·T[a, c] + Σ_S ε_S g_S[a_S, c],        ε_S = (−1)^{k−|S|+1},
    #     T[a, c] = Σ_i Π_j u_ij[a_j] w_ic,                 g_S[a_S, c] = Σ_i (Σ_{j∈S} u_ij[a_j])^k w_ic.
    # T is ONE matmul: X[(a_1..a_L), i] = Π_{j≤L} u_ij[a_j] times Y[(a_{L+1}..a_k, c), i] = Π_{j>L} u_ij[a_j] w_ic,
    # and its (p^L, p^{k−L+1}) result is already f's lexicographic (a, c) layout; the backward is two more.
    # These are exactly the dense pass's matmul FLOPs, on (p^L, m) and (p^{k−L+1}, m) operands, with no (N, m)
    # activation. The g_S are small dense nets on p^|S| rows: together Σ_S p^|S| ≈ k/p of the population.

    def _polarization(self, budget_rows: int) -> bool:
        """Use the polarization pass? Needs z^k with d = k. Measured on 2 CPU cores it pays for k ≥ 3 when
        the g_S rows Σ_S p^|S| are at most a fifth of the p^k population rows (k = 3: p ≥ 17); for k = 2 the
        Y operand has p^2 = N rows and the chunked pass is faster. Its largest tables, Y (p^{k−L+1} rows) and
        the g_S with |S| = k − 1, must fit the memory budget."""
        k, p = self.n_inputs, self.vocab_size
        if self.activation != "poly" or self.degree != k or k < 3:
            return False
        if p ** max(k - (k + 1) // 2 + 1, k - 1) > budget_rows:
            return False
        return 5 * sum(math.comb(k, size) * p**size for size in range(1, k)) <= p**k

    def _polarization_tables(self) -> tuple[int, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(L, k!·X (p^L, m), X_B = Π_{j>L} u_j[a_j] (p^{k−L}, m), Y (p^{k−L}·p, m)) with L = ⌈k/2⌉."""
        k, L = self.n_inputs, (self.n_inputs + 1) // 2
        X = self._table(range(L), product=True) * math.factorial(k)
        X_B = self._table(range(L, k), product=True)
        Y = (X_B[:, None, :] * self.unembed.T[None, :, :]).reshape(-1, self.width)
        return L, X, X_B, Y

    def _side_terms(self):
        """(S, ε_S) for the proper non-empty subsets S of the inputs."""
        k = self.n_inputs
        for size in range(1, k):
            for S in itertools.combinations(range(k), size):
                yield S, (-1) ** (k - size + 1)

    def _polarization_logits(self, budget_rows: int) -> torch.Tensor:
        k, p, w = self.n_inputs, self.vocab_size, self.unembed
        _, X, _, Y = self._polarization_tables()
        out = X @ Y.T                                                          # k!·T, (p^L, p^{k−L}·p)
        full = out.view(*([p] * k), self.n_classes)
        # fold each ε_S g_S into the table of the first input S ignores, then k broadcast adds
        acc = [torch.zeros(*(1 if a == j else p for a in range(k)), self.n_classes, dtype=w.dtype,
                           device=w.device) for j in range(k)]
        for S, eps in self._side_terms():
            g = (self._table(S).pow(k) @ w).mul_(eps)
            acc[min(set(range(k)) - set(S))] += g.view(*(p if a in S else 1 for a in range(k)), self.n_classes)
        for a in acc:
            full += a
        return out.view(-1, self.n_classes)

    def _polarization_backward(self, grad_logits: torch.Tensor, budget_rows: int) -> None:
        """∂L/∂θ of f above for G = ∂L/∂f: two matmuls for T, and the small dense backward of each g_S on
        the marginal G_S[a_S, c] = Σ_{a_j, j ∉ S} G[a, c]."""
        k, p, m, w = self.n_inputs, self.vocab_size, self.width, self.unembed
        L, X, X_B, Y = self._polarization_tables()
        Gm = grad_logits.view(p**L, -1)                                        # rows a_1..a_L, cols (a_{L+1}.., c)
        g_embed, g_w = torch.zeros_like(self.embed), torch.zeros_like(w)
        self._add_table_grad(g_embed, (Gm @ Y).mul_(math.factorial(k)), range(L), product=True)
        dY = (Gm.T @ X).view(-1, self.n_classes, m)                            # ∂L/∂Y
        g_w += (dY * X_B[:, None, :]).sum(0).T
        self._add_table_grad(g_embed, (dY * w.T[None, :, :]).sum(1), range(L, k), product=True)
        marginals = {tuple(range(k)): grad_logits.view(*([p] * k), self.n_classes)}

        def marginal(S: tuple[int, ...]) -> torch.Tensor:                    # G summed over the inputs ∉ S
            if S not in marginals:
                j = min(set(range(k)) - set(S))
                parent = tuple(sorted(S + (j,)))
                marginals[S] = marginal(parent).sum(dim=parent.index(j))
            return marginals[S]

        for S, eps in self._side_terms():
            z, G_S = self._table(S), marginal(S).reshape(-1, self.n_classes)
            zk1 = z.pow(k - 1)
            g_w.addmm_((zk1 * z).T, G_S, alpha=eps)
            self._add_table_grad(g_embed, (G_S @ w.T).mul_(zk1).mul_(eps * k), S)
        self._accumulate_grads(g_embed, g_w)

    def neuron_sq_norms(self, dtype: torch.dtype | None = None) -> torch.Tensor:
        """‖θ_i‖_2² = Σ_j ‖u_{i,j}‖² + ‖w_i‖², shape (m,), computed in `dtype` (default: the model's)."""
        return self.embed.to(dtype).pow(2).sum(dim=(0, 1)) + self.unembed.to(dtype).pow(2).sum(dim=1)

    def neuron_embeddings(self) -> torch.Tensor:
        """u as (m, k, vocab): row i, j is u_{i,j}."""
        return self.embed.permute(2, 0, 1)

    def config(self) -> dict:
        return dict(
            vocab_size=self.vocab_size, n_inputs=self.n_inputs, width=self.width, n_classes=self.n_classes,
            activation=self.activation, degree=self.degree if self.activation == "poly" else None,
        )

    @classmethod
    def from_weights(cls, embed: torch.Tensor, unembed: torch.Tensor, activation: str = "poly",
                     degree: int | None = None) -> "PolyNet":
        """Wrap explicit weights (embed (k, vocab, m), unembed (m, classes)) as a model."""
        k, vocab, m = embed.shape
        model = cls(vocab, k, m, unembed.shape[1], activation, degree, init_scale=0.0,
                    dtype=embed.dtype, device=embed.device)
        with torch.no_grad():
            model.embed.copy_(embed)
            model.unembed.copy_(unembed)
        return model
