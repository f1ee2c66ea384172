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
    evidence: str | None = None  # what the value was measured on: one of EVIDENCE (None: no network, e.g. a solver bound)


# What a claim's value was measured on. A paper's training claim ("ordinary training finds the features") is
# checked on a run of that paper's own optimizer; the fast recipe ascends the normalized margin itself, so its
# runs check the theorem (max-margin networks have the features); a construction holds its features by design.
PAPER_RECIPE, MAX_MARGIN_RECIPE, CONSTRUCTION = "paper recipe", "max-margin recipe", "construction"
EVIDENCE = (PAPER_RECIPE, MAX_MARGIN_RECIPE, CONSTRUCTION)


class RunOutcome(Protocol):
    config: dict
    result: dict
    analysis: dict
    run_dir: Path


def evidence_of(run: RunOutcome) -> str:
    """The evidence a run gives: a construction (`run.evidence`), the fast recipe's margin ascent (objective
    softmin), or a paper's training (cross-entropy with the paper's optimizer: recipes mo, li, tf, tl)."""
    explicit = getattr(run, "evidence", None)
    if explicit:
        return explicit
    return MAX_MARGIN_RECIPE if run.config.get("objective", "softmin") == "softmin" else PAPER_RECIPE


def run_label(run: RunOutcome) -> str:
    """A short name of the run in a claim ("p=23 k=2 m=88 poly"), from its task kind."""
    cfg = TrainConfig(**run.config)
    return kind_of(cfg).describe(cfg)


def at_least(claim: str, value: float | None, threshold: float, unit: str = "", fmt: str = ".4f",
             note: str = "", run: RunOutcome | None = None) -> Claim:
    """Claim that `value ≥ threshold` (a missing value fails), measured on `run` (its evidence) if given."""
    measured = "n/a" if value is None else f"{value:{fmt}}{unit}"
    return Claim(claim, f"≥ {threshold:{fmt}}{unit}{note}", measured,
                 value is not None and value >= threshold, value, evidence_of(run) if run is not None else None)


def at_most(claim: str, value: float | None, threshold: float, unit: str = "", fmt: str = ".4f",
            run: RunOutcome | None = None) -> Claim:
    """Claim that `value ≤ threshold` (a missing value fails), measured on `run` (its evidence) if given."""
    measured = "n/a" if value is None else f"{value:{fmt}}{unit}"
    return Claim(claim, f"≤ {threshold:{fmt}}{unit}", measured, value is not None and value <= threshold, value,
                 evidence_of(run) if run is not None else None)


def margin_claim(run: RunOutcome, threshold: float = 0.99) -> Claim:
    gs = run.result.get("gamma_star")
    note = f"  (γ* = {gs:.4e})" if gs else ""
    return at_least(f"normalized margin rises to γ* ({run_label(run)})", run.result.get("margin_ratio"),
                    threshold, " γ*", ".5f", note, run=run)


def single_frequency_claims(run: RunOutcome, what: str = "frequencies") -> list[Claim]:
    """Every significant neuron is one Fourier frequency (irrep): ≥ 95% of neurons with max power ≥ 0.95,
    against a spread at init (median ≤ 0.8: not yet one frequency)."""
    a = run.analysis
    init = a.get("max_power_median_init", a.get("irrep_power_median_init"))
    return [at_least(f"neurons are single {what}: share with max power ≥ 0.95 ({run_label(run)})",
                     a.get("frac_neurons_power_ge_095"), 0.95, run=run),
            at_most(f"at init the power is spread: median max power ({run_label(run)})", init, 0.8, run=run)]


def coverage_claim(run: RunOutcome) -> Claim:
    return at_least(f"every frequency 1..(p−1)/2 is used: coverage ({run_label(run)})",
                    run.analysis.get("frequency_coverage"), 1.0, fmt=".2f", run=run)
