"""Run store: atomic writes, pickle-free arrays, torn metrics lines, the SQLite index."""
import json
import os

import numpy as np
import pytest

from fourier_circuits.runs import store as runstore


def test_atomic_write_bytes_and_json(tmp_path):
    path = tmp_path / "sub" / "a.bin"
    runstore.atomic_write_bytes(path, b"hello")
    assert path.read_bytes() == b"hello"
    runstore.atomic_write_bytes(path, b"bye")
    assert path.read_bytes() == b"bye"
    runstore.atomic_write_json(tmp_path / "x.json", {"b": 1, "a": [1.5, None]})
    assert json.loads((tmp_path / "x.json").read_text()) == {"a": [1.5, None], "b": 1}
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.bin", "sub", "x.json"]  # no temp files left


def test_atomic_write_failure_keeps_old_file_and_no_temp(tmp_path):
    path = tmp_path / "a.json"
    runstore.atomic_write_bytes(path, b"old")
    with pytest.raises(TypeError):
        runstore.atomic_write_bytes(path, "not bytes")  # write() fails mid-way
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_save_load_arrays_roundtrip(tmp_path):
    arrays = {"param.embed": np.random.default_rng(0).standard_normal((2, 5, 3)).astype(np.float32),
              "opt.0.exp_avg": np.arange(6, dtype=np.float64).reshape(2, 3),
              "idx": np.array([3, 1, 2], dtype=np.int64)}
    meta = {"step": 17, "elapsed": 1.25, "nested": {"a": [1, 2]}, "none": None}
    path = tmp_path / "state.npz"
    runstore.save_arrays(path, arrays, meta)
    got, got_meta = runstore.load_arrays(path)
    assert got_meta == meta
    assert set(got) == set(arrays)
    for k, v in arrays.items():
        assert got[k].dtype == v.dtype and np.array_equal(got[k], v)
    with np.load(path, allow_pickle=False) as data:  # no pickled objects anywhere
        for key in data.files:
            assert data[key].dtype != object
    assert [p.name for p in tmp_path.iterdir()] == ["state.npz"]


def test_save_arrays_without_meta(tmp_path):
    runstore.save_arrays(tmp_path / "a.npz", {"x": np.ones(3)})
    arrays, meta = runstore.load_arrays(tmp_path / "a.npz")
    assert meta == {} and np.array_equal(arrays["x"], np.ones(3))


def test_metrics_append_read_torn_and_truncate(tmp_path):
    assert runstore.read_metrics(tmp_path) == []
    for step in (0, 1, 5, 20):
        runstore.append_metrics(tmp_path, {"step": step, "margin": step / 10})
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"step": 40, "mar')  # a kill in the middle of a write
    rows = runstore.read_metrics(tmp_path)
    assert [r["step"] for r in rows] == [0, 1, 5, 20] and rows[2]["margin"] == 0.5
    runstore.truncate_metrics(tmp_path, 5)
    assert [r["step"] for r in runstore.read_metrics(tmp_path)] == [0, 1, 5]
    assert (tmp_path / "metrics.jsonl").read_text().endswith("\n")
    runstore.append_metrics(tmp_path, {"step": 6})
    assert [r["step"] for r in runstore.read_metrics(tmp_path)] == [0, 1, 5, 6]


def test_runs_root(monkeypatch, tmp_path):
    monkeypatch.delenv(runstore.RUNS_ENV, raising=False)
    assert str(runstore.runs_root()) == "runs"
    monkeypatch.setenv(runstore.RUNS_ENV, str(tmp_path / "env"))
    assert runstore.runs_root() == tmp_path / "env"
    assert runstore.runs_root(tmp_path / "arg") == tmp_path / "arg"


def test_run_index_upsert_and_list(tmp_path):
    index = runstore.RunIndex(tmp_path / "root")
    assert index.list() == []
    assert not (tmp_path / "root").exists()  # listing an empty store creates nothing
    a, b = tmp_path / "root" / "a", tmp_path / "root" / "b"
    index.upsert({"run_dir": str(a), "p": 7, "k": 2, "status": "running"}, {"p": 7})
    index.upsert({"run_dir": str(b), "p": 11, "k": 3, "status": "running"})
    index.upsert({"run_dir": str(a), "p": 7, "k": 2, "status": "done", "margin_ratio": 0.99,
                  "extra": "ignored"}, {"p": 7})
    rows = runstore.RunIndex(tmp_path / "root").list()
    assert len(rows) == 2
    by_dir = {r["run_dir"]: r for r in rows}
    assert set(by_dir) == {str(a.resolve()), str(b.resolve())}
    assert by_dir[str(a.resolve())]["status"] == "done" and by_dir[str(a.resolve())]["margin_ratio"] == 0.99
    assert by_dir[str(b.resolve())]["k"] == 3 and by_dir[str(b.resolve())]["margin_ratio"] is None
    assert "config" not in rows[0] and "extra" not in rows[0]
    assert set(rows[0]) == set(runstore.INDEX_COLUMNS)


def test_run_index_uses_env_root(monkeypatch, tmp_path):
    monkeypatch.setenv(runstore.RUNS_ENV, str(tmp_path / "envroot"))
    runstore.RunIndex().upsert({"run_dir": str(tmp_path / "x"), "status": "done"})
    assert (tmp_path / "envroot" / "index.sqlite").exists()
    assert len(runstore.RunIndex(os.fspath(tmp_path / "envroot")).list()) == 1


def test_a_run_being_trained_elsewhere_is_refused(tmp_path):
    """Two processes on one run directory would interleave metrics rows: the second is refused with a
    message naming the directory, and the lock is released afterwards."""
    from fourier_circuits.runs.store import run_lock
    from fourier_circuits.runs.train import prepare_run_dir, train
    from fourier_circuits.training.config import resolve_config
    cfg = resolve_config(p=5, width=8, steps=20, rebalance_rounds=0)   # the polish stages only
    run_dir = prepare_run_dir(cfg, tmp_path / "run")
    with run_lock(run_dir):
        import subprocess
        import sys
        code = ("import sys; from fourier_circuits.training.config import resolve_config; from fourier_circuits.runs.train import train\n"
                f"train(resolve_config(p=5, width=8, steps=20, rebalance_rounds=0), {str(run_dir)!r}, progress=False)")
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert proc.returncode != 0
        assert "RunBusyError" in proc.stderr and str(run_dir) in proc.stderr
        assert not (run_dir / "metrics.jsonl").exists()
    stages = (train(cfg, run_dir, progress=False)["steps"] - 20) / cfg.polish_iters  # lock released: it trains
    assert stages in (3, 4, 5)                                                        # 20 Adam steps + the polish


def test_a_waiting_lock_returns_once_the_holder_releases(tmp_path):
    """run_lock(wait=True) blocks while another holder has the lock (flock is per open file, so a thread
    stands in for another process), and gets it once the holder lets go."""
    import threading

    from fourier_circuits.runs.store import run_lock
    held, release, order = threading.Event(), threading.Event(), []

    def holder():
        with run_lock(tmp_path):
            held.set()
            release.wait(10)
            order.append("holder released")

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(10)
    waiter = threading.Thread(target=lambda: [run_lock(tmp_path, wait=True).__enter__(), order.append("waiter got it")])
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive() and order == [], "the waiter blocks while the lock is held"
    release.set()
    waiter.join(10)
    thread.join(10)
    assert order == ["holder released", "waiter got it"]


def test_a_running_row_without_a_live_trainer_lists_as_stopped(tmp_path):
    """'running' is written when training starts; after a kill -9 nobody holds the run's lock any more, and the
    listing says 'stopped' (it resumes when trained again). While the lock is held it stays 'running'."""
    index = runstore.RunIndex(tmp_path / "root")
    run_dir = tmp_path / "root" / "r"
    run_dir.mkdir(parents=True)
    index.upsert({"run_dir": str(run_dir), "p": 7, "k": 2, "status": "running"})
    with runstore.run_lock(run_dir):
        assert runstore.lock_held(run_dir)
        assert [r["status"] for r in index.list()] == ["running"]
    assert not runstore.lock_held(run_dir)
    assert [r["status"] for r in index.list()] == ["stopped"]
    assert (run_dir / ".lock").read_text() == str(os.getpid())   # the probe leaves the lock file as it was
