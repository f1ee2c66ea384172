"""Read-outs of a run's metric rows (one dict per logged step): when accuracy arrives, when the test loss
collapses. Pure functions of the rows; used by the transformer analysis and the grokking figures."""
from __future__ import annotations

ACC_THRESHOLD = 0.99


def first_step_at(metrics: list[dict], key: str, threshold: float = ACC_THRESHOLD) -> int | None:
    """First logged step whose metrics[key] ≥ threshold (None if never)."""
    return next((r["step"] for r in metrics if r.get(key) is not None and r[key] >= threshold), None)


def test_loss_collapse_step(metrics: list[dict], factor: float = 100.0) -> int | None:
    """First logged step after the test-loss peak where the test loss is ≤ peak / factor (None if never):
    the grokking "collapse" of Nanda et al. (memorization drives the test loss up, then it falls by orders
    of magnitude)."""
    rows = [r for r in metrics if r.get("test_loss") is not None]
    if not rows:
        return None
    peak = max(range(len(rows)), key=lambda i: rows[i]["test_loss"])
    limit = rows[peak]["test_loss"] / factor
    return next((r["step"] for r in rows[peak:] if r["test_loss"] <= limit), None)
