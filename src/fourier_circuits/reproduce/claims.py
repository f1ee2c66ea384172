"""Claims: what a paper claims about a figure, turned into a check with an explicit threshold.

A `Claim` holds the claim, the check, the measured value and whether it holds; the helpers below build the
checks every figure recipe shares (margin, single frequency, coverage). The HTML report only renders them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from fourier_circuits.tasks.registry import kind_of
from fourier_circuits.training.config import TrainConfig


@dataclass
class Claim:
    claim: str            # what the paper claims, e.g. "normalized L_{2,3} margin rises to γ*"
    expected: str         # the check, e.g. "≥ 0.99 γ*  (γ* = 4.614e-4)"
    measured: str         # e.g. "0.99975 γ*"
    holds: bool
    value: float | None = None   # numeric measured value when there is one


class RunOutcome(Protocol):
    config: dict
    result: dict
    analysis: dict
    run_dir: Path


def run_label(run: RunOutcome) -> str:
    """A short name of the run in a claim ("p=23 k=2 m=88 poly"), from its task kind."""
    cfg = TrainConfig(**run.config)
    return kind_of(cfg).describe(cfg)


def at_least(claim: str, value: float | None, threshold: float, unit: str = "", fmt: str = ".4f",
             note: str = "") -> Claim:
    """Claim that `value ≥ threshold` (a missing value fails)."""
    measured = "n/a" if value is None else f"{value:{fmt}}{unit}"
    return Claim(claim, f"≥ {threshold:{fmt}}{unit}{note}", measured,
                 value is not None and value >= threshold, value)


def at_most(claim: str, value: float | None, threshold: float, unit: str = "", fmt: str = ".4f") -> Claim:
    measured = "n/a" if value is None else f"{value:{fmt}}{unit}"
    return Claim(claim, f"≤ {threshold:{fmt}}{unit}", measured, value is not None and value <= threshold, value)


def margin_claim(run: RunOutcome, threshold: float = 0.99) -> Claim:
    gs = run.result.get("gamma_star")
    note = f"  (γ* = {gs:.4e})" if gs else ""
    return at_least(f"normalized margin rises to γ* ({run_label(run)})", run.result.get("margin_ratio"),
                    threshold, " γ*", ".5f", note)


def single_frequency_claims(run: RunOutcome, what: str = "frequencies") -> list[Claim]:
    """Every significant neuron is one Fourier frequency (irrep): ≥ 95% of neurons with max power ≥ 0.95,
    against a spread at init (median ≤ 0.8: not yet one frequency)."""
    a = run.analysis
    init = a.get("max_power_median_init", a.get("irrep_power_median_init"))
    return [at_least(f"neurons are single {what}: share with max power ≥ 0.95 ({run_label(run)})",
                     a.get("frac_neurons_power_ge_095"), 0.95),
            at_most(f"at init the power is spread: median max power ({run_label(run)})", init, 0.8)]


def coverage_claim(run: RunOutcome) -> Claim:
    return at_least(f"every frequency 1..(p−1)/2 is used: coverage ({run_label(run)})",
                    run.analysis.get("frequency_coverage"), 1.0, fmt=".2f")
