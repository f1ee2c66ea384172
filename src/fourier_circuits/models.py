"""One-hidden-layer networks of THEORY.md §2 (no biases, homogeneous).

Polynomial net [LI eq. 2]:  f(θ, a)[c] = Σ_{i=1..m} (u_{i,1}[a_1] + .. + u_{i,k}[a_k])^d · w_i[c]
with k untied input embeddings per neuron and activation z^d (d = k by default). θ_i = (u_{i,1..k}, w_i)
is neuron i's parameter block and f(αθ) = α^ν f(θ) with homogeneity degree ν = d + 1.
The ReLU baseline [MO Fig 1a] replaces z^d by max(z, 0); then ν = 2.

Storage: `embed[j, a, i]` = u_{i,j}[a]  (shape (k, vocab, m)),  `unembed[i, c]` = w_i[c]  (shape (m, classes)).
"""
from __future__ import annotations

import math

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

    def _population_tables(self, split: int) -> tuple[torch.Tensor, torch.Tensor]:
        """P[(a_1..a_L)] = Σ_{j<L} u_j[a_j] (p^L, m) and S[(a_{L+1}..a_k)] (p^{k−L}, m), lexicographic."""
        def table(embeds: torch.Tensor) -> torch.Tensor:
            out = embeds[0]
            for e in embeds[1:]:
                out = (out[:, None, :] + e[None, :, :]).reshape(-1, self.width)
            return out
        return table(self.embed[:split]), table(self.embed[split:])

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
            n_suffix_inputs = self.n_inputs - split
            g_suffix = g_suffix.view(*([self.vocab_size] * n_suffix_inputs), self.width)
            for j in range(n_suffix_inputs):
                others = tuple(a for a in range(n_suffix_inputs) if a != j)
                g_embed[split + j] += g_suffix.sum(dim=others) if others else g_suffix
        if not relu and self.degree > 1:
            g_embed.mul_(self.degree)
        for param, grad in ((self.embed, g_embed), (self.unembed, g_unembed)):
            param.grad = grad if param.grad is None else param.grad.add_(grad)

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
