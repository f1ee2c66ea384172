"""CLI contract for the group and parity tasks (issue 3): theory, construct, groups, train, analyze."""
import json

import pytest
from click.testing import CliRunner

from fourier_circuits.cli import main


def run(*args):
    result = CliRunner().invoke(main, list(args))
    return result


def run_json(*args):
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("spec, gamma", [("S3", 2.3604969e-2), ("S4", 2.0766480e-3), ("S5", 1.3259775e-4)])
def test_theory_group_values(spec, gamma):
    out = run_json("theory", "--task", "group", "--group", spec)
    assert out["applies"] is True
    assert out["gamma_star"] == pytest.approx(gamma, rel=1e-6)
    assert out["nu"] == 3


def test_theory_s6_does_not_apply_and_names_the_class():
    out = run_json("theory", "--task", "group", "--group", "S6")
    assert out["applies"] is False
    assert out["gamma_star"] is None
    assert "(1 2 3 4 5)" in out["reason"]


def test_theory_parity():
    out = run_json("theory", "--task", "parity", "--n", "10", "--k", "4")
    assert out["gamma_star"] == pytest.approx(0.60716, rel=1e-4)
    assert out["min_width"] == 8


@pytest.mark.parametrize("args", [("--task", "group", "--group", "S4"), ("--task", "group", "--group", "C2xC2"),
                                  ("--task", "parity", "--n", "8", "--k", "3")])
def test_construct_reaches_gamma_star(args):
    out = run_json("construct", *args)
    assert abs(out["margin_ratio"] - 1) < 1e-9


def test_groups_command_lists_irreps_and_characters():
    out = run_json("groups", "S4")
    assert out["order"] == 24
    assert sorted(r["dim"] for r in out["irreps"]) == [1, 1, 2, 3, 3]
    assert len(out["character_table"]["values"]) == 5
    text = run("groups", "Q8")
    assert text.exit_code == 0 and "quaternionic" in text.output


@pytest.mark.parametrize("args", [("theory", "--task", "group", "--group", "S0"),
                                  ("theory", "--task", "group", "--group", "D2x"),
                                  ("construct", "--task", "group", "--group", "C0"),
                                  ("theory", "--task", "parity", "--n", "4", "--k", "5"),
                                  ("theory", "--task", "parity", "--n", "25", "--k", "3")])
def test_bad_group_and_parity_input_exits_2(args):
    result = run(*args)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1


def test_bad_parity_train_creates_no_run_dir(tmp_path):
    out = tmp_path / "run"
    result = run("train", "--task", "parity", "--n", "25", "--k", "3", "--width", "8", "--out", str(out))
    assert result.exit_code == 2 and "n=25" in result.stderr
    assert not out.exists()


def test_train_and_analyze_group(tmp_path):
    out = run_json("train", "--task", "group", "--group", "S3", "--width", "30", "--steps", "400",
                   "--out", str(tmp_path / "s3"), "--no-progress")
    assert out["margin_ratio"] >= 0.99
    analysis = run_json("analyze", str(tmp_path / "s3"), "--no-plots")
    assert analysis["trivial_irrep_neurons"] == 0
    assert analysis["irrep_power_median"] >= 0.99
    assert set(analysis["irreps_used"]) == {"[1,1,1]", "[2,1]"}


def test_train_and_analyze_parity(tmp_path):
    out = run_json("train", "--task", "parity", "--n", "6", "--k", "2", "--width", "8", "--steps", "400",
                   "--out", str(tmp_path / "par"), "--no-progress")
    assert out["margin_ratio"] >= 0.99
    analysis = run_json("analyze", str(tmp_path / "par"))
    assert analysis["support_fraction_median"] >= 0.95
    assert analysis["sign_rule_fraction"] == 1.0
