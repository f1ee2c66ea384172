"""Parity net [MO] (docs/theory.md §2): f(x) = Σ_{i=1..m} (u_i·x)^k w_i, u_i ∈ R^n, w_i ∈ R^2, no biases.

Homogeneous of degree ν = k+1 in θ_i = (u_i, w_i). Output 0 is class +1 (see `group_tasks.SparseParity`).

Storage mirrors PolyNet so that `margins` works unchanged: `embed[j, i]` = u_i[j] (shape (n, m)) and
`unembed[i, c]` = w_i[c] (shape (m, 2)); `forward_with(embed, unembed, x)` evaluates the net with given
(e.g. float64) weights, and `neuron_sq_norms()` / `nu` feed `margins.l2nu_norm(_pow)`. Hence
`margins.evaluate_margins` and `margins.normalized_margin(model, task.inputs(), task.labels())` apply
directly (inputs are cast to the weights' dtype inside `forward_with`); `normalized_margin_parity` is a
convenience wrapper.

Training interface (`models.base`): `logits` / `backward_from_logits` by autograd (`AutogradPass`), chunk
rows as for PolyNet (`HiddenLayerBudget`: 3·m values per row).
"""
from __future__ import annotations

import torch
from torch import nn

from fourier_circuits.models.base import AutogradPass, HiddenLayerBudget
from fourier_circuits.models.margins import normalized_margin


class ParityNet(AutogradPass, HiddenLayerBudget, nn.Module):
    """Sum of m neurons (u_i·x)^k w_i on x ∈ {±1}^n with 2 outputs."""

    n_classes = 2

    def __init__(
        self,
        n: int,
        width: int,
        k: int,
        init_scale: float = 1.0,
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> None:
        super().__init__()
        if n < 1:
            raise ValueError(f"n must be >= 1, got n={n}")
        if width < 1:
            raise ValueError(f"width must be >= 1, got width={width}")
        if k < 1:
            raise ValueError(f"degree k must be >= 1, got k={k}")
        self.n, self.width, self.degree = n, width, k
        # Init: i.i.d. Gaussian, std init_scale/sqrt(n) for u and init_scale/sqrt(m) for w.
        gen = torch.Generator().manual_seed(seed)
        embed = torch.randn(n, width, generator=gen, dtype=torch.float64)
        unembed = torch.randn(width, 2, generator=gen, dtype=torch.float64)
        self.embed = nn.Parameter((embed * init_scale / n**0.5).to(dtype=dtype, device=device))
        self.unembed = nn.Parameter((unembed * init_scale / width**0.5).to(dtype=dtype, device=device))

    @property
    def k(self) -> int:
        return self.degree

    @property
    def nu(self) -> int:
        """Homogeneity degree ν = k + 1."""
        return self.degree + 1

    @property
    def u(self) -> torch.Tensor:
        """Input weights as (m, n): row i is u_i."""
        return self.embed.T

    @property
    def w(self) -> torch.Tensor:
        """Output weights (m, 2): row i is w_i."""
        return self.unembed

    def forward_with(self, embed: torch.Tensor, unembed: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Logits with the given weights (embed (n, m), unembed (m, 2)), shape (N, 2)."""
        z = x.to(embed.dtype) @ embed
        return z.pow(self.degree) @ unembed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits f(θ, x), shape (N, 2)."""
        return self.forward_with(self.embed, self.unembed, x)

    def neuron_sq_norms(self, dtype: torch.dtype | None = None) -> torch.Tensor:
        """‖θ_i‖_2² = ‖u_i‖² + ‖w_i‖², shape (m,), computed in `dtype` (default: the model's)."""
        return self.embed.to(dtype).pow(2).sum(dim=0) + self.unembed.to(dtype).pow(2).sum(dim=1)

    def config(self) -> dict:
        """The architecture, as stored in checkpoints."""
        return dict(model="parity", n=self.n, width=self.width, k=self.degree, n_classes=2)

    @classmethod
    def from_weights(cls, u: torch.Tensor, w: torch.Tensor, k: int) -> "ParityNet":
        """Wrap explicit weights u (m, n) (row i = u_i), w (m, 2) and degree k as a model."""
        m, n = u.shape
        if tuple(w.shape) != (m, 2):
            raise ValueError(f"w must have shape ({m}, 2), got {tuple(w.shape)}")
        model = cls(n, m, k, init_scale=0.0, dtype=u.dtype, device=u.device)
        with torch.no_grad():
            model.embed.copy_(u.T)
            model.unembed.copy_(w)
        return model


def normalized_margin_parity(model: ParityNet, task) -> float:
    """h(θ)/‖θ‖_{2,ν}^ν over the whole (n,k) parity population of `task`, in float64."""
    return normalized_margin(model, task.inputs(dtype=torch.float64), task.labels())
