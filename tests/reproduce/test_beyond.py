"""The γ*-beyond-the-theorems recipe (reproduce.beyond): its claims follow the solver's numbers."""
from __future__ import annotations

import pytest

from fourier_circuits.reproduce import beyond
from fourier_circuits.theory.solver import answer

from .test_figures import FakeContext


@pytest.fixture
def small_cases(monkeypatch):
    monkeypatch.setitem(beyond.CASES, "ci", [("Q8", 2), ("S3", 3)])
    monkeypatch.setitem(beyond.INDEPENDENT, "ci", [("S3", 3)])
    monkeypatch.setitem(beyond.COMPOSITE, "ci", [4, 9])


def test_claims_hold_on_the_solver_and_name_what_they_measured(small_cases, tmp_path):
    claims, figures = beyond.gamma_beyond(FakeContext("ci", tmp_path))
    assert all(c.holds for c in claims), [c for c in claims if not c.holds]
    text = " ".join(c.claim for c in claims)
    assert "Q8, k=2: γ* = 1.237116e-02" in text and "d4 0.727" in text     # docs/theory.md §8 value, irreps' mass
    a5 = next(c for c in claims if c.claim.startswith("A5"))
    assert a5.measured == "d3a, d3b, d4 of d3a, d3b, d4, d5"              # d5 carries no optimal neuron
    ratios = {c.claim.split(",")[0]: c.value for c in claims if "composite modulus" in c.claim}
    assert ratios["C9"] == pytest.approx(1.0, abs=1e-12) and ratios["C4"] > 1.1
    assert [f.name for f in figures] == ["irreps_used.png", "composite_moduli.png"]


def test_an_uncertified_answer_fails_its_claim(small_cases, tmp_path, monkeypatch):
    real = answer.solve_group

    def loose(spec, k=2):
        a, net = real(spec, k)
        return {**a, "relative_gap": 1e-4}, net
    monkeypatch.setattr(answer, "solve_group", loose)
    claims, _ = beyond.gamma_beyond(FakeContext("ci", tmp_path))
    certified = [c for c in claims if "certified" in c.claim]
    assert certified and not any(c.holds for c in certified)


def test_the_sweep_claim_covers_every_buildable_spec_and_names_the_worst(tmp_path, monkeypatch):
    monkeypatch.setitem(beyond.CASES, "ci", [])
    monkeypatch.setitem(beyond.CONDITION_FAILS, "ci", [])
    monkeypatch.setitem(beyond.INDEPENDENT, "ci", [])
    monkeypatch.setitem(beyond.COMPOSITE, "ci", [9])   # (an empty ratio plot warns)
    monkeypatch.setitem(beyond.TRAINED, "ci", [])
    monkeypatch.setitem(beyond.SWEEP, "ci", [(2, 8), (3, 6)])
    seen = []
    real = beyond.certificate_difference

    def recorded(spec, k, n_add=8):
        seen.append((spec, k))
        return 0.5 if (spec, k) == ("Q8", 2) else real(spec, k, n_add)   # one bad spec must fail the claim
    monkeypatch.setattr(beyond, "certificate_difference", recorded)
    claims, _ = beyond.gamma_beyond(FakeContext("ci", tmp_path))
    k2, k3 = [c for c in claims if "group specs the package builds" in c.claim]
    assert seen == [(s, 2) for s in ["C2", "C3", "C4", "C5", "C6", "C7", "C8", "D3", "D4", "S3", "Q8",
                                     "C2xC2", "C2xC3", "C2xC4", "C2xC2xC2"]] + \
        [(s, 3) for s in ["C2", "C3", "C4", "C5", "C6", "D3", "S3", "C2xC2", "C2xC3"]]
    assert not k2.holds and "at Q8" in k2.claim and "all 15 group specs" in k2.claim
    assert k3.holds and k3.value <= 1e-6


def test_a_formula_off_at_a_composite_modulus_or_every_irrep_used_fails_its_claim(small_cases, tmp_path,
                                                                                   monkeypatch):
    """[LI]'s formula off by a factor (odd n: γ*/formula ≠ 1; even n: below 1) and A5's optimal neurons on every
    non-trivial irrep (Theorem 9's condition would hold) fail the composite and subset claims; a certificate
    without irreps that disagrees with the §8 formula fails its claim."""
    from fourier_circuits.algebra.groups import parse_group
    from fourier_circuits.algebra.representations import irreps
    real = answer.solve_group

    def off(spec, k=2):
        a, net = real(spec, k)
        if a.get("li_formula_composite"):
            a = {**a, "li_formula_composite": a["li_formula_composite"] * (0.9 if int(spec[1:]) % 2 else 2.0)}
        if spec == "A5":
            a = {**a, "irreps_used": [{"name": r.name, "mass": 1.0} for r in irreps(parse_group(spec))
                                      if not r.is_trivial]}
        return a, net
    monkeypatch.setattr(answer, "solve_group", off)
    monkeypatch.setattr(beyond, "certificate_difference", lambda spec, k, n_add=8: 0.5)
    claims, _ = beyond.gamma_beyond(FakeContext("ci", tmp_path))
    for start in ("C4, k=2", "C9, k=2", "C9, k=3", "A5 (Theorem 9", "§8 formula = a certificate"):
        hit = [c for c in claims if c.claim.startswith(start)]
        assert hit and not any(c.holds for c in hit), (start, [(c.claim, c.measured) for c in hit])
