"""One-hidden-layer networks of THEORY.md §2 (no biases, homogeneous).

Polynomial net [LI eq. 2]:  f(θ, a)[c] = Σ_{i=1..m} (u_{i,1}[a_1] + .. + u_{i,k}[a_k])^d · w_i[c]
with k untied input embeddings per neuron and activation z^d (d = k by default). θ_i = (u_{i,1..k}, w_i)
is neuron i's parameter block and f(αθ) = α^ν f(θ) with homogeneity degree ν = d + 1.
The ReLU baseline [MO Fig 1a] replaces z^d by max(z, 0); then ν = 2.

Storage: `embed[j, a, i]` = u_{i,j}[a]  (shape (k, vocab, m)),  `unembed[i, c]` = w_i[c]  (shape (m, classes)).
"""
from __future__ import annotations

import torch
from torch import nn


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

    def neuron_sq_norms(self) -> torch.Tensor:
        """‖θ_i‖_2² = Σ_j ‖u_{i,j}‖² + ‖w_i‖², shape (m,)."""
        return self.embed.pow(2).sum(dim=(0, 1)) + self.unembed.pow(2).sum(dim=1)

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
