"""Training objectives as plain functions of the logits (docs/theory.md §3).

  ce       mean cross-entropy of f(θ) in float64 (+ λ‖θ‖_{2,ν}^r or λ‖θ‖_2², see `regularizer`).
  softmin  the smoothed normalized margin of the fast recipe. With F = f(θ)/‖θ‖_{2,ν}^ν (normalized logits,
           f is ν-homogeneous) and G_{x,c} = F_{x,y} − F_{x,c} for c ≠ y,
               L = (s/τ) · log Σ_{x, c≠y} exp(−τ G_{x,c} / s)  ≥  −h(θ)/‖θ‖^ν,
           so −L is a lower bound on the normalized margin that tightens as τ grows (gap ≤ s·log(N(p−1))/τ).
           s is the RMS of F at the previous step (a scale, not optimized). Unlike cross-entropy this never
           underflows: its gradient is a softmax-weighted average over the worst margins, whatever their size.
"""
from __future__ import annotations

import math

import torch

from fourier_circuits.models.margins import l2nu_norm_pow, softmin_loss  # noqa: F401  (softmin_loss: part of this API)


def cross_entropy64(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy through a float64 log-softmax, as in Nanda et al.'s grokking code: in float32 a
    row's loss and its gradient 1 − softmax_y round to 0 once that loss is below ~1e-7."""
    return torch.nn.functional.cross_entropy(logits.double(), y)


def regularizer(cfg, model) -> torch.Tensor:
    """λ‖θ‖_{2,ν}^r (regularizer l2nu, r = reg_power or ν), λ‖θ‖_2² (l2), or 0."""
    if cfg.regularizer == "l2nu" and cfg.lam > 0:
        r = cfg.reg_power or model.nu
        return cfg.lam * l2nu_norm_pow(model).pow(r / model.nu)
    if cfg.regularizer == "l2" and cfg.lam > 0:
        return cfg.lam * sum(q.pow(2).sum() for q in model.parameters())
    q = next(model.parameters())
    return torch.zeros((), device=q.device, dtype=q.dtype)


def rms_normalized_logit(logits: torch.Tensor, norm: float) -> float:
    """RMS of F = f/‖θ‖^ν, in float64: on the unit sphere f can be ~1e-20 (z^5), whose squares underflow
    float32."""
    return float(torch.linalg.vector_norm(logits.detach(), dtype=torch.float64)) / (math.sqrt(logits.numel()) * norm)


def softmin_value_and_grad(logits: torch.Tensor, y: torch.Tensor, norm: torch.Tensor, s: float,
                           tau: float) -> tuple[float, torch.Tensor]:
    """L, and ∂L/∂f (returned); the ‖θ‖^ν path of the gradient is added to the parameters' .grad by hand.

    With n = ‖θ‖^ν, a = −τ/(s n), E_{x,c} = a (f_{x,y} − f_{x,c}) for c ≠ y, M = max E and softmax
    weights π = exp(E − M)/Z:  L = (s/τ)(M + log Z),  ∂L/∂f_{x,c} = π_{x,c}/n (c ≠ y),
    ∂L/∂f_{x,y} = −Σ_c π_{x,c}/n,  ∂L/∂n = −(s/(τ n)) Σ π E = −(s a/(τ n)) (Σ_x f_{x,y} r_x − ⟨π, f⟩)
    with r_x = Σ_{c≠y} π_{x,c}. The same value and gradient as autograd through `softmin_loss`, in about
    ten passes over the (N, classes) logits instead of twenty.
    """
    n = float(norm.detach())
    a = -tau / (s * n)
    f_y = logits.gather(1, y[:, None])
    pi = torch.add(f_y * a, logits, alpha=-a).scatter_(1, y[:, None], float("-inf"))     # E
    top = pi.max()
    Z = float(pi.sub_(top).exp_().sum())                                               # exp(E − M)
    pi.mul_(1.0 / Z)
    r = pi.sum(1, keepdim=True)
    weighted = float((f_y * r).sum()) - float(torch.dot(pi.flatten(), logits.flatten()))
    (-(s * a) / (tau * n) * weighted * norm).backward()                              # ∂L/∂n · ∂n/∂θ
    grad = pi.mul_(1.0 / n).scatter_(1, y[:, None], -r / n)
    return (s / tau) * (float(top) + math.log(Z)), grad
