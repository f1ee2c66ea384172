"""analyze_run: summary, analysis.json and figures of a saved run."""
import json
from pathlib import Path

import numpy as np
import pytest

from fourier_circuits.runs import store as runstore
from fourier_circuits.runs.analyze import analyze_run
from fourier_circuits.runs.train import train
from fourier_circuits.theory.modadd import construct_modadd, gamma_star_modadd
from fourier_circuits.training.config import resolve_config


def test_analyze_run_writes_json_and_figures(trained_run):
    run_dir = trained_run["run_dir"]
    summary = analyze_run(run_dir)
    stored = json.loads((run_dir / "analysis.json").read_text())
    assert stored["max_power_median"] == summary["max_power_median"]
    assert stored["n_neurons"] == 24 and stored["p"] == 7 and stored["k"] == 2
    assert len(summary["max_power"]) == 24
    assert summary["gamma_star"] == gamma_star_modadd(7, 2)
    assert summary["normalized_margin"] == trained_run["result"]["normalized_margin"]
    assert summary["margin_ratio"] == trained_run["result"]["margin_ratio"]
    assert summary["steps"] == trained_run["result"]["steps"]
    assert "max_power_median_init" in summary and 0 < summary["max_power_median_init"] <= 1
    figures = summary["figures"]
    assert figures and all((run_dir / "figures") in Path(f).parents for f in figures)
    names = {Path(f).name for f in figures}
    for stem in ("max_power", "dominant_frequency", "margin"):
        assert f"{stem}.png" in names and f"{stem}.svg" in names
    for f in figures:
        data = open(f, "rb").read()
        assert len(data) > 1000


def test_analyze_run_with_max_margin_parameters(tmp_path):
    """Replace a run's final parameters by the explicit construction: perfect single-frequency neurons."""
    p = 7
    cfg = resolve_config(p=p, k=2, width=24, steps=2)
    train(cfg, tmp_path / "r", progress=False)
    arrays, meta = runstore.load_arrays(tmp_path / "r" / "last.npz")
    built = construct_modadd(p, 2)
    arrays["param.embed"] = built.embed.detach().float().numpy()
    arrays["param.unembed"] = built.unembed.detach().float().numpy()
    runstore.save_arrays(tmp_path / "r" / "last.npz", arrays, meta)
    summary = analyze_run(tmp_path / "r", plots=False)
    assert "figures" not in summary and not (tmp_path / "r" / "figures").exists()
    assert summary["n_significant"] == 24
    assert summary["max_power_min"] == pytest.approx(1.0, abs=1e-5)
    assert summary["frac_neurons_power_ge_095"] == 1.0
    assert summary["frequency_coverage"] == 1.0
    assert summary["dominant_frequencies"] == [1, 2, 3]
    assert summary["neurons_per_frequency"] == {1: 8, 2: 8, 3: 8}
    assert summary["max_power_median"] > summary["max_power_median_init"]
    stored = json.loads((tmp_path / "r" / "analysis.json").read_text())
    assert stored["neurons_per_frequency"] == {"1": 8, "2": 8, "3": 8}
    assert np.isclose(stored["max_power_min"], 1.0, atol=1e-5)


def test_analyze_run_missing_dir(tmp_path):
    with pytest.raises(FileNotFoundError):
        analyze_run(tmp_path / "nothing")


def test_first_step_and_test_loss_collapse_step():
    from fourier_circuits.analysis.curves import first_step_at, test_loss_collapse_step
    rows = [dict(step=s, test_loss=l, test_accuracy=a) for s, l, a in
            [(0, 4.7, 0.0), (10, 0.5, 0.2), (100, 20.0, 0.05), (200, 5.0, 0.4), (300, 0.19, 0.995), (400, 0.01, 1.0)]]
    assert first_step_at(rows, "test_accuracy") == 300
    assert test_loss_collapse_step(rows) == 300           # after the peak (20.0 at step 100), ≤ 0.2
    assert test_loss_collapse_step(rows, factor=1000) == 400
    assert test_loss_collapse_step(rows[:4]) is None      # never falls 100×
    assert test_loss_collapse_step([dict(step=0, test_loss=None)]) is None
