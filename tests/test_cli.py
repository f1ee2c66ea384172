"""CLI: JSON outputs of every command, bad input → exit 2 with one stderr line and no run directory."""
import json
import math
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from fourier_circuits.cli import main
from fourier_circuits.runs import store as runstore
from fourier_circuits.theory.modadd import gamma_star_modadd


def invoke(args, env=None):
    return CliRunner().invoke(main, args, env=env)


def test_theory_json():
    res = invoke(["theory", "--task", "modadd", "--p", "71", "--k", "2", "--json"])
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["gamma_star"] == pytest.approx(4.6143008e-4, rel=1e-7)
    assert data["min_width"] == 280 and data["nu"] == 3
    assert (data["p"], data["k"], data["task"]) == (71, 2, "modadd")


def test_theory_text_and_k3():
    res = invoke(["theory", "--p", "97", "--k", "3"])
    assert res.exit_code == 0
    assert "gamma_star" in res.stdout and "min_width: 1536" in res.stdout


def test_theory_stdout_is_only_json_in_a_real_process():
    out = subprocess.run([sys.executable, "-m", "fourier_circuits.cli", "theory", "--p", "23", "--json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0
    assert json.loads(out.stdout)["gamma_star"] == pytest.approx(2.57957e-3, rel=2e-6)


@pytest.mark.parametrize("p,k", [(5, 2), (7, 3)])
def test_construct_json(p, k):
    res = invoke(["construct", "--p", str(p), "--k", str(k), "--json"])
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["width"] == 2 ** (2 * k - 2) * (p - 1)
    assert data["gamma_star"] == gamma_star_modadd(p, k)
    assert abs(data["normalized_margin"] / data["gamma_star"] - 1) < 1e-9
    assert abs(data["margin_ratio"] - 1) < 1e-9


def test_train_json(trained_run):
    data = trained_run["result"]
    assert {"normalized_margin", "gamma_star", "margin_ratio", "train_accuracy", "test_accuracy", "steps",
            "seconds", "run_dir"} <= set(data)
    assert data["gamma_star"] == gamma_star_modadd(7, 2)
    assert data["margin_ratio"] == pytest.approx(data["normalized_margin"] / data["gamma_star"], rel=1e-12)
    assert 1 <= data["steps"] <= 40 + 5 * 300 and data["seconds"] >= 0   # Adam steps + 3 to 5 polish stages
    assert data["test_accuracy"] is None and 0 <= data["train_accuracy"] <= 1
    assert data["run_dir"] == str(trained_run["run_dir"])
    assert (trained_run["run_dir"] / "result.json").exists()
    assert json.loads((trained_run["run_dir"] / "result.json").read_text()) == data


def test_a_run_that_hits_its_step_cap_below_the_target_says_so(trained_run):
    assert trained_run["result"]["status"] == "done" and trained_run["result"]["margin_ratio"] < 0.999
    note = [line for line in trained_run["stderr"].splitlines() if line.startswith("note:") and "γ*" in line]
    assert len(note) == 1 and "step cap (--steps 40)" in note[0]
    assert f"{trained_run['result']['margin_ratio']:.5f} γ*" in note[0]
    json.loads(trained_run["stdout"])                                   # stdout stays pure JSON


def test_a_plateau_below_the_target_is_not_reported_as_the_maximum():
    from fourier_circuits.cli import stop_note
    note = stop_note("converged", 0.98765, 8000)
    assert note.startswith("note:") and "plateau at 0.98765 γ*" in note
    assert "step cap (--steps 8000)" in stop_note("done", 0.98765, 8000)
    assert stop_note("converged", 0.9995, 8000) is None and stop_note("done", 0.9995, 8000) is None
    assert stop_note("converged", None, 8000) is None        # no γ*: nothing to compare with


def test_a_run_at_the_target_prints_no_cap_note(tmp_path):
    res = invoke(["train", "--p", "5", "--k", "2", "--width", "16", "--no-progress", "--json",
                  "--out", str(tmp_path / "p5")], env={runstore.RUNS_ENV: str(tmp_path)})
    assert res.exit_code == 0 and json.loads(res.stdout)["margin_ratio"] >= 0.999
    assert "γ*" not in res.stderr      # (a busy machine may add its own note: see below)


def test_busy_note_only_when_the_threads_do_not_fit_in_the_idle_cores():
    from fourier_circuits.cli import busy_note
    note = busy_note(threads=2, load=1.96, cores=2)
    assert note.startswith("note:") and "2.0 of 2 cores in use" in note and "OMP_NUM_THREADS=1" in note
    assert busy_note(threads=2, load=1.0, cores=2)            # one other job: 2 threads on 1 idle core
    assert busy_note(threads=2, load=0.3, cores=2) is None    # idle
    assert busy_note(threads=1, load=9.0, cores=2) is None    # one thread never waits on another
    assert busy_note(threads=8, load=4.0, cores=16) is None   # the threads fit in the idle cores
    assert busy_note(threads=16, load=4.0, cores=16)


@pytest.mark.parametrize("omp, shown", [(None, True), ("1", False)])
def test_train_says_when_the_machine_is_busy_unless_threads_are_set(tmp_path, monkeypatch, omp, shown):
    import fourier_circuits.cli as cli
    monkeypatch.setattr(cli, "busy_cores", lambda: 3.0)
    monkeypatch.setattr(cli.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(cli, "_torch_threads", lambda: 2)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    res = invoke(["train", "--p", "5", "--k", "2", "--width", "16", "--steps", "5", "--no-progress", "--json",
                  "--out", str(tmp_path / "p5")], env={runstore.RUNS_ENV: str(tmp_path), "OMP_NUM_THREADS": omp})
    assert res.exit_code == 0, res.stderr
    assert ("machine was busy when training started (3.0 of 2 cores in use)" in res.stderr) == shown, res.stderr
    json.loads(res.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/stat: elsewhere the load average")
def test_busy_cores_counts_the_cores_in_use_now():
    """/proc/stat over the interval: between 0 and the cores (a busy wait in a thread holds about one)."""
    import threading

    from fourier_circuits.cli import busy_cores
    assert 0.0 <= busy_cores(0.05) <= (os.cpu_count() or 1) + 1e-9
    stop = threading.Event()

    def busy_wait() -> None:
        while not stop.is_set():
            pass
    spin = threading.Thread(target=busy_wait)
    spin.start()
    try:
        held = busy_cores(0.3)
    finally:
        stop.set()
        spin.join()
    assert held >= 0.5, held


def test_an_error_on_a_busy_machine_is_still_one_line(tmp_path, monkeypatch):
    """The busy note comes after a result, never beside an error (here a diverged run, exit 1)."""
    import fourier_circuits.cli as cli
    monkeypatch.setattr(cli, "busy_cores", lambda: 3.0)
    monkeypatch.setattr(cli, "_torch_threads", lambda: 2)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    res = invoke(["train", "--recipe", "mo", "--p", "5", "--width", "8", "--lr", "1e6", "--steps", "20",
                  "--out", str(tmp_path / "d"), "--json", "--no-progress"])
    assert res.exit_code == 1 and len(res.stderr.splitlines()) == 1 and res.stderr.startswith("error: ")


def test_train_rerun_returns_same_result(trained_run):
    root, run_dir = trained_run["root"], trained_run["run_dir"]
    res = invoke(["train", "--p", "7", "--k", "2", "--width", "24", "--steps", "40", "--no-progress", "--json",
                  "--out", str(run_dir)], env={runstore.RUNS_ENV: str(root)})
    assert res.exit_code == 0
    assert json.loads(res.stdout) == trained_run["result"]


def test_runs_json_lists_run(trained_run):
    res = invoke(["runs", "--json"], env={runstore.RUNS_ENV: str(trained_run["root"])})
    assert res.exit_code == 0
    rows = json.loads(res.stdout)
    match = [r for r in rows if r["run_dir"] == str(trained_run["run_dir"].resolve())]
    assert len(match) == 1
    row = match[0]
    assert (row["p"], row["k"], row["width"]) == (7, 2, 24)
    assert row["status"] == trained_run["result"]["status"]
    assert row["normalized_margin"] == trained_run["result"]["normalized_margin"]
    explicit = invoke(["runs", "--runs", str(trained_run["root"]), "--json"])
    assert json.loads(explicit.stdout) == rows
    text = invoke(["runs", "--runs", str(trained_run["root"])])
    assert str(trained_run["run_dir"].resolve()) in text.stdout


def test_runs_empty_store(tmp_path):
    res = invoke(["runs", "--runs", str(tmp_path / "none"), "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout) == []
    assert invoke(["runs", "--runs", str(tmp_path / "none")]).stdout.strip() == "no runs"


def test_analyze_json(trained_run):
    res = invoke(["analyze", str(trained_run["run_dir"]), "--no-plots", "--json"])
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)
    for key in ("max_power_median", "max_power_min", "frequency_coverage", "dominant_frequencies"):
        assert key in data
    assert 0 < data["max_power_min"] <= data["max_power_median"] <= 1 + 1e-12
    assert 0 < data["frequency_coverage"] <= 1
    assert set(data["dominant_frequencies"]) <= {1, 2, 3}
    assert data["normalized_margin"] == trained_run["result"]["normalized_margin"]
    text = invoke(["analyze", str(trained_run["run_dir"]), "--no-plots"])
    assert text.exit_code == 0 and "max_power_median" in text.stdout


def test_analyze_missing_run(tmp_path):
    res = invoke(["analyze", str(tmp_path / "nope"), "--json"])
    assert res.exit_code == 2 and res.stdout == ""
    assert "nope" in res.stderr


def test_train_preset_with_overrides(tmp_path):
    out = tmp_path / "preset"
    res = invoke(["train", "--preset", "mo-modadd-quadratic", "--steps", "3", "--json", "--no-progress",
                  "--out", str(out)])
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["steps"] == 3 and data["gamma_star"] == gamma_star_modadd(71, 2)
    cfg = json.loads((out / "config.json").read_text())
    assert (cfg["p"], cfg["width"], cfg["recipe"], cfg["steps"], cfg["lam"]) == (71, 500, "mo", 3, 1e-4)


def test_train_config_file_and_set(tmp_path):
    conf = tmp_path / "c.toml"
    conf.write_text("p = 5\nwidth = 8\nsteps = 4\npolish_iters = 0\n")
    out = tmp_path / "r"
    res = invoke(["train", "--config", str(conf), "--width", "6", "--set", "lr=0.01", "--set", "n_evals=2",
                  "--json", "--no-progress", "--out", str(out)])
    assert res.exit_code == 0, res.stderr
    cfg = json.loads((out / "config.json").read_text())
    assert (cfg["p"], cfg["width"], cfg["steps"], cfg["lr"], cfg["n_evals"]) == (5, 6, 4, 0.01, 2)
    assert json.loads(res.stdout)["steps"] == 4


def test_train_default_run_dir_under_runs_root(tmp_path):
    root = tmp_path / "store"
    res = invoke(["train", "--p", "5", "--width", "8", "--steps", "2", "--json", "--no-progress"],
                 env={runstore.RUNS_ENV: str(root)})
    assert res.exit_code == 0, res.stderr
    run_dir = json.loads(res.stdout)["run_dir"]
    assert run_dir.startswith(str(root)) and "modadd-p5-k2-m8" in run_dir
    assert [r["run_dir"] for r in runstore.RunIndex(root).list()] == [str((root / run_dir.split("/")[-1]).resolve())]


BAD = [
    (["--p", "9"], "9"),
    (["--p", "2"], "2"),
    (["--p", "7", "--k", "1"], "k=1"),
    (["--p", "7", "--width", "0"], "width=0"),
    (["--p", "7", "--lam", "-1"], "-1"),
    (["--preset", "no-such-preset"], "no-such-preset"),
    (["--p", "7", "--set", "bogus=1"], "bogus"),
    (["--p", "7", "--steps", "0"], "steps=0"),
]


@pytest.mark.parametrize("args,needle", BAD)
@pytest.mark.parametrize("with_out", [True, False])
def test_bad_input_exit_2_no_run_dir(tmp_path, monkeypatch, args, needle, with_out):
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "store"
    out = tmp_path / "out"
    extra = ["--out", str(out)] if with_out else []
    res = invoke(["train", *args, *extra, "--json", "--no-progress"], env={runstore.RUNS_ENV: str(root)})
    assert res.exit_code == 2
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and lines[0].startswith("error:")
    assert not out.exists() and not root.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing created anywhere (not even ./runs)


def test_malformed_config_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("p = [unclosed\n")
    res = invoke(["train", "--config", str(bad), "--out", str(tmp_path / "out"), "--json"],
                 env={runstore.RUNS_ENV: str(tmp_path / "store")})
    assert res.exit_code == 2 and res.stdout == ""
    assert len(res.stderr.strip().splitlines()) == 1 and "bad.toml" in res.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "store").exists()


@pytest.mark.parametrize("cmd", ["theory", "construct"])
@pytest.mark.parametrize("args,needle", [(["--p", "9"], "9"), (["--p", "2"], "2"), (["--p", "7", "--k", "1"], "k=1")])
def test_theory_construct_bad_input(cmd, args, needle):
    res = invoke([cmd, *args, "--json"])
    assert res.exit_code == 2 and res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0]


def test_bad_input_real_process_exit_code(tmp_path):
    out = subprocess.run([sys.executable, "-m", "fourier_circuits.cli", "train", "--p", "9", "--out",
                          str(tmp_path / "o"), "--json"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip().splitlines() == ["error: p must be prime, got p=9 (not prime)"]
    assert list(tmp_path.iterdir()) == []


def test_diverged_run_exit_code_1(tmp_path):
    res = invoke(["train", "--recipe", "mo", "--p", "5", "--width", "8", "--lr", "1e6", "--steps", "20",
                  "--out", str(tmp_path / "d"), "--json", "--no-progress"])
    assert res.exit_code == 1 and res.stdout == ""
    assert res.stderr.startswith("error: loss became") and "step" in res.stderr
    assert (tmp_path / "d" / "last.npz").exists()


def test_other_config_in_out_dir_is_refused(tmp_path):
    out = tmp_path / "o"
    assert invoke(["train", "--p", "5", "--width", "8", "--steps", "2", "--out", str(out), "--json",
                   "--no-progress"]).exit_code == 0
    res = invoke(["train", "--p", "5", "--width", "9", "--steps", "2", "--out", str(out), "--json", "--no-progress"])
    assert res.exit_code == 2 and "width" in res.stderr and res.stdout == ""


def test_presets_json():
    res = invoke(["presets", "--json"])
    data = json.loads(res.stdout)
    assert data["presets"]["mo-modadd-quadratic"]["width"] == 500 and "fast" in data["recipes"]


def test_non_integer_width_via_set_is_bad_input(tmp_path):
    res = invoke(["train", "--p", "5", "--set", "width=2.5", "--out", str(tmp_path / "o"), "--json"])
    assert res.exit_code == 2 and "2.5" in res.stderr
    assert not (tmp_path / "o").exists()


def test_json_floats_are_finite_or_null(trained_run):
    for value in trained_run["result"].values():
        assert not (isinstance(value, float) and not math.isfinite(value))
