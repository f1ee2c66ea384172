"""The metric row of a training step, measured in float64 over the whole training (and test) set.

Homogeneous models (ν-homogeneous in θ: PolyNet, ParityNet): loss, accuracy, margin h(θ), ‖θ‖_{2,ν}, the
normalized margin h/‖θ‖^ν and margin_ratio = normalized margin / γ* (None without γ*). Models that are not
homogeneous (the transformer): float64 cross-entropy and accuracy only; margin, norm, normalized_margin and
margin_ratio are None (the logits are not homogeneous in θ).
"""
from __future__ import annotations

import torch

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
def loss_accuracy(model, batch, budget: int) -> tuple[float | None, float | None]:
    """Float64 mean cross-entropy and accuracy of `model` over `batch`, in memory-budget chunks."""
    n = len(batch.y)
    if n == 0:
        return None, None
    rows = model.rows_per_chunk(budget)
    ce_sum, correct = 0.0, 0
    for start in range(0, n, rows):
        logits = model(batch.x[start:start + rows]).double()
        y = batch.y[start:start + rows]
        ce_sum += float(torch.nn.functional.cross_entropy(logits, y, reduction="sum"))
        correct += int((logits.argmax(1) == y).sum())
    return ce_sum / n, correct / n


def loss_row(model, train, test, budget: int, gamma_star: float | None = None) -> dict:
    train_loss, train_acc = loss_accuracy(model, train, budget)
    test_loss, test_acc = loss_accuracy(model, test, budget)
    return {"train_loss": train_loss, "train_accuracy": train_acc, "margin": None, "norm": None,
            "normalized_margin": None, "test_loss": test_loss, "test_accuracy": test_acc, "margin_ratio": None}
