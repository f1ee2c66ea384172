"""Norms and margins (THEORY.md §3), evaluated in float64 over the whole population.

‖θ‖_{2,ν}^ν = Σ_i ‖θ_i‖_2^ν,  point margin g(θ,x,y) = f(x)[y] − max_{y'≠y} f(x)[y'],
h(θ) = min_D g, normalized margin h(θ)/‖θ‖_{2,ν}^ν  (= h(θ/‖θ‖) by homogeneity).
"""
from __future__ import annotations

import torch

from fourier_circuits.models.polynet import PolyNet

DEFAULT_MEMORY_BUDGET = 512 * 2**20  # bytes for one chunk's hidden activations


def l2nu_norm_pow(model: PolyNet, nu: float | None = None) -> torch.Tensor:
    """‖θ‖_{2,ν}^ν = Σ_i (‖θ_i‖_2²)^{ν/2} (differentiable, in the model's dtype)."""
    nu = model.nu if nu is None else nu
    return model.neuron_sq_norms().pow(nu / 2).sum()


def l2nu_norm(model: PolyNet, nu: float | None = None) -> float:
    """‖θ‖_{2,ν} in float64."""
    nu = model.nu if nu is None else nu
    sq = model.neuron_sq_norms(torch.float64).detach()
    return float(sq.pow(nu / 2).sum().pow(1 / nu))


def softmin_loss(logits: torch.Tensor, y: torch.Tensor, norm: torch.Tensor, s: float, tau: float) -> torch.Tensor:
    """The smoothed margin L = (s/τ) log Σ_{x, c≠y} exp(−τ G_{x,c}/s), G = (f_y − f_c)/‖θ‖^ν, as a differentiable
    function of the logits and of ‖θ‖^ν = `norm` (training/objectives.py; the solver's polish)."""
    gaps = logits.gather(1, y[:, None]) - logits               # ‖θ‖^ν G_{x,c} = f_y − f_c
    # one scalar factor −τ/(s‖θ‖^ν) on the gaps: F = f/‖θ‖^ν is never formed
    exponents = (gaps * (-tau / s / norm)).scatter(1, y[:, None], float("-inf"))   # drop c = y
    return (s / tau) * torch.logsumexp(exponents.flatten(), 0)


def chunk_rows(width: int, budget_bytes: int = DEFAULT_MEMORY_BUDGET, bytes_per_value: int = 8) -> int:
    """Rows per chunk so that a (rows, width) float64 activation (x3 for temporaries) fits the budget."""
    return max(1, budget_bytes // (3 * bytes_per_value * max(width, 1)))


def point_margins(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """g = f[y] − max_{y'≠y} f[y'] for each row."""
    correct = logits.gather(1, labels[:, None]).squeeze(1)
    others = logits.scatter(1, labels[:, None], float("-inf"))
    return correct - others.max(dim=1).values


def class_weighted_margins(logits: torch.Tensor, labels: torch.Tensor, tau: torch.Tensor | None = None) -> torch.Tensor:
    """g' = f[y] − Σ_{y'≠y} τ[y'] f[y'] with τ a distribution over wrong classes (uniform if None).

    g' ≥ g always; [MO] Lemmas 2–6 use E[g'] to reduce max-margin to a single neuron.
    """
    n, c = logits.shape
    if tau is None:
        tau = torch.full((n, c), 1.0 / (c - 1), dtype=logits.dtype, device=logits.device)
    tau = tau.scatter(1, labels[:, None], 0.0)
    correct = logits.gather(1, labels[:, None]).squeeze(1)
    return correct - (tau * logits).sum(dim=1)


@torch.no_grad()
def evaluate_margins(model: PolyNet, inputs: torch.Tensor, labels: torch.Tensor,
                     budget_bytes: int = DEFAULT_MEMORY_BUDGET) -> dict:
    """Float64 pass over (inputs, labels) in chunks: min margin h, accuracy, mean cross-entropy."""
    w_embed, w_unembed = model.embed.double(), model.unembed.double()
    rows = chunk_rows(model.width, budget_bytes)
    h, correct, ce_sum, n = float("inf"), 0, 0.0, len(labels)
    for start in range(0, n, rows):
        x, y = inputs[start:start + rows], labels[start:start + rows]
        logits = model.forward_with(w_embed, w_unembed, x)
        h = min(h, float(point_margins(logits, y).min()))
        correct += int((logits.argmax(dim=1) == y).sum())
        ce_sum += float(torch.nn.functional.cross_entropy(logits, y, reduction="sum"))
    return {"margin": h, "accuracy": correct / max(n, 1), "loss": ce_sum / max(n, 1)}


def normalized_margin(model: PolyNet, inputs: torch.Tensor, labels: torch.Tensor,
                      budget_bytes: int = DEFAULT_MEMORY_BUDGET) -> float:
    """h(θ) / ‖θ‖_{2,ν}^ν in float64."""
    h = evaluate_margins(model, inputs, labels, budget_bytes)["margin"]
    return h / l2nu_norm(model) ** model.nu
