"""Closed-form γ*, width bound, and the explicit max-margin construction (docs/theory.md §4, §6)."""
import math

import pytest
import torch

from fourier_circuits.errors import TaskError
from fourier_circuits.models.margins import l2nu_norm, normalized_margin
from fourier_circuits.models.polynet import PolyNet
from fourier_circuits.tasks.modadd import ModularAddition
from fourier_circuits.theory.modadd import (
    construct_modadd,
    gamma_star_modadd,
    min_width_modadd,
    rebalance,
    theory_modadd,
)


@pytest.mark.parametrize("p,k,value,rel", [(71, 2, 4.6143008e-4, 1e-7), (23, 2, 2.57957e-3, 2e-6),
                                           (97, 3, 2.0135e-5, 3e-5), (47, 4, 1.0241e-5, 5e-5)])
def test_gamma_star_reference_values(p, k, value, rel):
    assert gamma_star_modadd(p, k) == pytest.approx(value, rel=rel)


@pytest.mark.parametrize("p", [3, 5, 7, 11, 23, 71, 97])
def test_gamma_star_special_forms(p):
    assert gamma_star_modadd(p, 2) == pytest.approx(math.sqrt(2 / 27) / (math.sqrt(p) * (p - 1)), rel=1e-13)
    assert gamma_star_modadd(p, 3) == pytest.approx(3 / (16 * p * (p - 1)), rel=1e-13)


@pytest.mark.parametrize("p,k", [(5, 2), (7, 3), (11, 4), (5, 5), (13, 2)])
def test_gamma_star_general_formula(p, k):
    """A second method: the class LP of docs/theory.md §8 over C_p (HiGHS; it never reads the closed form)."""
    from fourier_circuits.theory.solver.lp import class_lp
    assert gamma_star_modadd(p, k) == pytest.approx(class_lp(f"C{p}", k)["gamma_star"], rel=1e-9)


def test_gamma_star_by_hand():
    """k = 5, p = 5 by hand: 2·5! / (12^3 · 4 · 5^2) = 240 / 172800 = 1/720; k = 4, p = 11:
    2·4! / (10^2.5 · 10 · 11^1.5) = 48 / (10^3.5 · 11^1.5)."""
    assert gamma_star_modadd(5, 5) == pytest.approx(1 / 720, rel=1e-14)
    assert gamma_star_modadd(11, 4) == pytest.approx(48 / (10**3.5 * 11**1.5), rel=1e-14)


@pytest.mark.parametrize("p,k,m", [(5, 2, 16), (71, 2, 280), (7, 3, 96), (47, 4, 2944), (23, 5, 5632)])
def test_min_width(p, k, m):
    assert min_width_modadd(p, k) == m == 2 ** (2 * k - 2) * (p - 1)


def test_theory_dict():
    """The values printed for p = 71 (γ* = 4.6143008e-4, m = 4(p−1) = 280) and k = 3's 3/(16 p (p−1))."""
    assert theory_modadd(71, 2) == {"task": "modadd", "p": 71, "k": 2, "nu": 3, "min_width": 280,
                                    "gamma_star": pytest.approx(4.6143008e-4, rel=1e-7)}
    assert theory_modadd(7, 3) == {"task": "modadd", "p": 7, "k": 3, "nu": 4, "min_width": 16 * 6,
                                   "gamma_star": pytest.approx(3 / (16 * 7 * 6), rel=1e-14)}


@pytest.mark.parametrize("fn", [gamma_star_modadd, min_width_modadd, construct_modadd])
def test_theory_validates(fn):
    with pytest.raises(TaskError, match="9"):
        fn(9, 2)
    with pytest.raises(TaskError, match="k=1"):
        fn(7, 1)


@pytest.mark.parametrize("p,k", [(5, 2), (11, 2), (7, 3), (5, 4), (71, 2),
                                 pytest.param(23, 3, marks=pytest.mark.slow),
                                 pytest.param(97, 3, marks=pytest.mark.slow)])
def test_construction_reaches_gamma_star(p, k):
    model = construct_modadd(p, k)
    task = ModularAddition(p, k)
    assert model.width == min_width_modadd(p, k)
    assert model.embed.dtype == torch.float64 and model.nu == k + 1
    nm = normalized_margin(model, task.inputs(), task.labels())
    assert abs(nm / gamma_star_modadd(p, k) - 1) < 1e-9


@pytest.mark.parametrize("p,k", [(5, 2), (7, 3), (5, 4)])
def test_construction_logits_and_balance(p, k):
    model = construct_modadd(p, k)
    task = ModularAddition(p, k)
    logits = model(task.inputs()).detach()
    target = (p * torch.nn.functional.one_hot(task.labels(), p).double() - 1) / 2
    scale = float((logits * target).sum() / (target * target).sum())
    assert scale > 0
    assert (logits - scale * target).abs().max().item() < 1e-10 * scale
    # every point is on the margin: all point margins equal p/2 · scale
    correct = logits.gather(1, task.labels()[:, None]).squeeze(1)
    assert torch.allclose(correct - logits.sort(1).values[:, -2], torch.full_like(correct, scale * p / 2))
    # rebalanced: each neuron has ‖u_j‖ = ‖w‖ (same amplitude for all k+1 vectors)
    u_norms = model.embed.detach().pow(2).sum(1).sqrt()          # (k, m)
    w_norms = model.unembed.detach().pow(2).sum(1).sqrt()        # (m,)
    assert torch.allclose(u_norms, w_norms.expand_as(u_norms), rtol=1e-12)


@pytest.mark.parametrize("p,k", [(5, 2), (11, 2), (7, 3), (5, 4)])
def test_without_rebalance_margin_is_lower(p, k):
    model = construct_modadd(p, k)
    task = ModularAddition(p, k)
    x, y = task.inputs(), task.labels()
    e, w = model.embed.detach(), model.unembed.detach()
    unbalanced = PolyNet.from_weights(2 * e, w / 2**k, "poly", k)  # f unchanged, norm not minimal
    assert torch.allclose(unbalanced(x), model(x), rtol=1e-12, atol=1e-12)
    assert l2nu_norm(unbalanced) > l2nu_norm(model)
    assert normalized_margin(unbalanced, x, y) < 0.95 * gamma_star_modadd(p, k)
    # rebalancing repairs it
    e2, w2 = rebalance(2 * e, w / 2**k, k)
    fixed = PolyNet.from_weights(e2, w2, "poly", k)
    assert normalized_margin(fixed, x, y) / gamma_star_modadd(p, k) == pytest.approx(1.0, abs=1e-9)


def test_rebalance_keeps_function_and_minimizes_neuron_norm():
    gen = torch.Generator().manual_seed(0)
    e = torch.randn(2, 5, 4, generator=gen, dtype=torch.float64)
    w = torch.randn(4, 5, generator=gen, dtype=torch.float64) * 10
    e2, w2 = rebalance(e, w, 2)
    x = ModularAddition(5, 2).inputs()
    a, b = PolyNet.from_weights(e, w), PolyNet.from_weights(e2, w2)
    assert torch.allclose(a(x), b(x), rtol=1e-12)
    rms_u = (e2.pow(2).sum(dim=(0, 1)) / 2).sqrt()
    assert torch.allclose(rms_u, w2.pow(2).sum(1).sqrt(), rtol=1e-12)
    assert l2nu_norm(b) < l2nu_norm(a)


def test_construction_float32():
    model = construct_modadd(5, 2, dtype=torch.float32)
    assert model.embed.dtype == torch.float32
    task = ModularAddition(5, 2)
    nm = normalized_margin(model, task.inputs(), task.labels())
    assert nm / gamma_star_modadd(5, 2) == pytest.approx(1.0, abs=1e-5)
