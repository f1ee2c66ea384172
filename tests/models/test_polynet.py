"""PolyNet: forward, fused logits / backward_from_logits against autograd, homogeneity."""

import pytest
import torch

from fourier_circuits.models.passes.chunked import population_split
from fourier_circuits.models.polynet import PolyNet
from fourier_circuits.tasks.modadd import ModularAddition


def net(p, k, m, activation="poly", degree=None, seed=0, dtype=torch.float64):
    return PolyNet(p, k, m, p, activation, degree, init_scale=1.0, seed=seed, dtype=dtype)


def hand_forward(model, x):
    """Σ_i σ(Σ_j u_{i,j}[x_j]) w_i[c] by explicit loops over neurons (float64)."""
    e, w = model.embed.detach().double(), model.unembed.detach().double()
    out = torch.zeros(x.shape[0], w.shape[1], dtype=torch.float64)
    for i in range(model.width):
        z = sum(e[j, x[:, j], i] for j in range(model.n_inputs))
        h = z.clamp(min=0) if model.activation == "relu" else z**model.degree
        out += h[:, None] * w[i][None, :]
    return out


@pytest.mark.parametrize("p,k,m,act,deg", [(5, 2, 7, "poly", None), (3, 3, 4, "poly", None), (5, 2, 6, "relu", None),
                                           (5, 3, 5, "poly", 2)])
def test_forward_shape_and_value(p, k, m, act, deg):
    model = net(p, k, m, act, deg)
    x = ModularAddition(p, k).inputs()
    out = model(x)
    assert out.shape == (p**k, p) and out.dtype == torch.float64
    assert torch.allclose(out, hand_forward(model, x), rtol=1e-12, atol=1e-12)


def test_storage_shapes_and_config():
    model = net(7, 3, 9)
    assert model.embed.shape == (3, 7, 9) and model.unembed.shape == (9, 7)
    assert model.neuron_embeddings().shape == (9, 3, 7)
    assert torch.equal(model.neuron_embeddings()[2, 1], model.embed[1, :, 2])
    expected = dict(vocab_size=7, n_inputs=3, width=9, n_classes=7, activation="poly", degree=3)
    assert {k: model.config()[k] for k in expected} == expected
    sq = model.neuron_sq_norms()
    assert torch.allclose(sq[4], model.embed[:, :, 4].pow(2).sum() + model.unembed[4].pow(2).sum())


def test_seed_determines_init():
    assert torch.equal(net(5, 2, 4, seed=1).embed, net(5, 2, 4, seed=1).embed)
    assert not torch.equal(net(5, 2, 4, seed=1).embed, net(5, 2, 4, seed=2).embed)
    f32 = PolyNet(5, 2, 4, 5, seed=1)
    assert f32.embed.dtype == torch.float32
    assert torch.equal(f32.embed, net(5, 2, 4, seed=1).embed.float())


@pytest.fixture(params=["chunked", "binomial", "polarization"])
def population_pass(request, monkeypatch):
    """Run a population test through each pass where it exists (binomial: z^d, d ≥ 2; polarization: z^k)."""
    def chosen(self: PolyNet, budget_rows: int = 1 << 20) -> str:
        poly = self.activation == "poly"
        if request.param == "polarization" and poly and self.degree == self.n_inputs:
            return "polarization"
        return "binomial" if request.param == "binomial" and poly and self.degree >= 2 else "chunked"
    monkeypatch.setattr(PolyNet, "population_pass", chosen)
    return request.param


@pytest.mark.parametrize("p,k,act,deg", [(5, 2, "poly", None), (3, 3, "poly", None), (3, 4, "poly", None),
                                         (5, 2, "relu", None), (3, 3, "relu", None), (5, 2, "poly", 3),
                                         (3, 3, "poly", 1), (3, 3, "poly", 2)])
@pytest.mark.parametrize("budget", [1, 2, 5, 9, 10, 20, 1 << 20])
def test_logits_population_matches_forward(p, k, act, deg, budget, population_pass):
    model = net(p, k, 6, act, deg)
    x = ModularAddition(p, k).inputs()
    assert torch.allclose(model.logits(None, budget), model(x), rtol=1e-12, atol=1e-12)
    assert torch.allclose(model.logits(x, budget), model(x), rtol=1e-12, atol=1e-12)


def test_logits_float32_and_no_graph():
    model = PolyNet(5, 2, 8, 5, seed=3)
    x = ModularAddition(5, 2).inputs()
    out = model.logits(None)
    assert out.dtype == torch.float32 and not out.requires_grad
    assert torch.allclose(out, model(x).detach(), rtol=1e-5, atol=1e-6)


def test_logits_gather_subset():
    model = net(5, 3, 6)
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 5, (37, 3), generator=gen)
    for budget in (1, 3, 7, 1 << 20):
        assert torch.allclose(model.logits(x, budget), model(x), rtol=1e-12, atol=1e-12)


def autograd_grads(model, x, g):
    model.zero_grad(set_to_none=True)
    (model(x) * g).sum().backward()
    grads = model.embed.grad.clone(), model.unembed.grad.clone()
    model.zero_grad(set_to_none=True)
    return grads


def fused_grads(model, x, g, budget):
    model.zero_grad(set_to_none=True)
    model.backward_from_logits(x, g, budget)
    grads = model.embed.grad.clone(), model.unembed.grad.clone()
    model.zero_grad(set_to_none=True)
    return grads


CASES = [(5, 2, "poly", None), (3, 3, "poly", None), (5, 3, "poly", None), (3, 4, "poly", None), (3, 5, "poly", None),
         (5, 2, "relu", None), (3, 3, "relu", None), (3, 4, "relu", None),
         (5, 2, "poly", 3), (5, 2, "poly", 1), (3, 3, "poly", 2), (3, 3, "poly", 4), (3, 4, "poly", 2)]


@pytest.mark.parametrize("p,k,act,deg", CASES)
@pytest.mark.parametrize("budget", [1, 3, 4, 5, 10, 26, 1 << 20])
def test_backward_population_matches_autograd(p, k, act, deg, budget, population_pass):
    """x=None path: budgets cover split = k−1 (> 1 for k ≥ 3), one-prefix blocks, uneven last block, one chunk."""
    model = net(p, k, 5, act, deg, seed=7)
    x = ModularAddition(p, k).inputs()
    g = torch.randn(p**k, p, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    ref = autograd_grads(model, x, g)
    got = fused_grads(model, None, g, budget)
    for a, b in zip(got, ref):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-10), (a - b).abs().max()


@pytest.mark.parametrize("p,k,act,deg", CASES)
@pytest.mark.parametrize("budget", [1, 3, 16, 1 << 20])
def test_backward_gather_matches_autograd(p, k, act, deg, budget):
    model = net(p, k, 5, act, deg, seed=11)
    gen = torch.Generator().manual_seed(2)
    x = torch.randint(0, p, (23, k), generator=gen)  # with repeated rows
    x = torch.cat([x, x[:4]])
    g = torch.randn(x.shape[0], p, generator=gen, dtype=torch.float64)
    ref = autograd_grads(model, x, g)
    got = fused_grads(model, x, g, budget)
    for a, b in zip(got, ref):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-10), (a - b).abs().max()


def test_population_pass_is_chosen_where_it_pays():
    """Measured on 2 CPU cores: polarization for z^k, k ≥ 3, when 5 Σ_S p^|S| ≤ p^k; else binomial for z^d
    when n_suffix ≥ 3(d−1)p and p^k·m ≥ 2^20; else chunked."""
    def chosen(p, k, m, **kw):
        return PolyNet(p, k, m, p, **kw).population_pass()
    assert chosen(31, 3, 480) == "polarization"                           # 1.6× faster than binomial
    assert chosen(23, 3, 352) == "polarization"                           # 1.6×
    assert chosen(13, 4, 768) == "binomial"                               # the g_S are 35% of the rows
    assert chosen(5, 5, 1024) == "binomial"                               # 1.6× faster than chunked
    assert chosen(71, 2, 500) == "chunked"                                # k = 2: polarization 0.3×, binomial 0.3×
    assert chosen(3, 6, 2048) == "chunked"                                # d − 1 = 5× the FLOPs: 0.8×
    assert chosen(11, 3, 160) == "chunked"                                # tiny
    assert chosen(31, 3, 480, degree=2) == "binomial"                     # d ≠ k: no polarization
    assert chosen(31, 3, 480, activation="relu") == "chunked"
    assert chosen(31, 3, 480, degree=1) == "chunked"
    assert PolyNet(31, 3, 480, 31).population_pass(budget_rows=960) == "binomial"   # p^2 rows do not fit


def test_population_split_choices():
    model = net(3, 4, 2)
    assert population_split(model, 1 << 20) == 1
    assert population_split(model, 27) == 1
    assert population_split(model, 26) == 2
    assert population_split(model, 9) == 2
    assert population_split(model, 3) == 3
    assert population_split(model, 1) == 3


def test_backward_accumulates_into_existing_grad():
    model = net(5, 2, 4)
    x = ModularAddition(5, 2).inputs()
    g = torch.randn(25, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ref = autograd_grads(model, x, g)
    model.zero_grad(set_to_none=True)
    model.backward_from_logits(None, g, 7)
    model.backward_from_logits(x, g, 7)
    assert torch.allclose(model.embed.grad, 2 * ref[0]) and torch.allclose(model.unembed.grad, 2 * ref[1])


def test_backward_of_cross_entropy_matches_autograd_float32():
    model = PolyNet(7, 2, 12, 7, seed=4)
    task = ModularAddition(7, 2)
    x, y = task.inputs(), task.labels()
    logits = model.logits(None).requires_grad_()
    torch.nn.functional.cross_entropy(logits, y).backward()
    model.backward_from_logits(None, logits.grad, 10)
    fused = model.embed.grad.clone(), model.unembed.grad.clone()
    model.zero_grad(set_to_none=True)
    torch.nn.functional.cross_entropy(model(x), y).backward()
    assert torch.allclose(fused[0], model.embed.grad, rtol=1e-4, atol=1e-6)
    assert torch.allclose(fused[1], model.unembed.grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("k,act,deg,nu", [(2, "poly", None, 3), (3, "poly", None, 4), (4, "poly", None, 5),
                                          (2, "poly", 5, 6), (3, "poly", 1, 2), (2, "relu", None, 2),
                                          (3, "relu", 4, 2)])
@pytest.mark.parametrize("alpha", [0.5, 3.0])
def test_homogeneity(k, act, deg, nu, alpha):
    p = 3 if k >= 4 else 5
    model = net(p, k, 6, act, deg)
    assert model.nu == nu
    scaled = PolyNet.from_weights(alpha * model.embed.detach(), alpha * model.unembed.detach(), act, deg)
    x = ModularAddition(p, k).inputs()
    assert torch.allclose(scaled(x), alpha**nu * model(x), rtol=1e-11, atol=1e-12)


def test_relu_not_homogeneous_for_negative_scale():
    model = net(5, 2, 6, "relu")
    x = ModularAddition(5, 2).inputs()
    flipped = PolyNet.from_weights(-model.embed.detach(), -model.unembed.detach(), "relu")
    assert not torch.allclose(flipped(x), model(x))


def test_degree_property():
    assert net(5, 3, 2).degree == 3 and net(5, 3, 2).nu == 4
    assert net(5, 3, 2, degree=2).nu == 3
    relu = net(5, 3, 2, "relu", degree=5)
    assert relu.degree == 1 and relu.nu == 2 and relu.config()["degree"] is None


@pytest.mark.parametrize("width", [0, -3])
def test_width_below_one_raises(width):
    with pytest.raises(ValueError, match=str(width)):
        PolyNet(5, 2, width, 5)


def test_bad_activation_raises():
    with pytest.raises(ValueError, match="tanh"):
        PolyNet(5, 2, 3, 5, activation="tanh")


def test_from_weights_roundtrip():
    model = net(5, 3, 4, degree=2)
    copy = PolyNet.from_weights(model.embed.detach(), model.unembed.detach(), "poly", 2)
    assert copy.config() == model.config()
    x = ModularAddition(5, 3).inputs()
    assert torch.equal(copy(x), model(x))
    assert torch.equal(copy.embed, model.embed)
