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
    assert "Q8, k=2: γ* = 1.237116e-02" in text and "d4 0.727" in text     # THEORY.md §8 value, irreps' mass
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
