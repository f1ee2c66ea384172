"""The minimal-width scan (reproduce/minimal_width.py) on synthetic margin curves: nothing is trained."""
from __future__ import annotations

import pytest

from fourier_circuits.reproduce.minimal_width import TARGET, scan_widths


def curve(success: set[int], doubled_success: set[int] = frozenset(), seeds: int = 3):
    """ratios_at for a task where seed 0 reaches γ* exactly at the widths in `success` (the other seeds stall
    at 0.95), and at `doubled_success` only with the doubled budget; records every call."""
    calls = []

    def ratios_at(m: int, doubled: bool) -> list[float]:
        calls.append((m, doubled))
        hit = m in success or (doubled and m in doubled_success)
        return [1.0 if hit else 0.9] + [0.95] * (seeds - 1)

    return ratios_at, calls


@pytest.mark.parametrize("threshold", [1, 2, 7, 13, 16])
def test_a_monotone_curve_gives_its_threshold(threshold):
    ratios_at, calls = curve(set(range(threshold, 17)))
    scan = scan_widths(ratios_at, 16)
    assert scan.m_min == threshold and scan.m_min_doubled == threshold
    assert scan.best(threshold) >= TARGET
    # the two widths below m_min fail in the scan and are retrained with the doubled budget
    below = [m for m in (threshold - 1, threshold - 2) if m >= 1]
    assert sorted(scan.check) == sorted(below)
    assert all(scan.best(m) < TARGET for m in below)
    assert {m for m, doubled in calls if doubled} == set(below)
    assert len({m for m, doubled in calls if not doubled}) == len(calls) - len(below)  # no width trained twice


def test_a_stall_above_the_threshold_does_not_hide_it():
    # 12 stalls on every seed, 11 and 10 succeed again: a bisection (8 fails, 12 fails, 14, 13 hold) answers
    # 13; the downward scan walks through the stall
    ratios_at, _ = curve({16, 15, 14, 13, 11, 10})
    scan = scan_widths(ratios_at, 16)
    assert scan.m_min == 10
    assert 12 in scan.ratios and scan.best(12) < TARGET
    assert set(scan.check) == {9, 8}


def test_the_doubled_budget_can_move_the_answer():
    ratios_at, _ = curve(set(range(12, 17)), doubled_success={11})
    scan = scan_widths(ratios_at, 16)
    assert scan.m_min == 12 and scan.m_min_doubled == 11


def test_when_the_bound_fails_nothing_else_is_trained():
    ratios_at, calls = curve(set())
    scan = scan_widths(ratios_at, 16)
    assert scan.m_min is None and scan.m_min_doubled is None
    assert calls == [(16, False)] and scan.check == {}


def test_stalls_are_the_seeds_below_the_target_at_or_above_m_min():
    ratios_at, _ = curve(set(range(12, 17)))
    scan = scan_widths(ratios_at, 16)
    stalls = scan.stalls()
    assert stalls and all(m >= 12 and r < TARGET for m, _, r in stalls)
    assert {(m, s) for m, s, _ in stalls} == {(m, s) for m in scan.ratios if m >= 12 for s in (1, 2)}


def test_without_the_check_nothing_is_retrained():
    ratios_at, calls = curve(set(range(12, 17)))
    scan = scan_widths(ratios_at, 16, check=False)
    assert scan.m_min == 12 and scan.check == {} and not any(doubled for _, doubled in calls)
