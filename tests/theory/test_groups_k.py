"""The k-input per-irrep construction `construct_group_k` (docs/theory.md §6, §8)."""
import math

import numpy as np
import pytest
import torch

from fourier_circuits.algebra.representations import irreps
from fourier_circuits.analysis.irreps import analyze_group_net
from fourier_circuits.errors import TaskError
from fourier_circuits.models.margins import normalized_margin
from fourier_circuits.tasks.group import GroupComposition
from fourier_circuits.theory.groups import (
    construct_group,
    construct_group_k,
    construct_group_k_width,
    construction_logits_group_k,
    construction_margin_k,
    optimal_masses_k,
    theory_group,
)
from fourier_circuits.theory.modadd import gamma_star_modadd

REL = 1e-9


def _margin(spec, k, masses=None):
    task = GroupComposition(spec, k)
    model = construct_group_k(spec, k, masses)
    return model, task, normalized_margin(model, task.inputs(), task.labels())


@pytest.mark.parametrize("spec, k", [("C5", 2), ("C7", 3), ("C5", 4), ("S3", 3), ("D4", 3), ("Q8", 2),
                                     ("Q8", 3), ("A4", 2), ("C2xC2", 3), ("S3", 2)])
def test_logits_tie(spec, k):
    """Default masses: logits ∝ |G| 1[c = g_1⋯g_k] − 1, every wrong class ties (any irrep kind)."""
    model, task, _ = _margin(spec, k)
    logits = model(task.inputs()).detach().numpy()
    ref = construction_logits_group_k(spec, k)
    scale = logits[0, task.labels()[0]] / ref[0, task.labels()[0]]
    assert scale > 0
    assert np.abs(logits / scale - ref).max() < 1e-10 * task.order
    assert model.width == construct_group_k_width(spec, k) and model.nu == k + 1


@pytest.mark.parametrize("spec", ["S3", "S4", "D5", "C2xC2"])
def test_k2_matches_construct_group_and_theorem_9(spec):
    _, task, nm = _margin(spec, 2)
    ref = construct_group(spec)
    nm_ref = normalized_margin(ref, task.inputs(), task.labels())
    gamma = theory_group(spec)["gamma_star"]
    assert nm == pytest.approx(nm_ref, rel=REL) and nm == pytest.approx(gamma, rel=REL)
    assert construct_group_k_width(spec, 2) == theory_group(spec)["min_width"] == ref.width
    assert construction_margin_k(spec, 2) == pytest.approx(gamma, rel=REL)


@pytest.mark.parametrize("p, k", [(5, 2), (7, 3), (5, 4), (3, 3)])
def test_cyclic_reaches_li_theorem(p, k):
    """C_p via its 2-D rotation irreps (complex type, real realization): [LI] Thm 4.1's γ*."""
    _, _, nm = _margin(f"C{p}", k)
    assert nm == pytest.approx(gamma_star_modadd(p, k), rel=REL)
    assert construct_group_k_width(f"C{p}", k) == 2 ** (k - 1) * 2 ** (k + 1) * (p - 1) // 2


@pytest.mark.parametrize("spec, k, width, value", [
    ("S3", 3, 68, 1 / 144), ("D4", 3, 76, 3 / 704), ("Q8", 3, 1036, 0.0024671052631578946),
])
def test_k3_margins(spec, k, width, value):
    """Measured (float64) margin = the closed form; default masses are LP-optimal here."""
    model, _, nm = _margin(spec, k)
    assert model.width == width == 2 ** (k - 1) * sum(r.dim ** (k + 1) for r in irreps(spec) if not r.is_trivial)
    assert nm == pytest.approx(construction_margin_k(spec, k), rel=REL)
    assert nm == pytest.approx(value, rel=1e-9)
    best = optimal_masses_k(spec, k)
    assert construction_margin_k(spec, k, best) == pytest.approx(nm, rel=1e-7)
    _, _, nm_best = _margin(spec, k, best)
    assert nm_best == pytest.approx(nm, rel=1e-7)


def test_masses_change_margin_as_closed_form():
    masses = {"[1,1,1]": 1.0, "[2,1]": 0.3}
    model, _, nm = _margin("S3", 3, masses)
    assert nm == pytest.approx(construction_margin_k("S3", 3, masses), rel=REL)
    assert nm < construction_margin_k("S3", 3)
    assert model.width == 4 * (1 + 16)
    assert construct_group_k_width("S3", 3, {"[2,1]": 1.0}) == 64


def test_optimal_masses_beat_uniform_where_condition_fails():
    """S6 at k = 2 (Theorem 9's character condition fails): the LP masses improve on uniform ones."""
    uniform = construction_margin_k("S6", 2)
    best = construction_margin_k("S6", 2, optimal_masses_k("S6", 2))
    assert best > uniform * (1 + 1e-6)


def test_construction_neurons_single_irrep_balanced():
    model = construct_group_k("D4", 3)
    out = analyze_group_net(model, "D4")
    assert out["irrep_power_min"] == pytest.approx(1.0, abs=1e-9)
    assert out["irrep_power_min_per_vector"] == pytest.approx([1.0] * 4, abs=1e-9)
    assert out["dominant_irrep_agreement"] == 1.0 and out["trivial_irrep_neurons"] == 0
    norms = torch.cat([model.embed.detach().pow(2).sum(dim=1), model.unembed.detach().pow(2).sum(dim=1)[None]])
    assert torch.allclose(norms, norms[:1].expand_as(norms), rtol=1e-10)   # ‖u_j‖ = ‖w‖ per neuron


@pytest.mark.parametrize("kwargs, word", [
    (dict(k=1), "k=1"), (dict(k=3, masses={"nope": 1.0}), "nope"),
    (dict(k=3, masses={"[2,1]": -1.0}), "2,1"), (dict(k=3, masses={"[2,1]": 0.0}), "zero"),
])
def test_bad_inputs(kwargs, word):
    with pytest.raises(TaskError, match=word):
        construct_group_k("S3", **kwargs)


def test_width_formula_k2_equals_theorem_9_width():
    for spec in ("S3", "S4", "D5"):
        assert construct_group_k_width(spec, 2) == theory_group(spec)["min_width"]
    assert math.isclose(construction_margin_k("C7", 3), gamma_star_modadd(7, 3), rel_tol=REL)
