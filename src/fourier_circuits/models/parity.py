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
    """Sum of m neurons (u_i·x)^k w_i on x ∈ {±1}^n with 2 outputs (output 0 is class +1), ν = k + 1.

    Weights are stored as `embed[j, i]` = u_i[j] (shape (n, m)) and `unembed[i, c]` = w_i[c] (shape (m, 2));
    init is i.i.d. Gaussian with std init_scale/sqrt(n) for u and init_scale/sqrt(m) for w.

    Args:
        n: The number of input bits n ≥ 1.
        width: The number of neurons m ≥ 1.
        k: The degree of the activation z^k (the parity's support size in the theory), k ≥ 1.
        init_scale: The scale of the Gaussian init.
        seed: The seed of the init.
        dtype: The torch dtype of the weights.
        device: The torch device of the weights.

    Raises:
        ValueError: If n, width or k is < 1.
    """

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
        """The logits with the given weights (e.g. a float64 copy).

        Args:
            embed: (n, m) input weights, column i = u_i.
            unembed: (m, 2) output weights.
            x: (N, n) ±1 inputs (cast to the weights' dtype).

        Returns:
            (N, 2) logits.
        """
        z = x.to(embed.dtype) @ embed
        return z.pow(self.degree) @ unembed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The logits f(θ, x), with autograd.

        Args:
            x: (N, n) ±1 inputs.

        Returns:
            (N, 2) logits.
        """
        return self.forward_with(self.embed, self.unembed, x)

    def neuron_sq_norms(self, dtype: torch.dtype | None = None) -> torch.Tensor:
        """The squared norm of each neuron's parameter block θ_i = (u_i, w_i).

        Args:
            dtype: The dtype to compute in (default: the model's).

        Returns:
            (m,) tensor, ‖θ_i‖_2² = ‖u_i‖² + ‖w_i‖².
        """
        return self.embed.to(dtype).pow(2).sum(dim=0) + self.unembed.to(dtype).pow(2).sum(dim=1)

    def config(self) -> dict:
        """The architecture, as checkpoints store it.

        Returns:
            The architecture, as stored in checkpoints: model ("parity"), n, width, k, n_classes (2).
        """
        return dict(model="parity", n=self.n, width=self.width, k=self.degree, n_classes=2)

    @classmethod
    def from_weights(cls, u: torch.Tensor, w: torch.Tensor, k: int) -> "ParityNet":
        """Wrap explicit weights as a model.

        Args:
            u: (m, n) input weights, row i = u_i.
            w: (m, 2) output weights, row i = w_i.
            k: The degree of the activation z^k.

        Returns:
            A `ParityNet` holding copies of the weights, in their dtype and on their device.

        Raises:
            ValueError: If w is not (m, 2).
        """
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
