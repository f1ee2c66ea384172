"""`fourier-circuits solve`: certified γ* for group composition and (any-modulus) modular addition."""
import json

import pytest
from click.testing import CliRunner

from fourier_circuits.cli import main
from fourier_circuits.theory.modadd import gamma_star_modadd

KEYS = {"gamma_star", "lower_bound", "upper_bound", "relative_gap", "class_weights", "irreps_used", "closed_form",
        "seconds"}


def solve(*args):
    return CliRunner().invoke(main, ["solve", *args, "--json"])


def test_solve_matches_the_closed_form_and_certifies_it():
    out = solve("--task", "modadd", "--p", "7", "--k", "3")
    assert out.exit_code == 0, out.output
    d = json.loads(out.output)
    assert KEYS <= set(d) and d["certified"]
    assert d["gamma_star"] == pytest.approx(gamma_star_modadd(7, 3), rel=1e-9)
    assert d["closed_form"] == pytest.approx(gamma_star_modadd(7, 3), rel=1e-12)
    assert d["relative_gap"] <= 1e-9 and d["lower_bound"] <= d["upper_bound"] * (1 + 1e-12)
    assert sum(d["class_weights"].values()) == pytest.approx(1.0)


def test_composite_modulus_and_a_group_outside_every_closed_form():
    c15 = json.loads(solve("--task", "modadd", "--p", "15").output)
    assert c15["closed_form"] is None and c15["relative_gap"] <= 1e-9
    assert c15["li_formula_composite"] == pytest.approx(c15["gamma_star"], rel=1e-9)   # [LI]'s formula holds at 15
    q8 = json.loads(solve("--task", "group", "--group", "Q8", "--k", "3").output)
    assert q8["closed_form"] is None and q8["certified"] and q8["relative_gap"] <= 1e-9
    assert {r["name"] for r in q8["irreps_used"]} and all(r["mass"] > 0 for r in q8["irreps_used"])


def test_out_writes_a_run_that_analyzes(tmp_path):
    out = solve("--task", "group", "--group", "S3", "--k", "3", "--out", str(tmp_path / "net"))
    assert out.exit_code == 0, out.output
    a = CliRunner().invoke(main, ["analyze", str(tmp_path / "net"), "--json", "--no-plots"])
    assert a.exit_code == 0, a.output
    summary = json.loads(a.output)
    assert summary["margin_ratio"] == pytest.approx(1.0, rel=1e-9)
    assert summary["irrep_power_min"] >= 0.99 and summary["trivial_irrep_neurons"] == 0


@pytest.mark.parametrize("args,message", [
    (["--task", "parity", "--n", "6", "--k", "2"], "solve covers"),
    (["--task", "group", "--group", "Z9"], "Z9"),
    (["--task", "group", "--group", "S3", "--k", "1"], "k"),
    (["--task", "modadd", "--p", "1"], "p=1"),
    (["--task", "group", "--group", "A5", "--k", "9"], "GB to build"),   # past the memory guard
])
def test_bad_input_is_one_line_and_exit_2(args, message):
    out = CliRunner().invoke(main, ["solve", *args])
    assert out.exit_code == 2
    assert out.output.startswith("error: ") and message in out.output and out.output.count("\n") == 1
