"""Sweeps: grid expansion, spec errors, parallel / Ray runs identical to in-process, resumption, aggregation."""
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from fourier_circuits.cli import main
from fourier_circuits.errors import ConfigError, DivergedError
from fourier_circuits.runs import sweep
from fourier_circuits.runs.sweep import RunPool, aggregate, expand_grid, load_sweep_spec, plot_sweep, run_configs
from fourier_circuits.training.trainer import Trainer

BASE = {"p": 5, "k": 2, "steps": 80}
GRID = {"width": [8, 12, 16, 20]}
SEEDS = [0, 1]
SPEC = """
name = "tiny"
seeds = [0, 1]
[base]
p = 5
k = 2
steps = 80
[grid]
width = [8, 12, 16, 20]
"""


def margins(results: list[dict]) -> dict[str, float]:
    """run name -> normalized margin."""
    return {Path(r["run_dir"]).name: r["normalized_margin"] for r in results}


def index_rows(root: Path) -> list[tuple]:
    with sqlite3.connect(root / "index.sqlite") as con:
        return con.execute("SELECT run_dir, status FROM runs").fetchall()


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """In-process runs with one torch thread, as each pool worker here (2 cores // 2 workers): on a loaded
    2-core machine two threads per run only add contention."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def configs():
    return expand_grid(BASE, GRID, SEEDS)


@pytest.fixture(scope="module")
def reference(configs, tmp_path_factory):
    """The 8 tiny runs trained in-process (workers=1): (root, results)."""
    root = tmp_path_factory.mktemp("ref") / "runs"
    return root, run_configs(configs, root, workers=1, progress=False)


# ----------------------------------------------------------------------------------------- grid and spec
def test_expand_grid_order_count_and_seeds():
    cfgs = expand_grid({"p": 5, "steps": 10}, {"width": [8, 12], "k": [2, 3]}, seeds=[0, 1, 2])
    assert len(cfgs) == 12
    assert [(c.width, c.k, c.seed) for c in cfgs] == [(w, k, s) for w in (8, 12) for k in (2, 3) for s in (0, 1, 2)]
    assert all(c.p == 5 and c.steps == 10 for c in cfgs)
    # no seeds: the base (or default) seed; grid values applied over a preset
    cfgs = expand_grid({"preset": "mo-modadd-quadratic", "seed": 7}, {"lam": [1e-3, 1e-2]})
    assert [(c.recipe, c.p, c.width, c.lam, c.seed) for c in cfgs] == [("mo", 71, 500, 1e-3, 7), ("mo", 71, 500, 1e-2, 7)]


@pytest.mark.parametrize("base, grid, match", [
    ({"p": 5}, {"p": [5, 9]}, "9"),                    # 9 is not prime
    ({"p": 5}, {"width": [8, 0]}, "width=0"),
    ({"p": 5}, {"widht": [8]}, "widht"),
    ({"p": 5}, {"width": []}, "width"),
    ({"p": 5}, {}, "empty grid"),
])
def test_expand_grid_rejects_bad_values(base, grid, match):
    with pytest.raises(ConfigError, match=match):
        expand_grid(base, grid)


def test_load_sweep_spec_defaults(tmp_path):
    path = tmp_path / "widths.toml"
    path.write_text('seeds = [3, 4]\n[base]\npreset = "mo-modadd-quadratic"\n'
                    '[grid]\nwidth = [10, 20]\nactivation = ["poly", "relu"]\n')
    spec = load_sweep_spec(path)
    assert spec["name"] == "widths" and spec["seeds"] == [3, 4]
    assert spec["base"] == {"preset": "mo-modadd-quadratic"}
    assert spec["grid"] == {"width": [10, 20], "activation": ["poly", "relu"]}
    assert spec["plot"] == {"x": "width", "y": "margin_ratio", "group_by": "activation"}
    path.write_text('name = "w"\n[grid]\nwidth = [10]\n[plot]\nx = "lam"\ny = "test_accuracy"\n')
    spec = load_sweep_spec(path)
    assert spec["name"] == "w" and spec["seeds"] is None and spec["base"] == {}
    assert spec["plot"] == {"x": "lam", "y": "test_accuracy", "group_by": None}


BAD_SPECS = [
    ("[grid]\nwidth = [8]\n[extra]\na = 1\n", "'extra'"),
    ("[grid]\nwidth = 20\n", "width=20"),
    ("[grid]\nwidth = []\n", "grid.width is an empty list"),
    ("[base]\np = 5\n", "empty grid"),
    ("[grid]\nwidht = [8]\n", "'widht'"),
    ("seeds = [0, 0]\n[grid]\nwidth = [8]\n", "seeds=[0, 0]"),
    ("seeds = 3\n[grid]\nwidth = [8]\n", "seeds=3"),
    ("[grid]\nwidth = [8]\n[plot]\ny = \"margin\"\n", "'margin'"),
    ("[grid]\nwidth = [8]\n[plot]\ncolour = 1\n", "'colour'"),
    ("[grid]\nwidth = [8\n", "malformed"),
]


@pytest.mark.parametrize("text, match", BAD_SPECS)
def test_load_sweep_spec_errors(tmp_path, text, match):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match.replace("[", r"\[").replace("]", r"\]")):
        load_sweep_spec(path)


@pytest.mark.parametrize("text, bad", [
    (SPEC.replace("width = [8, 12, 16, 20]", "width = [8, 12, 16, 20]\np = [5, 9]"), "9"),  # 9 not prime
    (SPEC.replace("width = [8, 12, 16, 20]", "width = 20"), "width=20"),
    (SPEC.replace("steps = 80", "steps = -1"), "steps=-1"),
    (SPEC + "[plot]\ny = \"acc\"\n", "'acc'"),
])
def test_cli_bad_spec_exit_2_before_any_run(tmp_path, text, bad):
    spec, root = tmp_path / "s.toml", tmp_path / "runs"
    spec.write_text(text)
    res = CliRunner().invoke(main, ["sweep", str(spec), "--runs", str(root), "--json"])
    assert res.exit_code == 2, (res.stdout, res.stderr)
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and bad in lines[0]
    assert not root.exists()


def test_cli_ray_missing_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "ray", None)  # `import ray` raises ImportError
    spec, root = tmp_path / "s.toml", tmp_path / "runs"
    spec.write_text(SPEC)
    res = CliRunner().invoke(main, ["sweep", str(spec), "--backend", "ray", "--runs", str(root)])
    assert res.exit_code == 2
    assert 'pip install "fourier-circuits[ray]"' in res.stderr
    assert not root.exists()


# ----------------------------------------------------------------------------------------- running
def test_reference_sweep_and_index(configs, reference):
    root, results = reference
    assert len(configs) == 8 and len(results) == 8
    assert [r["config"] for r in results] == [c.to_dict() for c in configs]  # config order kept
    assert all(r["status"] in ("done", "converged") and (Path(r["run_dir"]) / "result.json").exists() for r in results)
    assert all(r["margin_ratio"] > 0 for r in results)
    rows = index_rows(root)
    assert sorted(Path(d).name for d, _ in rows) == sorted(margins(results))
    assert {status for _, status in rows} <= {"done", "converged"}


def test_workers_2_identical_to_workers_1(configs, reference, tmp_path):
    _, ref = reference
    par = run_configs(configs, tmp_path / "runs", workers=2, progress=False)
    assert [Path(r["run_dir"]).name for r in par] == [Path(r["run_dir"]).name for r in ref]
    for a, b in zip(par, ref):
        assert a["normalized_margin"] == b["normalized_margin"]  # bitwise
        assert a["steps"] == b["steps"] and a["train_accuracy"] == b["train_accuracy"]
    assert len(index_rows(tmp_path / "runs")) == 8


def test_one_open_pool_serves_several_sweeps(configs, reference, tmp_path):
    """RunPool (reproduce's pool): two run_configs calls through the same workers give the reference results
    bitwise, and the pool runs other functions too."""
    _, ref = reference
    with RunPool(2) as pool:
        first = run_configs(configs[:4], tmp_path / "runs", progress=False, pool=pool)
        second = run_configs(configs[4:], tmp_path / "runs", progress=False, pool=pool)
        assert pool.submit(pow, 2, 10).result() == 1024
    for a, b in zip(first + second, ref):
        assert Path(a["run_dir"]).name == Path(b["run_dir"]).name
        assert a["normalized_margin"] == b["normalized_margin"]
    with pytest.raises(ConfigError, match="workers=0"):
        RunPool(0)


def test_killed_sweep_reruns_only_missing_runs(configs, reference, tmp_path, monkeypatch):
    """Kill a sweep (KeyboardInterrupt) midway through its 5th run, re-run it: only the 4 unfinished runs
    train (the killed one resumes from its last.npz), the finished ones are untouched, results are exact."""
    root = tmp_path / "runs"
    real_train, real_save = sweep.train, Trainer.save
    trained = []

    def tracking(cfg, run_dir, **kw):
        trained.append(Path(run_dir).name)
        return real_train(cfg, run_dir, **kw)

    def save_then_die(self):
        real_save(self)
        if len(trained) == 5 and self.step >= 20:
            raise KeyboardInterrupt

    monkeypatch.setattr(sweep, "train", tracking)
    monkeypatch.setattr(Trainer, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        run_configs(configs, root, workers=1, progress=False)
    done = sorted(p.parent.name for p in root.glob("*/result.json"))
    assert done == sorted(trained[:4])
    killed = root / trained[4]
    assert (killed / "last.npz").exists() and not (killed / "result.json").exists()
    mtimes = {name: (root / name / "result.json").stat().st_mtime_ns for name in done}

    started = []  # train() calls that found no result.json, i.e. runs actually trained

    def counting(cfg, run_dir, **kw):
        if not (Path(run_dir) / "result.json").exists():
            started.append(Path(run_dir).name)
        return real_train(cfg, run_dir, **kw)

    monkeypatch.setattr(Trainer, "save", real_save)
    monkeypatch.setattr(sweep, "train", counting)
    results = run_configs(configs, root, workers=1, progress=False)
    all_names = [Path(r["run_dir"]).name for r in results]
    assert sorted(started) == sorted(set(all_names) - set(done)) and len(started) == 4
    assert started[0] == killed.name
    assert {name: (root / name / "result.json").stat().st_mtime_ns for name in done} == mtimes
    assert margins(results) == margins(reference[1])  # the resumed run included
    assert len(index_rows(root)) == 8

    # a third run trains nothing, also with a process pool (finished runs are never dispatched)
    monkeypatch.setattr(sweep, "_run_pool", lambda todo, *a: pytest.fail(f"dispatched {list(todo)}"))
    assert margins(run_configs(configs, root, workers=2, progress=False)) == margins(results)


def test_failed_run_does_not_stop_the_sweep(configs, tmp_path, monkeypatch):
    real_train = sweep.train

    def diverge_width_12(cfg, run_dir, **kw):
        if cfg.width == 12:
            raise DivergedError("loss became nan at step 3")
        return real_train(cfg, run_dir, **kw)

    monkeypatch.setattr(sweep, "train", diverge_width_12)
    results = run_configs(configs[:4], tmp_path / "runs", progress=False)  # widths 8, 8, 12, 12
    assert [r["status"] == "failed" for r in results] == [False, False, True, True]
    assert "loss became nan" in results[2]["error"] and results[2]["config"]["width"] == 12
    assert results[0]["margin_ratio"] > 0


def test_duplicate_configs_run_once(configs, reference):
    root, ref = reference
    twice = run_configs([configs[0], configs[0]], root, progress=False)
    assert twice[0]["run_dir"] == twice[1]["run_dir"] == ref[0]["run_dir"]


def test_ray_backend_identical_to_local(configs, reference, tmp_path):
    """`fourier-circuits sweep SPEC --backend ray --workers 2` on a local Ray instance."""
    pytest.importorskip("ray")
    spec, root = tmp_path / "tiny.toml", tmp_path / "runs"
    spec.write_text(SPEC)
    res = CliRunner().invoke(main, ["sweep", str(spec), "--backend", "ray", "--workers", "2", "--runs", str(root),
                                    "--no-plot", "--no-progress", "--json"])
    assert res.exit_code == 0, (res.stdout, res.stderr, res.exception)
    out = json.loads(res.stdout)
    assert out["n_runs"] == 8 and out["failed"] == []
    ray_margins = {Path(d).name: json.loads((Path(d) / "result.json").read_text())["normalized_margin"]
                   for d in out["runs"]}
    assert ray_margins == margins(reference[1])
    assert len(index_rows(root)) == 8


# ----------------------------------------------------------------------------------------- results
def row(width, seed, y, status="done", act="poly"):
    return {"status": status, "margin_ratio": y, "config": {"width": width, "seed": seed, "activation": act}}


def test_aggregate_math():
    rows = [row(20, 0, 0.5), row(10, 0, 0.2), row(20, 1, 0.7), row(10, 1, 0.4), row(10, 2, 0.9),
            row(30, 0, 0.1), row(30, 1, 5.0, status="failed"), row(40, 0, None),
            row(10, 0, 1.0, act="relu")]
    agg = aggregate(rows, "width", "margin_ratio")
    assert [(r["x"], r["n"]) for r in agg] == [(10, 4), (20, 2), (30, 1)]  # failed / None left out, x sorted
    ten = np.array([0.2, 0.4, 0.9, 1.0])
    assert agg[0]["mean"] == pytest.approx(ten.mean()) and agg[0]["std"] == pytest.approx(ten.std(ddof=1))
    assert (agg[0]["min"], agg[0]["max"]) == (0.2, 1.0)
    assert agg[1]["mean"] == pytest.approx(0.6) and agg[1]["std"] == pytest.approx(np.std([0.5, 0.7], ddof=1))
    assert agg[2] == {"x": 30, "n": 1, "mean": 0.1, "std": 0.0, "min": 0.1, "max": 0.1}
    grouped = aggregate(rows, "width", "margin_ratio", group_by="activation")
    assert [(r["group"], r["x"], r["n"]) for r in grouped] == [("poly", 10, 3), ("poly", 20, 2), ("poly", 30, 1),
                                                               ("relu", 10, 1)]
    assert grouped[0]["mean"] == pytest.approx(0.5)


def test_plot_sweep_writes_files(tmp_path):
    rows = [row(w, s, 0.1 * w + s, act=a) for w in (10, 20, 40) for s in (0, 1) for a in ("poly", "relu")]
    png, svg = plot_sweep(rows, "width", "margin_ratio", tmp_path / "curve", group_by="activation")
    assert png.suffix == ".png" and svg.suffix == ".svg"
    assert png.stat().st_size > 1000 and svg.stat().st_size > 1000
    png, svg = plot_sweep(rows, "activation", "margin_ratio", tmp_path / "categorical.png")  # string x
    assert png.name == "categorical.png" and png.stat().st_size > 1000 and svg.stat().st_size > 1000


def test_cli_sweep_table_plot_and_summary(configs, reference, tmp_path):
    """The CLI over an already finished store: no training, table + sweep.json + plot."""
    root, ref = reference
    spec = tmp_path / "tiny.toml"
    spec.write_text(SPEC)
    res = CliRunner().invoke(main, ["sweep", str(spec), "--workers", "2", "--runs", str(root), "--no-progress"])
    assert res.exit_code == 0, (res.stdout, res.stderr, res.exception)
    header, *lines = res.stdout.splitlines()
    assert header.split()[:3] == ["width", "n", "margin_ratio"] and len(lines) == 5  # 4 widths + path line
    summary = json.loads((root / "sweeps" / "tiny" / "sweep.json").read_text())
    assert summary["rows"] == aggregate(ref, "width", "margin_ratio")
    assert [r["n"] for r in summary["rows"]] == [2, 2, 2, 2]
    for name in ("sweep.png", "sweep.svg"):
        assert (root / "sweeps" / "tiny" / name).stat().st_size > 1000


def test_a_run_another_sweep_is_training_is_waited_for_and_read_back(configs, reference, tmp_path):
    """While another process holds a run's lock, a sweep waits for it (no RunBusyError, no second training)
    and returns the result the holder wrote; here a thread holding the lock copies the reference run in."""
    import shutil
    import threading

    from fourier_circuits.runs.naming import default_run_name
    from fourier_circuits.runs.store import run_lock
    from fourier_circuits.runs.train import prepare_run_dir
    ref_root, ref = reference
    root = tmp_path / "runs"
    run_dir = prepare_run_dir(configs[0], root / default_run_name(configs[0]))
    held = threading.Event()

    def other_sweep():
        with run_lock(run_dir):
            held.set()
            threading.Event().wait(0.5)
            shutil.copy(Path(ref[0]["run_dir"]) / "result.json", run_dir / "result.json")

    thread = threading.Thread(target=other_sweep)
    thread.start()
    held.wait(10)
    (result,) = run_configs(configs[:1], root, progress=False)
    thread.join(10)
    assert result.get("status") != "failed", result
    assert result["normalized_margin"] == ref[0]["normalized_margin"]
    assert not (run_dir / "metrics.jsonl").exists(), "it was not trained a second time"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_pool_workers_die_with_a_killed_parent(tmp_path):
    """kill -9 of a `reproduce` (here a parent holding a RunPool) ends its workers too: a worker reports its pid,
    the parent is SIGKILLed, and the worker is gone within seconds (it would otherwise train on, orphaned)."""
    script = tmp_path / "parent.py"
    script.write_text(
        "import os, sys, time\n"
        "from fourier_circuits.runs.sweep import RunPool\n"
        "if __name__ == '__main__':\n"
        "    with RunPool(1) as pool:\n"
        "        print(pool.submit(os.getpid).result(), flush=True)\n"
        "        pool.submit(time.sleep, 60)\n"
        "        time.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    worker = int(parent.stdout.readline())
    os.kill(worker, 0)                       # alive
    parent.kill()
    parent.wait()
    deadline = time.time() + 15
    while time.time() < deadline and _alive(worker):
        time.sleep(0.1)
    assert not _alive(worker)


def _alive(pid: int) -> bool:
    """pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
