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
    bounds: tuple[float | None, float | None] | None = None  # (low, high) the value must lie in (None: open end);
    # None when the check is not a range of `value` alone (how far a value is from failing: claims_seeds.py)


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


def runs_label(runs: list[RunOutcome]) -> str:
    """run_label of one run; of several (seeds of one config), the first's without its seed, then the seeds."""
    if len(runs) == 1:
        return run_label(runs[0])
    return run_label(runs[0]).split(" seed ")[0] + ", seeds " + ", ".join(str(r.config["seed"]) for r in runs)


def _evidence(run: RunOutcome | None) -> str | None:
    return evidence_of(run) if run is not None else None


def _measured(value: float | None, unit: str, fmt: str) -> str:
    return "n/a" if value is None else f"{value:{fmt}}{unit}"


def _cite(note: str) -> str:
    """The citation or the reason of a threshold, appended to the check ("  — [MO] Fig 4c: ≈ 1")."""
    return f"  — {note}" if note and not note.startswith(" ") else note


def at_least(claim: str, value: float | None, threshold: float, unit: str = "", fmt: str = ".4f",
             note: str = "", run: RunOutcome | None = None) -> Claim:
    """Claim that `value ≥ threshold` (a missing value fails), measured on `run` (its evidence) if given; `note`
    says where the threshold comes from (a figure of the paper, or how it was chosen)."""
    return Claim(claim, f"≥ {threshold:{fmt}}{unit}{_cite(note)}", _measured(value, unit, fmt),
                 value is not None and value >= threshold, value, _evidence(run), (threshold, None))


def at_most(claim: str, value: float | None, threshold: float, unit: str = "", fmt: str = ".4f",
            run: RunOutcome | None = None, note: str = "") -> Claim:
    """Claim that `value ≤ threshold` (a missing value fails), measured on `run` (its evidence) if given."""
    return Claim(claim, f"≤ {threshold:{fmt}}{unit}{_cite(note)}", _measured(value, unit, fmt),
                 value is not None and value <= threshold, value, _evidence(run), (None, threshold))


def between(claim: str, value: float | None, low: float, high: float, unit: str = "", fmt: str = ".4f",
            note: str = "", run: RunOutcome | None = None) -> Claim:
    """Two-sided claim `low ≤ value ≤ high` (a missing value fails)."""
    return Claim(claim, f"in [{low:{fmt}}, {high:{fmt}}]{unit}{_cite(note)}", _measured(value, unit, fmt),
                 value is not None and low <= value <= high, value, _evidence(run), (low, high))


# --- margins ---------------------------------------------------------------------------------------------
# The threshold depends on what the run is. The fast recipe ascends the normalized margin itself: its target
# is γ*, so it is held to 0.99 γ*. A paper's own training minimizes CE + λ‖θ‖ at a fixed λ > 0, and [MO]
# Theorem 1 (Wei et al.) says only that the minimizers' margin → γ* as λ → 0; plain-PyTorch reruns of [MO]'s
# settings plateau at 0.95–0.98 γ* (mod-71: 0.979 after 39k steps; S3: 0.979 at 50k; this project's S3 run
# 0.977), so a paper-recipe run is held to 0.95 γ* ("rises to γ*" in [MO] Figs 1c, 5, 6a, 8a, 9a read at the
# λ the paper used). A construction must reach γ* to rounding.
MAX_MARGIN_TARGET = 0.99
PAPER_RECIPE_TARGET = 0.95
MARGIN_SOURCE = {
    MAX_MARGIN_RECIPE: "the recipe ascends the margin itself; γ* by [MO] Thms 7–9 / [LI] Thm 4.1",
    PAPER_RECIPE: "[MO] Figs 1c/5/6a: rises to γ*; at λ > 0 [MO]'s settings plateau at 0.95–0.98 "
                  "(Thm 1 is λ → 0)",
    CONSTRUCTION: "holds by construction (docs/theory.md §6): checks the code, not evidence for training",
}


def margin_claim(run: RunOutcome, threshold: float | None = None) -> Claim:
    """The normalized margin / γ* of `run` reaches the threshold of its evidence (MAX_MARGIN_TARGET for the
    fast recipe, PAPER_RECIPE_TARGET for a paper's training at λ > 0; `threshold` overrides it)."""
    evidence = evidence_of(run)
    if threshold is None:
        threshold = PAPER_RECIPE_TARGET if evidence == PAPER_RECIPE else MAX_MARGIN_TARGET
    gs = run.result.get("gamma_star")
    note = (f"  (γ* = {gs:.4e})" if gs else "") + _cite(MARGIN_SOURCE.get(evidence, ""))
    return at_least(f"normalized margin rises to γ* ({run_label(run)})", run.result.get("margin_ratio"),
                    threshold, " γ*", ".5f", note, run=run)


# --- neurons: one frequency (irrep), every frequency used ---------------------------------------------------
SINGLE_SHARE = 0.95       # share of significant neurons with max power ≥ 0.95
INIT_SPREAD = 0.8         # median max power at init at most this ...
TRAINED_CONCENTRATED = 0.95  # ... and after training at least this


def single_frequency_claims(run: RunOutcome, what: str = "frequencies") -> list[Claim]:
    """[MO] Fig 4c / [LI] Figs 2c, 6c, 8c / [MO] Figs 6d, 8, 9: after training every neuron is one frequency
    (irrep): ≥ 95% of significant neurons with max power ≥ 0.95 (the papers' histograms sit at ≈ 1; 0.95 chosen).
    Then the comparison with the same network at init ([MO] Fig 4a, 6c: spread): the median max power was
    ≤ 0.8 at init and is ≥ 0.95 after training; an untrained network fails the second half."""
    a = run.analysis
    init = a.get("max_power_median_init", a.get("irrep_power_median_init"))
    trained = a.get("max_power_median", a.get("irrep_power_median"))
    spread = Claim(f"training concentrates the power: median max power, spread at init → ≈ 1 ({run_label(run)})",
                   f"≤ {INIT_SPREAD} at init, then ≥ {TRAINED_CONCENTRATED}  — [MO] Figs 4a→c, 6c→d; [LI] Fig 2b→c "
                   "(0.8, 0.95 chosen)",
                   f"{_measured(init, '', '.3f')} → {_measured(trained, '', '.4f')}",
                   init is not None and trained is not None and init <= INIT_SPREAD and trained >= TRAINED_CONCENTRATED,
                   trained, evidence_of(run), (TRAINED_CONCENTRATED, None))
    return [single_share_claim([run], what), spread]


def single_share_claim(runs: list[RunOutcome], what: str = "frequencies") -> Claim:
    """The first of `single_frequency_claims`: ≥ SINGLE_SHARE of the significant neurons with max power ≥ 0.95, of
    one run or of several seeds' runs together (the share over all their significant neurons)."""
    fractions = [r.analysis.get("frac_neurons_power_ge_095") for r in runs]
    counts = [r.analysis.get("n_significant") for r in runs]
    if len(runs) == 1:
        share = fractions[0]
    elif None in fractions + counts:
        share = None
    else:
        share = sum(f * n for f, n in zip(fractions, counts)) / max(sum(counts), 1)
    fig = "[MO] Fig 4c, [LI] Figs 2c/6c/8c: ≈ 1" if what == "frequencies" else "[MO] Figs 6d/8/9: ≈ 1"
    together = ", their significant neurons together" if len(runs) > 1 else ""
    return at_least(f"neurons are single {what}: share with max power ≥ 0.95 ({runs_label(runs)}{together})",
                    share, SINGLE_SHARE, note=f"{fig} (0.95 chosen)", run=runs[0])


def coverage_claim(run: RunOutcome) -> Claim:
    """[MO] Fig 7, [LI] Figs 2a/6a/8a, docs/theory.md §5: every frequency 1..(p−1)/2 is used. Counted over
    concentrated neurons (max power ≥ 0.9, [MO] Fig 4b's ReLU level): plain dominant-frequency coverage holds at
    a Gaussian init with probability ≥ 0.997, a random init has no concentrated neuron."""
    return at_least(f"every frequency 1..(p−1)/2 is the dominant one of a concentrated neuron (max power ≥ 0.9): "
                    f"coverage ({run_label(run)})", run.analysis.get("frequency_coverage_concentrated"), 1.0,
                    fmt=".2f", note="[MO] Fig 7, [LI] Fig 2a: all frequencies used", run=run)


MASS_RATIO = 1.2  # equal per-frequency mass at max margin; 20% chosen


# The mass and the §5 form below describe "the neurons" only when most of them are single frequencies. On a
# network where 7 of 256 significant neurons are (li-fig1's paper-recipe run at ci), a median over those 7 is
# noise: it straddled the 0.1 rad phase threshold over four seeds (0.07–0.16), and the mass ratio over li-fig2's
# few concentrated neurons straddled 1.2 (1.17–1.46). Below half, these claims are n/a and fail, as at init.
FORM_PREMISE = 0.5


def _premised(run: RunOutcome, value: float | None) -> float | None:
    """`value` when at least FORM_PREMISE of the run's significant neurons are single frequencies, else None."""
    share = run.analysis.get("frac_neurons_power_ge_095")
    return value if share is not None and share >= FORM_PREMISE else None


def _premise_text(run: RunOutcome) -> str:
    share = run.analysis.get("frac_neurons_power_ge_095")
    return f"{'n/a' if share is None else f'{share:.0%}'} of the significant neurons single-frequency, n/a below half"


def frequency_mass_claim(run: RunOutcome) -> Claim:
    """Every frequency carries the same share of ‖θ‖_{2,ν}^ν (analysis.fourier.frequency_mass_ratio: forced by
    max margin, [MO] Fig 7's near-uniform histogram in mass rather than in counts): max/min per-frequency mass
    over concentrated neurons ≤ 1.2; a missing frequency, a network without concentrated neurons, or one where
    fewer than half the significant neurons are single frequencies (FORM_PREMISE) fails."""
    return at_most(f"every frequency carries the same mass Σ‖θ_i‖^ν: max/min over frequencies, {_premise_text(run)} "
                   f"({run_label(run)})", _premised(run, run.analysis.get("frequency_mass_ratio")), MASS_RATIO, run=run,
                   note="[MO] Fig 7: near uniform; max margin forces equal masses (20% chosen)")


# --- the shape of a max-margin neuron (docs/theory.md §5) ------------------------------------------------------
# The papers state the form exactly ([MO] Lemma/Thm 7, [LI] Thm 4.1's neurons) and give no tolerance; the
# tolerances below are chosen: 10% amplitude spread, 1% of the power in the mean, 0.1 rad of phase.
AMPLITUDE_SPREAD, DC_FRACTION, PHASE_RESIDUAL = 0.1, 0.01, 0.1


def neuron_form_claims(run: RunOutcome) -> list[Claim]:
    """The §5 form of modular-addition neurons, over the single-frequency neurons: equal amplitudes on the k+1
    vectors, zero mean, θ_1 + .. + θ_k = θ_w. A network without any (as at init), or where they are fewer than
    half the significant neurons (FORM_PREMISE: the form of a few says nothing of "the neurons"), fails each: n/a."""
    a, label, src = run.analysis, run_label(run), "docs/theory.md §5, [MO] Thm 7 / [LI] Thm 4.1"
    n = a.get("n_single_frequency")
    over = f"median over {'n/a' if n is None else n} single-frequency neurons, {_premise_text(run)}"
    return [at_most(f"the k+1 vectors of a neuron have equal amplitudes: max/min norm − 1, {over} ({label})",
                    _premised(run, a.get("single_amplitude_spread_median")), AMPLITUDE_SPREAD, run=run,
                    note=f"{src}: same β (10% chosen)"),
            at_most(f"neurons have zero mean: DC share of ‖θ_i‖², {over} ({label})",
                    _premised(run, a.get("single_dc_fraction_median")), DC_FRACTION, fmt=".2e", run=run,
                    note=f"{src}: zero mean (1% chosen)"),
            at_most(f"phases add up: |θ_1 + … + θ_k − θ_w| in rad, {over} ({label})",
                    _premised(run, a.get("single_phase_residual_median_abs")), PHASE_RESIDUAL, run=run,
                    note=f"{src}: θ_1 + … + θ_k = θ_w (0.1 rad chosen)")]


# --- parity (docs/theory.md §5, [MO] Fig 5) ----------------------------------------------------------------------

def parity_claims(run: RunOutcome) -> list[Claim]:
    """The top-norm neurons (‖θ_i‖ ≥ ½ max, the ones [MO] Fig 5 shows) of a parity net: support = S,
    |u[j]| = ‖w‖ on S, w ∝ [1, −1] (medians over them, as the neuron-form claims), and the sign rule (every one
    of them on S: none at init, n/a)."""
    a, label = run.analysis, run_label(run)
    top = f"{a.get('n_top', 'n/a')} top-norm neurons"
    return [at_least(f"top neurons live on the support S: median share of ‖u‖² on S over {top} ({label})",
                     a.get("support_fraction_median_top"), 0.95, run=run,
                     note="[MO] Fig 5: top-norm neurons on S; docs/theory.md §5 spt(u) = S (0.95 chosen)"),
            at_most(f"|u[j]| = ‖w‖ on S: max over j ∈ S of |ln(|u[j]| / ‖w‖)|, median over {top} ({label})",
                    a.get("balance_log_dev_median_top"), 0.1, run=run, note="docs/theory.md §5 (±10% chosen)"),
            at_least(f"w ∝ [1, −1]: (w0 − w1)² / (2‖w‖²), median over {top} ({label})",
                     a.get("w_antisymmetry_median_top"), 0.95, run=run, note="docs/theory.md §5 (0.95 chosen)"),
            at_least(f"sign rule (Π_S u[j])·(w0 − w1) ≥ 0: share of the top neurons on S ({label})",
                     a.get("sign_rule_fraction_top"), 1.0, fmt=".2f", run=run, note="docs/theory.md §5: every neuron")]


# --- groups (docs/theory.md §5, [MO] Figs 6, 8, 9) ---------------------------------------------------------------

def irrep_claims(run: RunOutcome) -> list[Claim]:
    """Over the single-irrep neurons (none at init): every non-trivial irrep is used and bigger irreps get more
    neurons (a rank statement, [MO] Fig 6b; its d³ proportions are one construction's split, docs/theory.md §6, not
    a prediction for trained nets); the trivial irrep carries ≤ 1/10 of a random network's share of ‖θ‖²."""
    a, label = run.analysis, run_label(run)
    counts = a.get("single_irrep_neurons_per_irrep") or {}
    rank, cover = a.get("irrep_rank_agreement_single"), a.get("nontrivial_irrep_coverage_single")
    return [at_least(f"every non-trivial irrep is used by single-irrep neurons: coverage ({label})", cover, 1.0,
                     fmt=".2f", run=run, note="[MO] Figs 6b/8/9, docs/theory.md §5"),
            Claim(f"bigger irreps get more neurons: share of pairs d_R < d_R' with n_R ≤ n_R' over single-irrep "
                  f"neurons ({', '.join(f'{n}: {c}' for n, c in counts.items())}) ({label})",
                  "= 1 and every non-trivial irrep used  — [MO] Fig 6b: bigger irreps get more neurons",
                  _measured(rank, "", ".2f"), rank == 1.0 and cover == 1.0, rank, evidence_of(run), (1.0, None)),
            at_most(f"the trivial irrep is never used: its share of ‖θ‖² × |G| (a random network: ≈ 1) ({label})",
                    a.get("trivial_share_vs_random"), 0.1, run=run,
                    note="docs/theory.md §5: never used (a tenth of random chosen)")]
