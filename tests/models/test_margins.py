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


# ----------------------------------------------------------------------------------------------------
# The float32 screen (screen_population): exact to float64 where it matters, and a bound that bounds.

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from fourier_circuits.models.margins import (  # noqa: E402
    _screen_tiles,
    population_index,
    screen_applies,
    screen_population,
)
from fourier_circuits.theory.modadd import construct_modadd  # noqa: E402


def random_mask(n, seed=0, fraction=0.5):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, generator=gen) < fraction


def reference(model, p, k, mask):
    """The old row: evaluate_margins (float64) on the train and the test rows."""
    task = ModularAddition(p, k)
    x, y = task.inputs(), task.labels()
    train = evaluate_margins(model, x[mask], y[mask])
    test = evaluate_margins(model, x[~mask], y[~mask]) if (~mask).any() else None
    return train, test


def assert_matches(model, p, k, mask, block=None):
    y = ModularAddition(p, k).labels()
    got = screen_population(model, y, mask, block=block)
    train, test = reference(model, p, k, mask)
    assert abs(got["margin"] - train["margin"]) <= 1e-13 * abs(train["margin"])
    assert got["train"]["accuracy"] == train["accuracy"]
    assert got["train"]["loss"] == pytest.approx(train["loss"], rel=1e-6, abs=1e-9)
    if test is not None:
        assert got["test"]["accuracy"] == test["accuracy"]
        assert got["test"]["loss"] == pytest.approx(test["loss"], rel=1e-6, abs=1e-9)
    return got


def perturbed_construction(p, k, noise, seed=0):
    """The max-margin network of docs/theory.md §6 plus Gaussian noise: nearly tied margins, as late in training."""
    net = construct_modadd(p, k, torch.float32)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for q in net.parameters():
            q.add_(noise * q.abs().mean() * torch.randn(q.shape, generator=gen))
    return net


@pytest.mark.parametrize("p,k,m,seed,scale", [(7, 2, 16, 0, 1.0), (11, 2, 50, 1, 3.0), (11, 3, 40, 2, 1.0),
                                              (13, 3, 64, 3, 0.3), (5, 4, 30, 4, 1.0), (7, 4, 12, 5, 2.0),
                                              (5, 5, 20, 6, 1.0), (3, 5, 9, 7, 1.0)])
@pytest.mark.parametrize("block", [None, 4])
def test_screen_matches_float64_random_init(p, k, m, seed, scale, block):
    assert_matches(PolyNet(p, k, m, p, seed=seed, init_scale=scale), p, k, random_mask(p**k, seed), block)


@pytest.mark.parametrize("p,k,noise", [(5, 2, 1e-3), (7, 2, 1e-5), (5, 3, 1e-4), (5, 4, 1e-3)])
def test_screen_matches_float64_near_max_margin(p, k, noise):
    got = assert_matches(perturbed_construction(p, k, noise), p, k, random_mask(p**k, 1))
    assert got["train"]["accuracy"] == 1.0 and got["margin"] > 0


@pytest.mark.parametrize("p,k", [(5, 2), (7, 2), (5, 3), (3, 4)])
def test_screen_exact_on_the_max_margin_construction(p, k):
    """Every row tied (the screen's worst case): every train row is a candidate, the margin is still exact."""
    net = construct_modadd(p, k, torch.float32)
    mask = random_mask(p**k, 2)
    got = assert_matches(net, p, k, mask)
    assert got["min_candidates"] == int(mask.sum())
    assert got["margin"] == pytest.approx(p / 2, rel=1e-5)     # logits (p·1[c = Σa] − 1)/2
    full = torch.ones(p**k, dtype=torch.bool)                   # no test set (train_fraction = 1)
    got = screen_population(net, ModularAddition(p, k).labels(), full)
    assert got["margin"] == evaluate_margins(net, ModularAddition(p, k).inputs(), ModularAddition(p, k).labels())["margin"]
    assert got["test"] == {"accuracy": None, "loss": None}


def test_screen_float64_model_and_candidates_few_on_random_init():
    p, k = 11, 3
    net = PolyNet(p, k, 48, p, seed=8, dtype=torch.float64)     # weights rounded to float32 in the screen
    got = assert_matches(net, p, k, random_mask(p**k, 3))
    assert got["min_candidates"] <= 3 and got["candidates"] < 0.05 * p**k


def test_screen_overflow_returns_none():
    net = PolyNet(5, 4, 8, 5, seed=0, init_scale=1e12)           # z^4 ~ 1e48 overflows float32
    assert screen_population(net, ModularAddition(5, 4).labels(), random_mask(625)) is None


def test_screen_applies_only_to_z_to_the_k():
    assert screen_applies(PolyNet(5, 3, 4, 5))
    assert not screen_applies(PolyNet(5, 2, 4, 5, activation="relu"))
    assert not screen_applies(PolyNet(5, 2, 4, 5, degree=3))
    assert not screen_applies(PolyNet(5, 1, 4, 5))


def test_population_index_is_lexicographic():
    x = ModularAddition(5, 3).inputs()
    assert torch.equal(population_index(x, 5), torch.arange(125))


def bound_ratios(net):
    """max over rows of |f̂ − f̃|_∞ / e over all tiles (f̃ the float64 reference forward)."""
    p, k = net.vocab_size, net.n_inputs
    x = (torch.arange(p**k)[:, None] // p ** torch.arange(k - 1, -1, -1)) % p    # Z_p^k, lexicographic
    e64, w64 = net.embed.detach().double(), net.unembed.detach().double()
    worst, seen = 0.0, torch.zeros(p**k, dtype=torch.long)
    for rows, f, e in _screen_tiles(net):
        err = (f.double() - net.forward_with(e64, w64, x[rows])).abs().amax(1)
        worst = max(worst, float((err / e).max()))
        seen[rows] += 1
    assert torch.all(seen == 1)                                  # the tiles cover the population once
    return worst


@settings(max_examples=25, deadline=None)
@given(p=st.integers(2, 7), k=st.integers(2, 4), m=st.integers(1, 40), seed=st.integers(0, 10**6),
       log_scale=st.floats(-3, 3), dtype=st.sampled_from([torch.float32, torch.float64]))
def test_rounding_bound_holds(p, k, m, seed, log_scale, dtype):
    """|f̂_c − f̃_c| ≤ e_r on every row and class, for any weights (float32 or rounded from float64)."""
    net = PolyNet(p, k, m, p, seed=seed, init_scale=10.0**log_scale, dtype=dtype)
    assert bound_ratios(net) <= 1.0


@pytest.mark.parametrize("p,k,m", [(7, 2, 64), (11, 3, 96), (5, 4, 200)])
def test_rounding_bound_is_not_loose(p, k, m):
    """The bound is within 1e3 of the worst actual error: divided by 1e3, it would fail."""
    assert 1e-3 < bound_ratios(PolyNet(p, k, m, p, seed=11)) <= 1.0
