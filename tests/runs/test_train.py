"""Opening a run directory (runs.train.prepare_run_dir): the same command reopens it, another refuses it."""
from __future__ import annotations

import json

import pytest

from fourier_circuits.runs.train import prepare_run_dir
from fourier_circuits.training.config import resolve_config


def _write(run_dir, **changes) -> None:
    cfg = resolve_config(p=5, k=2, width=16).to_dict()
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps({**cfg, **changes}))


def test_a_run_written_with_an_earlier_recipe_value_is_the_run_of_its_command(tmp_path):
    _write(tmp_path / "old", tau_start=1.0)          # the fast recipe started τ at 1 until it started at 0.1
    assert prepare_run_dir(resolve_config(p=5, k=2, width=16), tmp_path / "old") == tmp_path / "old"
    with pytest.raises(ValueError, match=r"differs in: tau_start"):  # a value asked for is not the recipe's
        prepare_run_dir(resolve_config(p=5, k=2, width=16, tau_start=0.5), tmp_path / "old")


@pytest.mark.parametrize("earlier", [dict(tau_start=1.0, tau_end=300.0), dict(tau_end=10.0)])
def test_a_degree_5_run_written_with_an_earlier_tau_end_reopens(tmp_path, earlier):
    cfg = resolve_config(p=3, k=5, width=8, steps=10)
    assert cfg.tau_end == 30.0
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "config.json").write_text(json.dumps({**cfg.to_dict(), **earlier}))
    assert prepare_run_dir(cfg, tmp_path / "old") == tmp_path / "old"


def test_an_earlier_value_of_another_degree_is_a_different_config(tmp_path):
    _write(tmp_path / "old", tau_end=10.0)            # τ_end 10 was never the recipe's value at d = 2
    with pytest.raises(ValueError, match=r"differs in: tau_end"):
        prepare_run_dir(resolve_config(p=5, k=2, width=16), tmp_path / "old")


def test_a_run_of_another_config_is_refused_and_names_the_key(tmp_path):
    _write(tmp_path / "other", tau_start=0.5)
    with pytest.raises(ValueError, match=r"differs in: tau_start"):
        prepare_run_dir(resolve_config(p=5, k=2, width=16), tmp_path / "other")
    _write(tmp_path / "wider", width=17)
    with pytest.raises(ValueError, match=r"differs in: width"):
        prepare_run_dir(resolve_config(p=5, k=2, width=16), tmp_path / "wider")
