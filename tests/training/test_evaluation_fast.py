"""Fast metric rows (training.evaluation on models.margins.screen_population): the same keys and values as the
float64 row, the float64 fallback where the screen does not apply, and streamed collapse statistics."""
from __future__ import annotations

import pytest
import torch

from fourier_circuits.models.polynet import PolyNet
from fourier_circuits.tasks.modadd import ModularAddition
from fourier_circuits.tasks.split import train_test_split
from fourier_circuits.theory.modadd import construct_modadd, gamma_star_modadd
from fourier_circuits.training import evaluation
from fourier_circuits.training.config import resolve_config
from fourier_circuits.training.evaluation import (
    CollapseAccumulator,
    collapse_stats,
    margin_collapse_row,
    margin_row,
    population_layout,
)
from fourier_circuits.training.trainer import Batch, Trainer

BUDGET = 64 * 2**20


def split(p, k, fraction=0.5, seed=0):
    task = ModularAddition(p, k)
    x, y = task.inputs(), task.labels()
    train_idx, test_idx = train_test_split(task.size, fraction, seed)
    return Batch(x[train_idx], y[train_idx], population=fraction == 1.0), Batch(x[test_idx], y[test_idx])


def rows(row_fn, model, train, test, gamma_star, monkeypatch) -> tuple[dict, dict]:
    """(fast row, float64 row) of the same model."""
    monkeypatch.setattr(evaluation, "FAST_ROW_MIN_WORK", 0)
    fast = row_fn(model, train, test, BUDGET, gamma_star)
    monkeypatch.setattr(evaluation, "FAST_ROW_MIN_WORK", float("inf"))
    slow = row_fn(model, train, test, BUDGET, gamma_star)
    return fast, slow


def assert_same_row(fast, slow, loss_rel=1e-6):
    assert fast.keys() == slow.keys()
    assert abs(fast["margin"] - slow["margin"]) <= 1e-13 * abs(slow["margin"])
    assert fast["norm"] == slow["norm"]
    assert fast["normalized_margin"] == pytest.approx(slow["normalized_margin"], rel=1e-13)
    for key in ("train_accuracy", "test_accuracy"):
        assert fast[key] == slow[key]
    for key in ("train_loss", "test_loss"):
        if slow[key] is None:
            assert fast[key] is None
        else:
            assert fast[key] == pytest.approx(slow[key], rel=loss_rel, abs=1e-9)
    if slow["margin_ratio"] is not None:
        assert fast["margin_ratio"] == pytest.approx(slow["margin_ratio"], rel=1e-13)


def test_population_layout():
    p, k = 5, 3
    train, test = split(p, k)
    model = PolyNet(p, k, 8, p)
    assert population_layout(model, train, test) is None            # small: below FAST_ROW_MIN_WORK
    evaluation_min = evaluation.FAST_ROW_MIN_WORK
    try:
        evaluation.FAST_ROW_MIN_WORK = 0
        labels, mask = population_layout(model, train, test)
        assert torch.equal(labels, ModularAddition(p, k).labels())
        assert int(mask.sum()) == len(train.y) and bool(mask[train.x @ torch.tensor([25, 5, 1])].all())
        missing = Batch(test.x[1:], test.y[1:])
        assert population_layout(model, train, missing) is None
        twice = Batch(torch.cat([test.x[1:], test.x[:1], test.x[:1]]), torch.cat([test.y[1:], test.y[:2]]))
        assert population_layout(model, train, Batch(twice.x[1:], twice.y[1:])) is None
        assert population_layout(PolyNet(p, k, 8, p, activation="relu"), train, test) is None
        assert population_layout(PolyNet(p, k, 8, p, degree=2), train, test) is None
    finally:
        evaluation.FAST_ROW_MIN_WORK = evaluation_min


@pytest.mark.parametrize("p,k,m,fraction", [(7, 2, 24, 0.5), (11, 3, 40, 0.5), (5, 4, 30, 0.3), (5, 3, 16, 1.0)])
def test_fast_margin_row_equals_float64_row(p, k, m, fraction, monkeypatch):
    train, test = split(p, k, fraction)
    model = PolyNet(p, k, m, p, seed=1)
    assert_same_row(*rows(margin_row, model, train, test, gamma_star_modadd(p, k), monkeypatch))


def test_fast_row_at_the_max_margin(monkeypatch):
    p, k = 5, 3
    train, test = split(p, k)
    fast, slow = rows(margin_row, construct_modadd(p, k, torch.float32), train, test, gamma_star_modadd(p, k),
                      monkeypatch)
    assert_same_row(fast, slow)
    assert fast["margin_ratio"] == pytest.approx(1.0, rel=1e-5)


def test_relu_row_falls_back_to_float64(monkeypatch):
    p = 7
    train, test = split(p, 2)
    model = PolyNet(p, 2, 16, p, activation="relu", seed=2)
    monkeypatch.setattr(evaluation, "FAST_ROW_MIN_WORK", 0)
    monkeypatch.setattr(evaluation, "screen_population", lambda *a, **kw: pytest.fail("screen on a ReLU net"))
    fast, slow = rows(margin_row, model, train, test, None, monkeypatch)
    assert fast == slow


@pytest.mark.parametrize("scale", [1.0, 2.2])   # 2.2: logit gaps ~27 (collapsed in float32), else ~0
def test_fast_collapse_row_streams_the_same_statistics(scale, monkeypatch):
    p, k = 5, 2
    train, test = split(p, k, 0.6)
    base = construct_modadd(p, k, torch.float32)
    model = PolyNet.from_weights(scale * base.embed.detach(), scale * base.unembed.detach())
    fast, slow = rows(margin_collapse_row, model, train, test, None, monkeypatch)
    assert_same_row(fast, slow)
    assert fast["sc_fraction"] == slow["sc_fraction"] == (1.0 if scale > 2 else 0.0)
    assert fast["max_logit_gap"] == pytest.approx(slow["max_logit_gap"], rel=1e-5)
    assert fast["nlm_cosine"] == pytest.approx(slow["nlm_cosine"], rel=1e-5, abs=1e-9)


def test_float64_collapse_row_keeps_its_own_pass(monkeypatch):
    p, k = 7, 2
    train, test = split(p, k)
    model = PolyNet(p, k, 12, p, seed=3, dtype=torch.float64, init_scale=4.0)
    fast, slow = rows(margin_collapse_row, model, train, test, None, monkeypatch)
    assert_same_row(fast, slow)
    for key in ("sc_fraction", "max_logit_gap", "nlm_cosine", "nlm_fraction"):
        assert fast[key] == slow[key]


def test_collapse_accumulator_over_chunks_equals_whole():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(300, 7, generator=gen) * 12
    y = torch.randint(0, 7, (300,), generator=gen)
    logits[:40] = 0.0
    logits[torch.arange(40), y[:40]] = 30.0                           # 40 collapsed rows
    acc = CollapseAccumulator()
    for start in range(0, 300, 64):
        acc.add(logits[start:start + 64], y[start:start + 64])
    whole, chunked = collapse_stats(logits, y), acc.stats()
    assert chunked["sc_fraction"] == whole["sc_fraction"] >= 40 / 300
    assert chunked["max_logit_gap"] == whole["max_logit_gap"]
    assert chunked["nlm_cosine"] == pytest.approx(whole["nlm_cosine"], rel=1e-12)


def test_trainer_rows_fast_and_float64_agree(monkeypatch):
    """A few li-recipe steps (minibatches, 50% split) on k = 3: the trainer's own row both ways."""
    cfg = resolve_config(recipe="li", p=7, k=3, width=24, steps=5, batch_size=64, device="cpu")
    trainer = Trainer(cfg, progress=False)
    for _ in range(5):
        trainer._take_step()
    monkeypatch.setattr(evaluation, "FAST_ROW_MIN_WORK", 0)
    fast = trainer._row(trainer.model, trainer.train, trainer.test, trainer.budget, trainer.gamma_star)
    monkeypatch.setattr(evaluation, "FAST_ROW_MIN_WORK", float("inf"))
    slow = trainer._row(trainer.model, trainer.train, trainer.test, trainer.budget, trainer.gamma_star)
    assert_same_row(fast, slow)
