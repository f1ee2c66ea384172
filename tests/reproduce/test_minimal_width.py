"""The new-minimal-width recipe (reproduce/minimal_width.py) runs the scan of `fourier-circuits min-width`
(runs/min_width.py) through the figure context, and claims the law; here on fake runs: nothing is trained."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fourier_circuits.reproduce import minimal_width
from fourier_circuits.runs import min_width as runs_min_width


@dataclass
class FakeRun:
    config: dict
    result: dict
    analysis: dict
    run_dir: Path = Path(".")


class FakeContext:
    """Seed 0 reaches γ* from `m_star(p, k)` up; every other run stalls at 0.95 γ*."""

    def __init__(self, scale: str, fig_dir: Path, m_star):
        self.scale, self.fig_dir, self.m_star, self.groups = scale, fig_dir, m_star, []

    def runs(self, group: str, overrides: list[dict], analyze: bool = True, figures=(), plotted: int | None = None) -> list[FakeRun]:
        self.groups.append(group)
        out = []
        for o in overrides:
            hit = o["width"] >= self.m_star(o["p"], o["k"]) and o.get("seed", 0) == 0
            out.append(FakeRun(o, {"margin_ratio": 1.0 if hit else 0.95}, {"n_significant": o["width"]}))
        return out


def test_the_recipe_uses_the_commands_scan():
    assert minimal_width.scan_widths is runs_min_width.scan_widths
    assert minimal_width.TARGET == runs_min_width.MARGIN_TARGET


def test_the_law_claim_holds_where_the_runs_follow_it_and_fails_where_they_do_not(tmp_path):
    claims, figures = minimal_width.new_minimal_width(FakeContext("ci", tmp_path, lambda p, k: 3 * (p - 1)))
    law = [c for c in claims if "follows the law" in c.claim]
    assert len(law) == 1 and law[0].holds and law[0].value == 12 and figures
    claims, _ = minimal_width.new_minimal_width(FakeContext("ci", tmp_path, lambda p, k: 3 * (p - 1) - 1))
    law = [c for c in claims if "follows the law" in c.claim]
    assert not law[0].holds and law[0].value == 11


def test_the_bound_is_not_necessary_claim_fails_when_only_the_bound_reaches_the_target(tmp_path):
    """Runs that reach γ* only at the bound 2^(2k−2)(p−1) itself: m_min = bound, the claim m_min < bound fails."""
    from fourier_circuits.theory.modadd import min_width_modadd
    claims, _ = minimal_width.new_minimal_width(FakeContext("ci", tmp_path, min_width_modadd))
    claim = next(c for c in claims if "the bound is not necessary" in c.claim)
    assert not claim.holds and claim.value == min_width_modadd(5, 2)
