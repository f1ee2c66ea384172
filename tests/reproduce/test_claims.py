"""Claim builders read over several seeds: the single-frequency (irrep) share over the runs' significant neurons
together, and the label that names the seeds."""
from dataclasses import dataclass
from pathlib import Path

from fourier_circuits.reproduce.claims import SINGLE_SHARE, runs_label, single_share_claim
from fourier_circuits.training.config import resolve_config


@dataclass
class Run:
    config: dict
    result: dict
    analysis: dict
    run_dir: Path | None = None


def s3_run(seed: int, share: float | None, n_significant: int | None = 30) -> Run:
    cfg = resolve_config(preset="mo-s3", seed=seed).to_dict()
    return Run(cfg, {}, dict(frac_neurons_power_ge_095=share, n_significant=n_significant))


def test_the_share_of_several_runs_is_over_their_significant_neurons_together():
    # 30 + 30 + 20 significant neurons, 30 + 29 + 18 of them single irreps
    runs = [s3_run(0, 1.0), s3_run(1, 29 / 30), s3_run(2, 0.9, 20)]
    claim = single_share_claim(runs, "irreps")
    assert abs(claim.value - 77 / 80) < 1e-12 and claim.holds
    assert "seeds 0, 1, 2" in claim.claim and "together" in claim.claim
    # the same as one run when there is one
    one = single_share_claim(runs[1:2], "irreps")
    assert one.value == 29 / 30 and "seeds" not in one.claim and "together" not in one.claim


def test_a_pooled_share_fails_below_the_threshold_and_when_a_run_has_no_value():
    low = [s3_run(0, 1.0), s3_run(1, 0.8), s3_run(2, 0.9)]   # 81 of 90 = 0.9 < 0.95
    assert 0.9 < SINGLE_SHARE and not single_share_claim(low, "irreps").holds
    missing = [s3_run(0, 1.0), s3_run(1, None)]
    claim = single_share_claim(missing, "irreps")
    assert claim.value is None and not claim.holds


def test_runs_label_names_the_seeds_once():
    tf = [Run(resolve_config(model="transformer", recipe="tf", p=5, k=5, seed=s).to_dict(), {}, {}) for s in (3, 4)]
    assert runs_label(tf) == "transformer p=5 k=5, seeds 3, 4"
    assert runs_label(tf[:1]) == "transformer p=5 k=5 seed 3"
    assert runs_label([s3_run(0, 1.0), s3_run(1, 1.0)]) == "S3 m=30 poly, seeds 0, 1"
