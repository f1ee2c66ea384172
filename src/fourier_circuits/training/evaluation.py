"""The metric row of a training step, measured in float64 over the whole training (and test) set.

Homogeneous models (ν-homogeneous in θ: PolyNet, ParityNet): loss, accuracy, margin h(θ), ‖θ‖_{2,ν}, the
normalized margin h/‖θ‖^ν and margin_ratio = normalized margin / γ* (None without γ*). Models that are not
homogeneous (the transformer): float64 cross-entropy and accuracy only; margin, norm, normalized_margin and
margin_ratio are None (the logits are not homogeneous in θ).

Cross-entropy rows (`loss_row`; `margin_collapse_row` for homogeneous models trained on cross-entropy) also
carry softmax-collapse diagnostics (Prieto et al. 2025, "Grokking at the edge of numerical stability"),
measured over the training set on the logits as the model computes them (in the run's dtype), see
`collapse_stats`: sc_fraction, max_logit_gap, nlm_cosine, nlm_fraction.
"""
from __future__ import annotations

import torch

from fourier_circuits.models.base import forward_rows
from fourier_circuits.models.margins import evaluate_margins, l2nu_norm


def margin_row(model, train, test, budget: int, gamma_star: float | None) -> dict:
    stats = evaluate_margins(model, train.x, train.y, budget)
    norm = l2nu_norm(model)
    row = {"train_loss": stats["loss"], "train_accuracy": stats["accuracy"], "margin": stats["margin"],
           "norm": norm, "normalized_margin": stats["margin"] / norm**model.nu}
    if len(test.y):
        held_out = evaluate_margins(model, test.x, test.y, budget)
        row.update(test_loss=held_out["loss"], test_accuracy=held_out["accuracy"])
    else:
        row.update(test_loss=None, test_accuracy=None)
    row["margin_ratio"] = row["normalized_margin"] / gamma_star if gamma_star else None
    return row


@torch.no_grad()
def _scan(model, batch, budget: int, keep: bool) -> tuple[float, int, list[torch.Tensor]]:
    """One pass over `batch` in memory-budget chunks (at most CPU_FORWARD_ROWS rows on the CPU): the float64
    cross-entropy sum, the number correct, and (keep) the logits of every chunk in the model's dtype."""
    rows, ce_sum, correct, kept = forward_rows(model.rows_per_chunk(budget), batch.x), 0.0, 0, []
    for start in range(0, len(batch.y), rows):
        logits, y = model(batch.x[start:start + rows]), batch.y[start:start + rows]
        z = logits.double()
        ce_sum += float(torch.nn.functional.cross_entropy(z, y, reduction="sum"))
        correct += int((z.argmax(1) == y).sum())
        if keep:
            kept.append(logits)
    return ce_sum, correct, kept


def loss_accuracy(model, batch, budget: int) -> tuple[float | None, float | None]:
    """Float64 mean cross-entropy and accuracy of `model` over `batch`, in memory-budget chunks."""
    n = len(batch.y)
    if n == 0:
        return None, None
    ce_sum, correct, _ = _scan(model, batch, budget, keep=False)
    return ce_sum / n, correct / n


@torch.no_grad()
def collapse_stats(logits: torch.Tensor, y: torch.Tensor) -> dict:
    """Softmax-collapse diagnostics of (N, C) logits in their own dtype (Prieto et al. 2025):

    sc_fraction    fraction of rows whose softmax, computed in the logits' dtype, is exactly 1.0 at the label:
                   one-hot at the label to that precision (every other entry below half an ulp of 1), so the
                   row's cross-entropy and its gradient 1 − softmax_y are exactly 0 there (Softmax Collapse).
                   In float32 that needs a gap of ~17 nats (Σ_c≠y e^{z_c − z_y} < 2^-24), in float64 ~37; the
                   check is on the run's own dtype, so a float64 run reports 0 where a float32 one collapses.
    max_logit_gap  max over rows of (top logit − second logit), in float64.
    nlm_cosine     cosine between the descent direction −∂L/∂z of the mean cross-entropy and the logits
                   scaled up (the row-centred logits z − mean_c z: softmax ignores a per-row shift), over all
                   (row, class) entries: the "naive loss minimization" direction taken in logit space, where it
                   is exact (scaling the logits) for any model; +1 = the gradient only grows the logits.
    nlm_fraction   nlm_cosine², the fraction of ‖∂L/∂z‖² along that direction.
    Computed in float64 except the softmax test. Empty input: all None."""
    if len(y) == 0:
        return {"sc_fraction": None, "max_logit_gap": None, "nlm_cosine": None, "nlm_fraction": None}
    p_y = logits.softmax(1).gather(1, y[:, None])[:, 0]
    z = logits.double()
    top2 = z.topk(2, dim=1).values if z.shape[1] > 1 else torch.cat([z, z], 1)
    prob = z.softmax(1)
    descent = -(prob - torch.nn.functional.one_hot(y, z.shape[1]).double())   # −N ∂L/∂z (mean CE)
    centred = z - z.mean(1, keepdim=True)
    denom = float(descent.norm() * centred.norm())
    cos = float((descent * centred).sum()) / denom if denom > 0 else 0.0
    return {"sc_fraction": float((p_y == 1).double().mean()), "max_logit_gap": float((top2[:, 0] - top2[:, 1]).max()),
            "nlm_cosine": cos, "nlm_fraction": cos * cos}


def train_loss_accuracy_collapse(model, batch, budget: int) -> tuple[float | None, float | None, dict]:
    """`loss_accuracy` of the training batch and its `collapse_stats`, from one pass (the (N, C) logits of
    the training set are kept: N·C values, as small as the training batch itself)."""
    n = len(batch.y)
    if n == 0:
        return None, None, collapse_stats(batch.y.new_zeros((0, 1), dtype=torch.float32), batch.y)
    ce_sum, correct, kept = _scan(model, batch, budget, keep=True)
    return ce_sum / n, correct / n, collapse_stats(torch.cat(kept), batch.y)


def margin_collapse_row(model, train, test, budget: int, gamma_star: float | None) -> dict:
    """`margin_row` plus the `collapse_stats` of the training logits in the run's dtype: the cross-entropy
    runs of homogeneous models ([MO], [LI] recipes), whose logits grow without bound."""
    return {**margin_row(model, train, test, budget, gamma_star), **train_loss_accuracy_collapse(model, train, budget)[2]}


def loss_row(model, train, test, budget: int, gamma_star: float | None = None) -> dict:
    train_loss, train_acc, collapse = train_loss_accuracy_collapse(model, train, budget)
    test_loss, test_acc = loss_accuracy(model, test, budget)
    return {"train_loss": train_loss, "train_accuracy": train_acc, "margin": None, "norm": None,
            "normalized_margin": None, "test_loss": test_loss, "test_accuracy": test_acc, "margin_ratio": None,
            **collapse}
