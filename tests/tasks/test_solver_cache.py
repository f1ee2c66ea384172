"""Solver values shared by the runs of one store (tasks/solver_cache.py), and their use by train / analyze."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from fourier_circuits.tasks import solver_cache
from fourier_circuits.tasks.group import gamma_star_k, solver_key
from fourier_circuits.tasks.solver_cache import SOLVER_VERSION, remembered, solver_cache_at


@pytest.fixture(autouse=True)
def fresh_memory():
    solver_cache.forget()
    yield
    solver_cache.forget()


def counting(value: float):
    calls = []

    def compute():
        calls.append(1)
        return value
    return compute, calls


def test_a_value_is_solved_once_per_store_and_read_back_by_another_process(tmp_path):
    compute, calls = counting(0.125)
    with solver_cache_at(tmp_path):
        assert remembered("group-X-k3", compute) == 0.125
        assert remembered("group-X-k3", compute) == 0.125
    assert len(calls) == 1
    record = json.loads((tmp_path / "group-X-k3.json").read_text())
    assert record["value"] == 0.125 and record["solver_version"] == SOLVER_VERSION and record["seconds"] >= 0
    solver_cache.forget()   # as a new process: memory empty, the file answers
    with solver_cache_at(tmp_path):
        assert remembered("group-X-k3", compute) == 0.125
    assert len(calls) == 1


@pytest.mark.parametrize("content", ["{not json", json.dumps({"value": 0.5, "solver_version": SOLVER_VERSION - 1}),
                                     json.dumps({"value": "x", "solver_version": SOLVER_VERSION}), "[]"])
def test_an_unreadable_or_stale_file_is_solved_again_and_replaced(tmp_path, content):
    (tmp_path / "k.json").write_text(content)
    compute, calls = counting(0.25)
    with solver_cache_at(tmp_path):
        assert remembered("k", compute) == 0.25
    assert len(calls) == 1 and json.loads((tmp_path / "k.json").read_text())["value"] == 0.25


def test_without_a_store_values_live_in_memory_only(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    compute, calls = counting(1.0)
    assert remembered("k", compute) == 1.0 and remembered("k", compute) == 1.0
    assert len(calls) == 1 and not list(tmp_path.iterdir())
    with solver_cache_at(tmp_path / "store"):   # a value solved before the store was chosen is shared with it
        assert remembered("k", compute) == 1.0
    assert len(calls) == 1 and (tmp_path / "store" / "k.json").exists()


def test_keys_are_file_name_safe_and_distinct():
    assert solver_key("group", "C2xS3", 2) == "group-C2xS3-k2"
    odd = [solver_key("group", s, 3) for s in ("A/B", "A B", "A_B")]
    assert len(set(odd)) == 3 and all("/" not in k and " " not in k for k in odd)


def test_train_and_analyze_solve_gamma_star_once_per_store(tmp_path):
    """A k = 3 group run (γ* from the class LP) writes <root>/solver/group-S3-k3.json; a second process
    training another seed in the same store reads it instead of solving (class_lp made to fail there)."""
    from fourier_circuits.runs.analyze import analyze_run
    from fourier_circuits.runs.train import train
    from fourier_circuits.training.config import resolve_config
    root = tmp_path / "runs"
    cfg = resolve_config(task="group", group="S3", k=3, width=16, steps=50, seed=0)
    result = train(cfg, root / "a", runs_root=root)
    path = root / "solver" / "group-S3-k3.json"
    assert json.loads(path.read_text())["value"] == result["gamma_star"] == gamma_star_k("S3", 3)
    script = f"""
import fourier_circuits.theory.solver as solver
solver.class_lp = lambda *a, **k: (_ for _ in ()).throw(AssertionError("solved again"))
from fourier_circuits.runs.train import train
from fourier_circuits.runs.analyze import analyze_run
from fourier_circuits.training.config import resolve_config
cfg = resolve_config(task="group", group="S3", k=3, width=16, steps=50, seed=1)
r = train(cfg, {str(root / 'b')!r}, runs_root={str(root)!r}, progress=False)
a = analyze_run({str(root / 'b')!r}, plots=False)
print(r["gamma_star"], a["gamma_star"], a["gamma_star_source"])
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    assert float(out[0]) == float(out[1]) == result["gamma_star"] and out[2] == "solver"
    assert analyze_run(root / "a", plots=False)["gamma_star"] == result["gamma_star"]
