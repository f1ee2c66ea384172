"""γ* formulas and explicit max-margin constructions for parity and groups (docs/theory.md §4, §6)."""
import math

import numpy as np
import pytest
import torch

from fourier_circuits.errors import TaskError
from fourier_circuits.models.margins import normalized_margin
from fourier_circuits.models.parity import normalized_margin_parity
from fourier_circuits.tasks.group import GroupComposition
from fourier_circuits.tasks.parity import SparseParity
from fourier_circuits.theory.groups import construct_group, construction_logits_group, theory_group
from fourier_circuits.theory.parity import construct_parity, gamma_star_parity, theory_parity

REL = 1e-9


@pytest.mark.parametrize("k, value", [(2, 0.54433), (3, 0.53033), (4, 0.60716), (5, 0.78567)])
def test_gamma_star_parity_values(k, value):
    assert gamma_star_parity(10, k) == pytest.approx(value, abs=5e-6)
    assert gamma_star_parity(10, k) == gamma_star_parity(k + 3, k)   # independent of n
    th = theory_parity(10, k)
    assert th["min_width"] == 2 ** (k - 1) and th["nu"] == k + 1 and th["applies"] is True


def test_gamma_star_parity_bad_inputs():
    with pytest.raises(TaskError, match="k=5"):
        gamma_star_parity(4, 5)


@pytest.mark.parametrize("n, k", [(10, 4), (8, 3), (6, 2)])
def test_construct_parity_reaches_gamma_star(n, k):
    task = SparseParity(n, k, seed=n)
    model = construct_parity(n, k, task.support)
    assert model.width == 2 ** (k - 1) and model.nu == k + 1
    nm = normalized_margin_parity(model, task)
    assert nm == pytest.approx(gamma_star_parity(n, k), rel=REL)


@pytest.mark.parametrize("spec, value, width", [
    ("S3", 2.3604969e-2, 18), ("S4", 2.0766480e-3, 126), ("S5", 1.3259775e-4, 1190),
])
def test_gamma_star_symmetric_groups(spec, value, width):
    th = theory_group(spec)
    assert th["applies"] is True and th["reason"] is None and th["nu"] == 3
    assert th["gamma_star"] == pytest.approx(value, rel=1e-7)
    assert th["min_width"] == width and th["order"] == math.factorial(int(spec[1]))
    assert th["irrep_dims"][0] == 1 and sum(d * d for d in th["irrep_dims"]) == th["order"]


def test_gamma_star_formula_d5():
    """Two independent sources: the hand value 2/(3√30)/(1 + 2·2^2.5) = 0.0098846033 (nontrivial irreps of D5:
    sign (1), rho1 (2), rho2 (2)) and the class LP of docs/theory.md §8, which does not use Theorem 9."""
    from fourier_circuits.theory.solver.lp import class_lp
    th = theory_group("D5")
    assert th["applies"]
    assert th["gamma_star"] == pytest.approx(0.0098846033, rel=1e-8)
    assert th["gamma_star"] == pytest.approx(class_lp("D5", 2)["gamma_star"], rel=1e-9)
    assert th["min_width"] == 34 and th["irrep_dims"] == [1, 1, 2, 2]


def test_s6_not_applicable_names_failing_classes():
    th = theory_group("S6")
    assert th["applies"] is False and th["gamma_star"] is None
    assert "character condition" in th["reason"]
    assert "(1 2 3 4 5)" in th["reason"] and "(0 1)(2 3 4 5)" in th["reason"]
    assert th["failing_classes"] == ["(1 2 3 4 5)", "(0 1)(2 3 4 5)"]


@pytest.mark.parametrize("spec", ["C3", "C5", "C12", "A4", "Q8"])
def test_non_real_irreps_not_applicable(spec):
    th = theory_group(spec)
    assert th["applies"] is False and th["gamma_star"] is None and th["min_width"] is None
    assert "real type" in th["reason"]
    assert ("complex" in th["reason"]) or ("quaternionic" in th["reason"])
    with pytest.raises(TaskError, match="real type"):
        construct_group(spec)


@pytest.mark.parametrize("spec", ["S3", "S4", "S5", "D5", "C2xC2"])
def test_construct_group_reaches_gamma_star(spec):
    th = theory_group(spec)
    assert th["applies"]
    model = construct_group(spec)
    assert model.width == th["min_width"] and model.nu == 3
    task = GroupComposition(spec)
    nm = normalized_margin(model, task.inputs(), task.labels())
    assert nm == pytest.approx(th["gamma_star"], rel=REL)


def test_construct_group_logits_s4():
    """Logits are 4(|G| 1[c = ab] − 1): all wrong classes tie, every point sits on the margin."""
    model = construct_group("S4")
    x = GroupComposition("S4").inputs()
    with torch.no_grad():
        logits = model(x).numpy()
    assert np.allclose(logits, construction_logits_group("S4"), atol=1e-10)
