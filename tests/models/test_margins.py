"""Norms and margins: definitions by hand, homogeneity invariance, float64 evaluation, chunking."""
import math

import numpy as np
import pytest
import torch

from fourier_circuits.models.margins import (
    chunk_rows,
    class_weighted_margins,
    evaluate_margins,
    l2nu_norm,
    l2nu_norm_pow,
    normalized_margin,
    point_margins,
)
from fourier_circuits.models.polynet import PolyNet
from fourier_circuits.tasks.modadd import ModularAddition


def hand_norm(model, nu):
    e = model.embed.detach().double().numpy()
    w = model.unembed.detach().double().numpy()
    total = 0.0
    for i in range(model.width):
        sq = sum(float(np.sum(e[j, :, i] ** 2)) for j in range(model.n_inputs)) + float(np.sum(w[i] ** 2))
        total += sq ** (nu / 2)
    return total ** (1 / nu)


def hand_margin(model, p, k):
    """min over the population of f[y] − max_{c≠y} f[c], computed with numpy in float64."""
    e = model.embed.detach().double().numpy()
    w = model.unembed.detach().double().numpy()
    x = ModularAddition(p, k).inputs().numpy()
    y = x.sum(1) % p
    z = sum(e[j][x[:, j]] for j in range(k))
    h = np.maximum(z, 0) if model.activation == "relu" else z**model.degree
    f = h @ w
    correct = f[np.arange(len(y)), y]
    others = f.copy()
    others[np.arange(len(y)), y] = -np.inf
    return float(np.min(correct - others.max(1))), f


@pytest.mark.parametrize("k,act,nu", [(2, "poly", 3), (3, "poly", 4), (2, "relu", 2)])
def test_l2nu_norm_by_hand(k, act, nu):
    model = PolyNet(5, k, 7, 5, act, seed=3, dtype=torch.float64)
    assert model.nu == nu
    assert l2nu_norm(model) == pytest.approx(hand_norm(model, nu), rel=1e-13)
    assert float(l2nu_norm_pow(model).detach()) == pytest.approx(hand_norm(model, nu) ** nu, rel=1e-12)
    assert l2nu_norm(model, nu=2.0) == pytest.approx(hand_norm(model, 2.0), rel=1e-13)
    assert l2nu_norm(model, nu=5) == pytest.approx(hand_norm(model, 5), rel=1e-13)


def test_l2nu_norm_explicit_numbers():
    # two neurons: θ_1 has squared norm 1+4+9+0 = 14... build it explicitly
    embed = torch.zeros(2, 3, 2, dtype=torch.float64)
    unembed = torch.zeros(2, 3, dtype=torch.float64)
    embed[0, 0, 0], embed[1, 2, 0], unembed[0, 1] = 1.0, 2.0, 2.0      # ‖θ_1‖² = 1 + 4 + 4 = 9
    embed[0, 1, 1], unembed[1, 0] = 3.0, 4.0                            # ‖θ_2‖² = 9 + 16 = 25
    model = PolyNet.from_weights(embed, unembed)
    assert model.nu == 3
    assert float(l2nu_norm_pow(model).detach()) == pytest.approx(27 + 125)
    assert l2nu_norm(model) == pytest.approx(152 ** (1 / 3), rel=1e-14)


def test_l2nu_norm_pow_is_differentiable():
    model = PolyNet(5, 2, 4, 5, dtype=torch.float64)
    l2nu_norm_pow(model).backward()
    # ∂/∂θ Σ_i ‖θ_i‖^3 = 3 ‖θ_i‖ θ_i
    norms = model.neuron_sq_norms().detach().sqrt()
    assert torch.allclose(model.unembed.grad, 3 * norms[:, None] * model.unembed.detach())


def test_point_margins_hand_example():
    logits = torch.tensor([[3.0, 1.0, 2.0], [0.0, 5.0, 5.0], [1.0, -2.0, 4.0]], dtype=torch.float64)
    assert point_margins(logits, torch.tensor([0, 1, 2])).tolist() == [1.0, 0.0, 3.0]
    assert point_margins(logits, torch.tensor([2, 0, 1])).tolist() == [-1.0, -5.0, -6.0]


def test_class_weighted_hand_example():
    logits = torch.tensor([[3.0, 1.0, 2.0]], dtype=torch.float64)
    assert class_weighted_margins(logits, torch.tensor([0])).tolist() == [1.5]
    tau = torch.tensor([[0.9, 0.25, 0.75]], dtype=torch.float64)  # entry at the label is ignored
    assert class_weighted_margins(logits, torch.tensor([0]), tau).tolist() == [3 - 0.25 - 1.5]


def test_class_weighted_at_least_point_margin():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(200, 7, generator=gen, dtype=torch.float64)
    labels = torch.randint(0, 7, (200,), generator=gen)
    g = point_margins(logits, labels)
    assert torch.all(class_weighted_margins(logits, labels) >= g - 1e-12)
    tau = torch.rand(200, 7, generator=gen, dtype=torch.float64)
    tau = tau.scatter(1, labels[:, None], 0.0)
    tau = tau / tau.sum(1, keepdim=True)
    assert torch.all(class_weighted_margins(logits, labels, tau) >= g - 1e-12)
    # τ concentrated on the worst wrong class gives equality
    worst = logits.scatter(1, labels[:, None], float("-inf")).argmax(1)
    onehot = torch.nn.functional.one_hot(worst, 7).double()
    assert torch.allclose(class_weighted_margins(logits, labels, onehot), g)


@pytest.mark.parametrize("k,act,deg", [(2, "poly", None), (3, "poly", None), (2, "relu", None), (2, "poly", 3)])
@pytest.mark.parametrize("alpha", [0.1, 7.0])
def test_normalized_margin_scale_invariant(k, act, deg, alpha):
    p = 5
    task = ModularAddition(p, k)
    x, y = task.inputs(), task.labels()
    model = PolyNet(p, k, 9, p, act, deg, seed=5, dtype=torch.float64)
    scaled = PolyNet.from_weights(alpha * model.embed.detach(), alpha * model.unembed.detach(), act, deg)
    nm, nm_scaled = normalized_margin(model, x, y), normalized_margin(scaled, x, y)
    assert nm != 0
    assert nm_scaled == pytest.approx(nm, rel=1e-10)
    # but the raw margin scales with α^ν
    h, h_scaled = evaluate_margins(model, x, y)["margin"], evaluate_margins(scaled, x, y)["margin"]
    assert h_scaled == pytest.approx(alpha**model.nu * h, rel=1e-10)
    assert nm == pytest.approx(h / l2nu_norm(model) ** model.nu, rel=1e-14)


@pytest.mark.parametrize("act", ["poly", "relu"])
def test_evaluation_is_float64_for_float32_model(act):
    p, k = 7, 2
    task = ModularAddition(p, k)
    x, y = task.inputs(), task.labels()
    model = PolyNet(p, k, 16, p, act, seed=2, init_scale=3.0)  # float32 parameters
    assert model.embed.dtype == torch.float32
    res = evaluate_margins(model, x, y)
    assert isinstance(res["margin"], float) and isinstance(res["loss"], float)
    assert isinstance(res["accuracy"], float)
    h, f = hand_margin(model, p, k)
    assert abs(res["margin"] - h) <= 1e-12 * max(1.0, abs(h))
    # a float32 evaluation would be off by ~1e-7 relative: make sure the check above could tell
    f32 = point_margins(model(x).detach(), y).min().item()
    assert abs(f32 - h) > 1e-12 * max(1.0, abs(h))
    ce = torch.nn.functional.cross_entropy(torch.from_numpy(f), y)
    assert res["loss"] == pytest.approx(float(ce), rel=1e-12)
    assert res["accuracy"] == pytest.approx(float((torch.from_numpy(f).argmax(1) == y).double().mean()))
    assert f.shape == (p * p, p)


@pytest.mark.parametrize("act", ["poly", "relu"])
def test_norm_and_normalized_margin_are_float64_for_float32_model(act):
    p, k = 7, 2
    task = ModularAddition(p, k)
    x, y = task.inputs(), task.labels()
    model = PolyNet(p, k, 16, p, act, seed=2, init_scale=3.0)
    exact_norm = hand_norm(model, model.nu)
    assert abs(l2nu_norm(model) / exact_norm - 1) < 1e-13
    h, _ = hand_margin(model, p, k)
    nm = normalized_margin(model, x, y)
    assert isinstance(nm, float)
    assert abs(nm / (h / exact_norm ** model.nu) - 1) < 1e-12


@pytest.mark.parametrize("k", [2, 3])
def test_chunked_equals_unchunked(k):
    p = 5
    task = ModularAddition(p, k)
    x, y = task.inputs(), task.labels()
    model = PolyNet(p, k, 6, p, seed=9)
    assert chunk_rows(6, budget_bytes=1) == 1
    assert chunk_rows(6, budget_bytes=3 * 8 * 6 * 10) == 10
    full = evaluate_margins(model, x, y)
    for budget in (1, 3 * 8 * 6 * 7, 3 * 8 * 6 * 10):
        part = evaluate_margins(model, x, y, budget_bytes=budget)
        assert part["margin"] == full["margin"]
        assert part["accuracy"] == full["accuracy"]
        assert part["loss"] == pytest.approx(full["loss"], rel=1e-12)
    assert normalized_margin(model, x, y, budget_bytes=1) == normalized_margin(model, x, y)


def test_perfect_classifier_margin_positive_and_accuracy_one():
    from fourier_circuits.theory.modadd import construct_modadd
    task = ModularAddition(5, 2)
    res = evaluate_margins(construct_modadd(5, 2), task.inputs(), task.labels())
    assert res["accuracy"] == 1.0 and res["margin"] > 0
    assert math.isfinite(res["loss"])
