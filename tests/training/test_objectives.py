"""training.objectives: the softmin loss bounds the normalized margin, and its hand-written gradient equals
autograd's."""
import math

import pytest
import torch

from fourier_circuits.models.margins import evaluate_margins, l2nu_norm, l2nu_norm_pow
from fourier_circuits.tasks.modadd import ModularAddition
from fourier_circuits.training.config import resolve_config
from fourier_circuits.training.objectives import cross_entropy64, softmin_loss, softmin_value_and_grad
from fourier_circuits.training.schedules import temperature
from fourier_circuits.training.trainer import Trainer


def test_softmin_loss_lower_bounds_normalized_margin():
    """−L ≤ h/‖θ‖^ν ≤ −L + s·log(N(p−1))/τ, before and after training."""
    cfg = resolve_config(p=5, k=2, width=16, dtype="float64", steps=100)
    t = Trainer(cfg, None, progress=False)
    task = ModularAddition(5, 2)
    x, y = task.inputs(), task.labels()
    for _ in range(2):
        nm = evaluate_margins(t.model, x, y)["margin"] / l2nu_norm(t.model) ** t.nu
        for step in (0, 50, 100):
            tau = temperature(cfg, step)
            loss = float(softmin_loss(t.model.logits(None), y, l2nu_norm_pow(t.model).detach(), 0.7, tau))
            assert -loss <= nm + 1e-12
            assert nm + loss <= 0.7 * math.log(25 * 4) / tau + 1e-12
        t.run()  # now trained: the bound still holds


@pytest.mark.parametrize("p,k,width,trained", [(5, 2, 16, False), (7, 3, 24, False), (5, 2, 16, True)])
def test_softmin_gradient_by_hand_matches_autograd(p, k, width, trained):
    """`softmin_value_and_grad` (loss, ∂L/∂f, and the ‖θ‖^ν path in .grad) = autograd through `softmin_loss`."""
    cfg = resolve_config(p=p, k=k, width=width, dtype="float64", steps=60)
    t = Trainer(cfg, None, progress=False)
    if trained:
        t.run()                                    # all gaps positive: E < 0 throughout
    y = ModularAddition(p, k).labels()
    for s, tau in ((1.3, 1.0), (0.4, 17.0)):
        t.model.zero_grad(set_to_none=True)
        logits = t.model.logits(None).requires_grad_()
        loss = softmin_loss(logits, y, l2nu_norm_pow(t.model), s, tau)
        loss.backward()
        ref = float(loss.detach()), logits.grad.clone(), [q.grad.clone() for q in t.model.parameters()]
        t.model.zero_grad(set_to_none=True)
        got_loss, got_grad = softmin_value_and_grad(t.model.logits(None), y, l2nu_norm_pow(t.model), s, tau)
        assert got_loss == pytest.approx(ref[0], rel=1e-12, abs=1e-15)
        torch.testing.assert_close(got_grad, ref[1], rtol=1e-10, atol=1e-14)
        for a, b in zip((q.grad for q in t.model.parameters()), ref[2]):
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-14)
        assert float(ref[2][0].abs().max()) > 0


def test_cross_entropy64_is_float64_and_matches_torch():
    logits = torch.randn(7, 5, dtype=torch.float32)
    y = torch.arange(7) % 5
    loss = cross_entropy64(logits, y)
    assert loss.dtype == torch.float64
    assert float(loss) == pytest.approx(float(torch.nn.functional.cross_entropy(logits.double(), y)), rel=1e-15)
