"""ParityNet f(x) = Σ_i (u_i·x)^k w_i and its margins (docs/theory.md §2, §3)."""
import pytest
import torch

from fourier_circuits.analysis.fourier import significant_neurons
from fourier_circuits.models.margins import evaluate_margins, l2nu_norm, l2nu_norm_pow, normalized_margin
from fourier_circuits.models.parity import ParityNet, normalized_margin_parity
from fourier_circuits.tasks.parity import SparseParity


def test_forward_matches_definition():
    model = ParityNet(7, 5, 3, seed=1, dtype=torch.float64)
    x = SparseParity(7, 3).inputs(dtype=torch.float64)
    u, w = model.u, model.w
    expected = sum(((x @ u[i]) ** 3)[:, None] * w[i] for i in range(5))
    assert torch.allclose(model(x), expected, atol=1e-12)
    assert torch.allclose(model.logits(x.float()), expected, atol=1e-12)  # float inputs cast to weights' dtype
    assert model.nu == 4 and model.n_classes == 2 and model.width == 5 and model.degree == 3
    assert model.config() == dict(model="parity", n=7, width=5, k=3, n_classes=2)


def test_homogeneity_and_norms():
    model = ParityNet(6, 4, 2, seed=2, dtype=torch.float64)
    x = SparseParity(6, 2).inputs()
    alpha = 1.7
    scaled = ParityNet.from_weights(alpha * model.u.detach(), alpha * model.w.detach(), 2)
    assert torch.allclose(scaled(x), alpha**3 * model(x), rtol=1e-12)
    sq = model.u.detach().pow(2).sum(1) + model.w.detach().pow(2).sum(1)
    assert torch.allclose(model.neuron_sq_norms().detach(), sq)
    assert float(l2nu_norm_pow(model).detach()) == pytest.approx(float(sq.pow(1.5).sum()), rel=1e-12)
    assert l2nu_norm(scaled) == pytest.approx(alpha * l2nu_norm(model), rel=1e-12)
    assert significant_neurons(model).all()


def test_margins_module_works_on_parity_net():
    task = SparseParity(6, 2, support=[1, 4])
    model = ParityNet(6, 3, 2, seed=0)   # float32 weights: evaluated in float64 by margins
    x, y = task.inputs(), task.labels()
    with torch.no_grad():
        logits = model.forward_with(model.embed.double(), model.unembed.double(), x)
    correct = logits.gather(1, y[:, None]).squeeze(1)
    h = float((correct - logits.gather(1, (1 - y)[:, None]).squeeze(1)).min())
    out = evaluate_margins(model, x, y)
    assert out["margin"] == pytest.approx(h, rel=1e-12, abs=1e-12)
    nm = normalized_margin(model, x, y)
    assert nm == pytest.approx(h / l2nu_norm(model) ** 3, rel=1e-9)
    assert normalized_margin_parity(model, task) == pytest.approx(nm, rel=1e-12)


def test_from_weights_validates_shapes():
    with pytest.raises(ValueError):
        ParityNet.from_weights(torch.zeros(3, 5), torch.zeros(3, 3), 2)
