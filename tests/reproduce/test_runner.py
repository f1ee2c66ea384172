"""`reproduce`: runs recipes through the run store, writes the report, reuses finished runs, reports a
crashing recipe without failing, and rejects bad input before any work."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fourier_circuits.cli import main
from fourier_circuits.errors import ConfigError
from fourier_circuits.reproduce import figures as recipes
from fourier_circuits.reproduce.runner import reproduce


def _result_mtimes(root: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime for p in root.glob("*/result.json")}


def test_reproduce_writes_report_and_reuses_runs(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "report"
    summary = reproduce(["mo-fig8"], "ci", out, runs, progress=False)
    assert (out / "index.html").exists() and (out / "summary.json").exists()
    assert summary["n_claims"] == len(summary["claims"]) >= 4
    assert all(c["recipe"] == "mo-fig8" for c in summary["claims"])
    margin = next(c for c in summary["claims"] if c["claim"].startswith("normalized margin"))
    assert margin["holds"] and margin["value"] >= 0.99
    assert summary["recipes"][0]["figures"], "figures are copied into the report"
    before = _result_mtimes(runs)
    assert len(before) == 1
    again = reproduce(["mo-fig8"], "ci", out, runs, progress=False)
    assert _result_mtimes(runs) == before, "a finished run is read back, not retrained"
    assert [c["measured"] for c in again["claims"]] == [c["measured"] for c in summary["claims"]]


def test_a_crashing_recipe_is_reported_and_the_rest_go_on(tmp_path, monkeypatch):
    def boom(ctx):
        raise RuntimeError("kaboom")
    crashing = recipes.FigureRecipe("mo-fig7", "t", "MO", "d", boom)
    monkeypatch.setitem(recipes.FIGURE_RECIPES, "mo-fig7", crashing)
    result = CliRunner().invoke(main, ["reproduce", "mo-fig7", "mo-fig8", "--runs", str(tmp_path / "runs"),
                                       "--out", str(tmp_path / "r"), "--no-progress"])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    errors = {r["name"]: r["error"] for r in summary["recipes"]}
    assert "kaboom" in errors["mo-fig7"] and errors["mo-fig8"] is None
    assert "ERROR  mo-fig7" in result.output


@pytest.mark.parametrize("args, message", [
    (["nope"], "unknown recipe 'nope'"),
    (["--scale", "huge"], "huge"),
    (["--workers", "0"], "--workers must be >= 1, got 0"),
])
def test_bad_input_exits_2_before_any_work(tmp_path, args, message):
    runs = tmp_path / "runs"
    result = CliRunner().invoke(main, ["reproduce", *args, "--runs", str(runs), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert message in result.output
    assert not runs.exists() and not (tmp_path / "r").exists()


def test_unknown_recipe_in_the_api():
    with pytest.raises(ConfigError, match="unknown recipe 'x'"):
        reproduce(["x"], progress=False)
    with pytest.raises(ConfigError, match="unknown scale"):
        reproduce([], scale="big", progress=False)


def test_list(tmp_path):
    result = CliRunner().invoke(main, ["reproduce", "--list", "--json"])
    assert result.exit_code == 0
    listed = json.loads(result.output)
    assert set(listed) == set(recipes.FIGURE_RECIPES)
