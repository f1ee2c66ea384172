"""One-hidden-layer networks of docs/theory.md §2 (no biases, homogeneous).

Polynomial net [LI eq. 2]:  f(θ, a)[c] = Σ_{i=1..m} (u_{i,1}[a_1] + .. + u_{i,k}[a_k])^d · w_i[c]
with k untied input embeddings per neuron and activation z^d (d = k by default). θ_i = (u_{i,1..k}, w_i)
is neuron i's parameter block and f(αθ) = α^ν f(θ) with homogeneity degree ν = d + 1.
The ReLU baseline [MO Fig 1a] replaces z^d by max(z, 0); then ν = 2.

Storage: `embed[j, a, i]` = u_{i,j}[a]  (shape (k, vocab, m)),  `unembed[i, c]` = w_i[c]  (shape (m, classes)).

Training uses `logits(x, budget_rows)` and `backward_from_logits(x, ∂L/∂f, budget_rows)`: f(θ, x) and
∂L/∂θ = Σ_x J_f(x)^T ∂L/∂f(x) without an autograd graph, in O(rows·m) memory. On the whole population
(x = None) `population_pass` picks the chunked, polarization or binomial pass of `models.passes`.
"""
from __future__ import annotations

from types import ModuleType

import torch
from torch import nn

from fourier_circuits.models.base import HiddenLayerBudget
from fourier_circuits.models.passes import PASSES, binomial, polarization
from fourier_circuits.models.passes.chunked import CACHE_ROWS  # noqa: F401  (re-exported)


class PolyNet(HiddenLayerBudget, nn.Module):
    """Sum of m neurons σ(Σ_j u_{i,j}[a_j]) w_i with σ(z) = z^d ("poly") or max(z, 0) ("relu").

    f(θ, a)[c] = Σ_{i=1..m} σ(u_{i,1}[a_1] + .. + u_{i,k}[a_k]) · w_i[c], no biases, homogeneous of degree
    ν = d + 1 (ν = 2 for ReLU). Weights are stored as `embed[j, a, i]` = u_{i,j}[a] (shape (k, vocab, m))
    and `unembed[i, c]` = w_i[c] (shape (m, classes)); init is i.i.d. Gaussian with std
    init_scale/sqrt(vocab) for u and init_scale/sqrt(m) for w.

    Training interface (`models.base`): `logits` / `backward_from_logits` are the hand-written passes of
    `models.passes`, without an autograd graph; x = None is the whole population (`fused_population`).

    Args:
        vocab_size: The size of each one-hot input block (p for addition mod p, |G| for a group).
        n_inputs: The number of inputs k.
        width: The number of neurons m ≥ 1.
        n_classes: The number of output classes.
        activation: "poly" (σ(z) = z^d) or "relu" (σ(z) = max(z, 0)).
        degree: The degree d of the "poly" activation (default k, the theorems' setting).
        init_scale: The scale of the Gaussian init (0 gives a zero network, as `from_weights` uses).
        seed: The seed of the init.
        dtype: The torch dtype of the weights.
        device: The torch device of the weights.

    Raises:
        ValueError: If width < 1, the activation is unknown, or the degree < 1.
    """

    fused_population = True

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
        """The logits of this architecture with the given weights (e.g. a float64 copy).

        Args:
            embed: (k, vocab, m) input embeddings u.
            unembed: (m, classes) output weights w.
            x: (N, k) integer inputs.

        Returns:
            (N, classes) logits, in the weights' dtype.
        """
        z = embed[0][x[:, 0]]  # z[n, i] = Σ_j u_{i,j}[x[n, j]]
        for j in range(1, self.n_inputs):
            z = z + embed[j][x[:, j]]
        hidden = torch.relu(z) if self.activation == "relu" else z**self.degree
        return hidden @ unembed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The logits f(θ, x), with autograd.

        Args:
            x: (N, k) integer inputs.

        Returns:
            (N, classes) logits.
        """
        return self.forward_with(self.embed, self.unembed, x)

    # ------------------------------------------------------------------------------------------------
    # Training passes (`models.passes`): budget_rows = how many (rows, m) activation rows fit the memory
    # budget, `rows_per_chunk(budget_bytes)` (3·m values per row, see `HiddenLayerBudget`).

    def population_pass(self, budget_rows: int = 1 << 20) -> str:
        """The pass `logits(None)` and `backward_from_logits(None, ..)` use on the whole population:
        'polarization' (z^k with d = k), 'binomial' (z^d where it pays) or 'chunked' (any activation).

        Args:
            budget_rows: How many (rows, m) activation rows fit the memory budget.

        Returns:
            "polarization", "binomial" or "chunked".
        """
        if polarization.applies(self, budget_rows):
            return "polarization"
        return "binomial" if binomial.applies(self, budget_rows) else "chunked"

    def _pass(self, x: torch.Tensor | None, budget_rows: int) -> ModuleType:
        """The pass module for x: a batch always goes through the chunked pass."""
        return PASSES[self.population_pass(budget_rows) if x is None else "chunked"]

    @torch.no_grad()
    def logits(self, x: torch.Tensor | None, budget_rows: int = 1 << 20) -> torch.Tensor:
        """The logits f(θ, x) without an autograd graph, by the hand-written passes.

        Args:
            x: A batch (N, k) of integer inputs, or None for the whole population Z_vocab^k in
                lexicographic order.
            budget_rows: How many (rows, m) activation rows fit the memory budget.

        Returns:
            (N, classes) logits (N = vocab^k for the population).
        """
        return self._pass(x, budget_rows).logits(self, x, budget_rows)

    @torch.no_grad()
    def backward_from_logits(self, x: torch.Tensor | None, grad_logits: torch.Tensor,
                             budget_rows: int = 1 << 20) -> None:
        """Accumulate into .grad the gradient of a loss whose gradient w.r.t. f(θ, x) is grad_logits:
        ∂L/∂θ = Σ_x J_f(x)^T grad_logits(x), for a batch x or the whole population (x = None).

        Args:
            x: A batch (N, k) of integer inputs, or None for the whole population.
            grad_logits: ∂L/∂f, shape (N, classes).
            budget_rows: How many (rows, m) activation rows fit the memory budget.
        """
        self._pass(x, budget_rows).backward(self, x, grad_logits, budget_rows)

    def neuron_sq_norms(self, dtype: torch.dtype | None = None) -> torch.Tensor:
        """The squared norm of each neuron's parameter block θ_i = (u_{i,1..k}, w_i).

        Args:
            dtype: The dtype to compute in (default: the model's).

        Returns:
            (m,) tensor, ‖θ_i‖_2² = Σ_j ‖u_{i,j}‖² + ‖w_i‖² (differentiable).
        """
        return self.embed.to(dtype).pow(2).sum(dim=(0, 1)) + self.unembed.to(dtype).pow(2).sum(dim=1)

    def neuron_embeddings(self) -> torch.Tensor:
        """The input embeddings, neuron first.

        Returns:
            The input embeddings as a (m, k, vocab) view: [i, j] is u_{i,j}, the vector neuron i applies to
            input j (the one whose Fourier spectrum `analyze_polynet` measures).
        """
        return self.embed.permute(2, 0, 1)

    def config(self) -> dict:
        """The architecture, as checkpoints store it.

        Returns:
            The architecture, as stored in checkpoints: the arguments of `__init__` without init, seed,
            dtype and device (`PolyNet(**model.config())` builds the same architecture).
        """
        return dict(
            vocab_size=self.vocab_size, n_inputs=self.n_inputs, width=self.width, n_classes=self.n_classes,
            activation=self.activation, degree=self.degree if self.activation == "poly" else None,
        )

    @classmethod
    def from_weights(cls, embed: torch.Tensor, unembed: torch.Tensor, activation: str = "poly",
                     degree: int | None = None) -> "PolyNet":
        """Wrap explicit weights as a model (as the constructions and `analyze_your_own_arrays.py` do).

        Args:
            embed: (k, vocab, m) input embeddings u, embed[j, a, i] = u_{i,j}[a].
            unembed: (m, classes) output weights w.
            activation: "poly" or "relu".
            degree: The degree d of "poly" (default k).

        Returns:
            A `PolyNet` holding copies of the weights, in their dtype and on their device.
        """
        k, vocab, m = embed.shape
        model = cls(vocab, k, m, unembed.shape[1], activation, degree, init_scale=0.0,
                    dtype=embed.dtype, device=embed.device)
        with torch.no_grad():
            model.embed.copy_(embed)
            model.unembed.copy_(unembed)
        return model
