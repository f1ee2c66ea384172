"""Training: the fast recipe reaches γ*, reproducibility, recipes, divergence, checkpoints, kill-and-resume."""
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from fourier_circuits.errors import DivergedError
from fourier_circuits.models.margins import evaluate_margins, l2nu_norm
from fourier_circuits.runs import store as runstore
from fourier_circuits.runs.checkpoints import checkpoint_steps, load_run
from fourier_circuits.runs.naming import default_run_name
from fourier_circuits.runs.train import prepare_run_dir, train
from fourier_circuits.tasks.modadd import ModularAddition
from fourier_circuits.theory.modadd import gamma_star_modadd
from fourier_circuits.training.config import resolve_config
from fourier_circuits.training.schedules import learning_rate, log_spaced_steps, temperature
from fourier_circuits.training.trainer import Trainer

RESULT_KEYS = {"status", "steps", "seconds", "normalized_margin", "gamma_star", "gamma_star_source", "margin_ratio", "train_accuracy",
               "test_accuracy", "train_loss", "rebalances", "run_dir"}


def without_seconds(d: dict) -> dict:
    return {k: v for k, v in d.items() if k != "seconds"}


# ------------------------------------------------------------------------------------------ fast recipe
@pytest.mark.parametrize("p,steps", [(5, 200), (7, 300)])
def test_fast_recipe_reaches_gamma_star_k2(p, steps):
    cfg = resolve_config(p=p, k=2, steps=steps)  # default fast recipe, default width 88
    res = train(cfg, progress=False)
    assert set(res) == RESULT_KEYS
    assert res["gamma_star"] == gamma_star_modadd(p, 2)
    assert res["margin_ratio"] >= 0.99
    assert res["margin_ratio"] <= 1 + 1e-6  # γ* is the maximum
    assert res["normalized_margin"] == pytest.approx(res["margin_ratio"] * res["gamma_star"], rel=1e-12)
    assert res["train_accuracy"] == 1.0 and res["test_accuracy"] is None
    # the Adam steps, then 3 polish stages of polish_iters L-BFGS iterations each
    assert res["status"] in ("done", "converged") and 1 <= res["steps"] <= steps + 5 * cfg.polish_iters
    assert res["run_dir"] is None


def test_fast_recipe_reaches_gamma_star_k3():
    res = train(resolve_config(p=5, k=3, width=88, steps=300), progress=False)
    assert 0.99 <= res["margin_ratio"] <= 1 + 1e-6
    assert res["gamma_star"] == gamma_star_modadd(5, 3)


@pytest.mark.slow
@pytest.mark.parametrize("p,k,width", [(23, 2, 88), (11, 3, 160)])
def test_fast_recipe_paper_scale(p, k, width):
    """The README's demo settings with the full default schedule."""
    res = train(resolve_config(p=p, k=k, width=width), progress=False)
    assert 0.99 <= res["margin_ratio"] <= 1 + 1e-6 and res["train_accuracy"] == 1.0


def test_fast_recipe_keeps_unit_norm_and_result_matches_model():
    cfg = resolve_config(p=5, k=2, width=16, steps=40, dtype="float64", polish_iters=0)
    t = Trainer(cfg, None, progress=False)
    assert l2nu_norm(t.model) == pytest.approx(1.0, rel=1e-12)
    res = t.run()
    assert t.model.embed.dtype == torch.float64 and t.model.unembed.dtype == torch.float64
    assert l2nu_norm(t.model) == pytest.approx(1.0, rel=1e-10)
    task = ModularAddition(5, 2)
    ev = evaluate_margins(t.model, task.inputs(), task.labels())
    assert res["normalized_margin"] == pytest.approx(ev["margin"], rel=1e-9)
    assert res["steps"] == 40 and math.isfinite(res["train_loss"])


def test_same_seed_same_result_different_seed_differs():
    cfg = resolve_config(p=5, k=2, width=8, steps=30)
    a, b = train(cfg, progress=False), train(cfg, progress=False)
    assert without_seconds(a) == without_seconds(b)
    c = train(resolve_config(p=5, k=2, width=8, steps=30, seed=1), progress=False)
    assert c["normalized_margin"] != a["normalized_margin"]


# ------------------------------------------------------------------------------------------ other recipes
def test_mo_recipe_runs_and_logs_metrics(tmp_path):
    cfg = resolve_config(recipe="mo", p=5, width=8, steps=5)
    assert cfg.objective == "ce" and cfg.optimizer == "gd" and not cfg.normalize
    res = train(cfg, tmp_path / "run", progress=False)
    assert res["steps"] == 5 and res["status"] == "done"
    rows = runstore.read_metrics(tmp_path / "run")
    assert [r["step"] for r in rows] == [0, 1, 2, 3, 4, 5]
    for r in rows:
        assert {"step", "train_loss", "train_accuracy", "margin", "norm", "normalized_margin", "margin_ratio",
                "seconds", "test_loss", "test_accuracy"} <= set(r)
        assert math.isfinite(r["train_loss"]) and math.isfinite(r["normalized_margin"])
        assert r["margin_ratio"] == pytest.approx(r["normalized_margin"] / gamma_star_modadd(5, 2))
    assert all(r["lr"] == 0.05 for r in rows[1:])
    assert rows[-1]["normalized_margin"] == res["normalized_margin"]
    assert rows[-1]["norm"] != pytest.approx(1.0)  # not normalized in this recipe


def test_float64_dtype_trains(tmp_path):
    cfg = resolve_config(p=5, width=16, steps=30, dtype="float64")
    res = train(cfg, tmp_path / "r", progress=False)
    _, model, _ = load_run(tmp_path / "r")
    assert model.embed.dtype == torch.float64
    arrays, _ = runstore.load_arrays(tmp_path / "r" / "last.npz")
    assert arrays["param.embed"].dtype == np.float64
    task = ModularAddition(5, 2)
    ev = evaluate_margins(model, task.inputs(), task.labels())
    assert res["normalized_margin"] == pytest.approx(ev["margin"] / l2nu_norm(model) ** 3, rel=1e-12)


def test_minibatch_with_train_fraction_reports_test_accuracy(tmp_path):
    cfg = resolve_config(recipe="li", p=7, width=24, steps=6, batch_size=8)
    assert cfg.train_fraction == 0.5 and cfg.optimizer == "adamw"
    res = train(cfg, tmp_path / "r", progress=False)
    assert res["steps"] == 6
    assert isinstance(res["test_accuracy"], float) and 0.0 <= res["test_accuracy"] <= 1.0
    split, _ = runstore.load_arrays(tmp_path / "r" / "split.npz")
    assert len(split["train"]) == round(0.5 * 49) and len(split["train"]) + len(split["test"]) == 49
    rows = runstore.read_metrics(tmp_path / "r")
    assert all(r["test_accuracy"] is not None and r["test_loss"] is not None for r in rows)


def test_minibatches_cover_each_epoch():
    cfg = resolve_config(p=5, width=4, batch_size=5, train_fraction=1.0)
    t = Trainer(cfg, None, progress=False)
    seen = []
    for step in range(5):
        t.step = step
        b = t._batch()
        assert len(b.y) == 5 and not b.population
        seen.append(b.x)
    rows = torch.cat(seen)
    assert torch.equal(torch.unique(rows[:, 0] * 5 + rows[:, 1]), torch.arange(25))  # one epoch = all points
    t.step = 5
    assert not torch.equal(t._batch().x, seen[0])  # next epoch reshuffled


# ------------------------------------------------------------------------------------------ schedules
@pytest.mark.parametrize("total,count", [(2000, 60), (2000, 12), (100, 5), (10000, 60), (7, 40), (1, 5),
                                         (40000, 12), (3, 3)])
def test_log_spaced_steps(total, count):
    s = log_spaced_steps(total, count)
    assert s[0] == 0 and s[-1] == total
    assert all(isinstance(v, int) for v in s)
    assert all(a < b for a, b in zip(s, s[1:]))
    assert len(s) <= count or count < 3
    assert len(s) <= total + 1
    if total >= 10 * count:  # roughly geometric: consecutive ratios bounded once past the dense start
        big = [v for v in s if v >= 2 * count]
        ratios = [b / a for a, b in zip(big, big[1:])]
        assert max(ratios) < 2 * min(ratios) + 1e-9
        assert len(s) >= count * 0.6


def test_log_spaced_steps_dense_start():
    assert log_spaced_steps(7, 40) == list(range(8))
    assert log_spaced_steps(0, 5) == [0]


def test_learning_rate_schedules():
    cfg = resolve_config(recipe="mo")
    assert learning_rate(cfg, 0, 0.05) == 0.05
    assert learning_rate(cfg, 999, 0.05) == 0.05
    assert learning_rate(cfg, 1000, 0.05) == 0.1
    assert learning_rate(cfg, 2500, 0.05) == 0.2
    assert learning_rate(cfg, 39999, 0.05) == 0.05 * 2**10
    li = resolve_config(recipe="li")
    assert learning_rate(li, 0, 1.0) == pytest.approx(0.1)
    assert learning_rate(li, 9, 1.0) == 1.0 and learning_rate(li, 5000, 1.0) == 1.0
    fast = resolve_config(steps=100)
    assert learning_rate(fast, 0, 2.0) == 2.0
    assert learning_rate(fast, 50, 2.0) == pytest.approx(1.0)
    assert learning_rate(fast, 100, 2.0) == 0.0
    assert temperature(fast, 0) == fast.tau_start
    assert temperature(fast, 100) == pytest.approx(fast.tau_end)
    assert temperature(fast, 500) == pytest.approx(fast.tau_end)


# ------------------------------------------------------------------------------------------ run dirs
def test_checkpoints_and_load_run(tmp_path):
    cfg = resolve_config(p=5, width=16, steps=50, n_checkpoints=8, early_stop=False, polish_iters=0)
    res = train(cfg, tmp_path / "r", progress=False)
    assert checkpoint_steps(tmp_path / "r") == log_spaced_steps(50, 8)
    loaded_cfg, model, rows = load_run(tmp_path / "r")
    assert loaded_cfg == cfg
    assert rows[-1]["step"] == 50 and rows[-1]["normalized_margin"] == res["normalized_margin"]
    task = ModularAddition(5, 2)
    ev = evaluate_margins(model, task.inputs(), task.labels())
    assert ev["margin"] / l2nu_norm(model) ** 3 == pytest.approx(res["normalized_margin"], rel=1e-12)
    # step-0 checkpoint is the (projected) initialization
    _, init, _ = load_run(tmp_path / "r", 0)
    fresh = Trainer(cfg, None, progress=False).model
    assert torch.equal(init.embed, fresh.embed) and torch.equal(init.unembed, fresh.unembed)
    with pytest.raises(FileNotFoundError):
        load_run(tmp_path / "r", 3)
    with pytest.raises(FileNotFoundError):
        load_run(tmp_path / "nothing")
    saved = json.loads((tmp_path / "r" / "result.json").read_text())
    assert saved == res and Path(res["run_dir"]) == tmp_path / "r"


def test_train_registers_in_index(tmp_path):
    cfg = resolve_config(p=5, width=8, steps=3)
    res = train(cfg, tmp_path / "root" / "r", progress=False)
    rows = runstore.RunIndex(tmp_path / "root").list()
    assert len(rows) == 1
    row = rows[0]
    assert row["run_dir"] == str((tmp_path / "root" / "r").resolve())
    assert row["status"] == res["status"] and row["normalized_margin"] == res["normalized_margin"]
    assert (row["p"], row["k"], row["width"], row["recipe"]) == (5, 2, 8, "fast")
    other = tmp_path / "other"
    train(cfg, tmp_path / "root" / "r2", progress=False, runs_root=other)
    assert len(runstore.RunIndex(other).list()) == 1


def test_rerun_finished_returns_stored_result(tmp_path):
    cfg = resolve_config(p=5, width=8, steps=10)
    first = train(cfg, tmp_path / "r", progress=False)
    last = tmp_path / "r" / "last.npz"
    before = (last.stat().st_mtime_ns, last.read_bytes())
    metrics = (tmp_path / "r" / "metrics.jsonl").read_text()
    again = train(cfg, tmp_path / "r", progress=False)
    assert again == first  # including "seconds": nothing was retrained
    assert (last.stat().st_mtime_ns, last.read_bytes()) == before
    assert (tmp_path / "r" / "metrics.jsonl").read_text() == metrics


def test_run_dir_with_other_config_refused(tmp_path):
    cfg = resolve_config(p=5, width=8, steps=3)
    prepare_run_dir(cfg, tmp_path / "r")
    with pytest.raises(ValueError, match="width"):
        train(resolve_config(p=5, width=9, steps=3), tmp_path / "r", progress=False)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "file").write_text("x")
    with pytest.raises(ValueError, match="config.json"):
        train(cfg, tmp_path / "junk", progress=False)


def test_default_run_name_depends_on_config():
    a = default_run_name(resolve_config(p=7, width=24))
    assert a.startswith("modadd-p7-k2-m24-d2-fast-s0-")
    assert a == default_run_name(resolve_config(p=7, width=24))
    assert a != default_run_name(resolve_config(p=7, width=24, lr=0.01))
    assert "-relu-" in default_run_name(resolve_config(p=7, activation="relu"))


# ------------------------------------------------------------------------------------------ divergence
def test_divergence_raises_and_keeps_finite_checkpoint(tmp_path):
    cfg = resolve_config(recipe="mo", p=5, width=8, lr=1e6, init_scale=10.0, steps=50)
    with pytest.raises(DivergedError, match="step"):
        train(cfg, tmp_path / "r", progress=False)
    assert not (tmp_path / "r" / "result.json").exists()
    arrays, meta = runstore.load_arrays(tmp_path / "r" / "last.npz")
    assert 0 <= meta["step"] < 50
    for k in ("param.embed", "param.unembed"):
        assert np.isfinite(arrays[k]).all()
    _, model, _ = load_run(tmp_path / "r")
    assert torch.isfinite(model.embed).all()
    rows = runstore.RunIndex(tmp_path).list()
    assert [r["status"] for r in rows] == ["diverged"]


def test_divergence_without_run_dir():
    with pytest.raises(DivergedError):
        train(resolve_config(recipe="mo", p=5, width=8, lr=1e6, steps=50), progress=False)


def test_divergence_last_checkpoint_finite_even_when_params_overflow(tmp_path):
    cfg = resolve_config(recipe="mo", p=5, width=8, lr=1e38, steps=50)
    with pytest.raises(DivergedError):
        train(cfg, tmp_path / "r", progress=False)
    arrays, _ = runstore.load_arrays(tmp_path / "r" / "last.npz")
    assert all(np.isfinite(arrays[k]).all() for k in ("param.embed", "param.unembed"))


def test_restart_before_first_save_does_not_duplicate_metrics(tmp_path):
    cfg = resolve_config(p=5, width=8, steps=5)
    run = prepare_run_dir(cfg, tmp_path / "r")
    runstore.append_metrics(run, {"step": 0, "normalized_margin": -1.0})  # killed after the first log row
    train(cfg, run, progress=False)
    steps = [r["step"] for r in runstore.read_metrics(run)]
    assert steps == sorted(set(steps))


# ------------------------------------------------------------------------------------------ kill and resume
KILL_STEPS = 250


def _cli_train(out: str) -> list[str]:
    return [sys.executable, "-m", "fourier_circuits.cli", "train", "--p", "11", "--k", "2", "--width", "40",
            "--steps", str(KILL_STEPS), "--out", out, "--json", "--no-progress", "--set", "n_checkpoints=40"]


def test_kill_and_resume_is_exact(tmp_path):
    run_dir = tmp_path / "killed"
    proc = subprocess.Popen(_cli_train("killed"), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    killed_at = None
    deadline = time.time() + 240
    try:
        while proc.poll() is None and time.time() < deadline:
            last = run_dir / "last.npz"
            if last.exists():
                _, meta = runstore.load_arrays(last)
                if meta["step"] >= 10:
                    os.kill(proc.pid, signal.SIGKILL)
                    killed_at = meta["step"]
                    break
            time.sleep(0.01)
    finally:
        if proc.poll() is None and killed_at is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
    assert killed_at is not None, "the run finished (or timed out) before it could be killed"
    assert proc.returncode == -signal.SIGKILL
    assert not (run_dir / "result.json").exists()
    kill_time = time.time()
    first_ckpt_mtime = (run_dir / "checkpoints" / "step_00000000.npz").stat().st_mtime

    # rerun the same command: it resumes from last.npz and finishes
    out = subprocess.run(_cli_train("killed"), cwd=tmp_path, capture_output=True, text=True, timeout=400)
    assert out.returncode == 0, out.stderr
    resumed = json.loads(out.stdout)
    assert (run_dir / "checkpoints" / "step_00000000.npz").stat().st_mtime == first_ckpt_mtime < kill_time

    # an uninterrupted run of the same configuration
    cfg = resolve_config(p=11, k=2, width=40, steps=KILL_STEPS, n_checkpoints=40)
    assert json.loads((run_dir / "config.json").read_text()) == cfg.to_dict()
    reference = train(cfg, tmp_path / "reference", progress=False)

    assert {k: v for k, v in without_seconds(resumed).items() if k != "run_dir"} == \
        {k: v for k, v in without_seconds(reference).items() if k != "run_dir"}
    _, m1, rows1 = load_run(run_dir)
    _, m2, rows2 = load_run(tmp_path / "reference")
    assert torch.equal(m1.embed, m2.embed) and torch.equal(m1.unembed, m2.unembed)
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(rows1) == strip(rows2)  # metrics were truncated to the resume point, no duplicates
    assert checkpoint_steps(run_dir) == checkpoint_steps(tmp_path / "reference")

    # a third invocation returns the stored result without training
    again = subprocess.run(_cli_train("killed"), cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and json.loads(again.stdout) == resumed


# ------------------------------------------------------------------------------------------ the fast recipe's end
def test_polish_raises_the_margin_and_logs_one_row_per_stage():
    base = dict(p=5, k=2, width=16, steps=150, dtype="float64", early_stop=False)
    plain = train(resolve_config(**base, polish_iters=0), progress=False)
    t = Trainer(resolve_config(**base, polish_iters=50), None, progress=False)
    polished = t.run()
    stages = [r for r in t.history if "polish_tau" in r]
    n = len(stages)
    assert 3 <= n <= 5 and [r["step"] for r in stages] == [150 + 50 * i for i in range(1, n + 1)]
    assert polished["steps"] == 150 + 50 * n
    margins = [t.history[-n - 1]["normalized_margin"]] + [r["normalized_margin"] for r in stages]
    gains = [(b - a) / a for a, b in zip(margins, margins[1:])]
    from fourier_circuits.training.refine import POLISH_MIN_GAIN, POLISH_MIN_STAGES
    assert all(g >= POLISH_MIN_GAIN for g in gains[POLISH_MIN_STAGES - 1:n - 1])  # a stage that paid: go on
    assert n == 5 or gains[-1] < POLISH_MIN_GAIN                                  # one that did not: the last
    assert polished["margin_ratio"] > plain["margin_ratio"]       # the same Adam phase, then the polish
    assert l2nu_norm(t.model) == pytest.approx(1.0, rel=1e-10)


STALLED = dict(p=5, k=2, width=12, seed=1)  # the first Adam phase and polish split the neurons 7/5: 0.9529 γ*


def test_a_stalled_split_is_rebalanced_to_gamma_star():
    """The k = 2 stall at 0.95 γ* is an uneven split of settled neurons over the frequencies; the fast
    recipe's rebalance evens it out and trains on to γ*."""
    stalled = Trainer(resolve_config(**STALLED, rebalance_rounds=0), None, progress=False).run()
    assert stalled["rebalances"] == 0 and stalled["margin_ratio"] < 0.96
    t = Trainer(resolve_config(**STALLED), None, progress=False)
    res = t.run()
    assert res["rebalances"] == 1 and res["margin_ratio"] >= 0.999
    assert res["steps"] > stalled["steps"] and [r["step"] for r in t.history] == sorted(r["step"] for r in t.history)


def test_a_run_stopped_in_its_rebalanced_phase_resumes_exactly(tmp_path, monkeypatch):
    """Stopped 50 steps into the Adam phase after the rebalance (its state saved at log-spaced steps
    before that), the run resumes in that phase and ends as an uninterrupted one, to the bit."""
    cfg = resolve_config(**STALLED)
    reference = train(cfg, tmp_path / "reference", progress=False)
    real_step = Trainer._take_step

    def stop_in_phase_two(self):
        if self.rebalances == 1 and self.phase_step == 50:
            raise KeyboardInterrupt
        return real_step(self)

    monkeypatch.setattr(Trainer, "_take_step", stop_in_phase_two)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "stopped", progress=False)
    monkeypatch.setattr(Trainer, "_take_step", real_step)
    _, meta = runstore.load_arrays(tmp_path / "stopped" / "last.npz")
    assert meta["rebalances"] == 1 and 0 < meta["phase_start"] < meta["step"] <= meta["phase_start"] + 50
    resumed = train(cfg, tmp_path / "stopped", progress=False)
    drop = ("seconds", "run_dir")
    assert {k: v for k, v in resumed.items() if k not in drop} == {k: v for k, v in reference.items() if k not in drop}
    _, m1, rows1 = load_run(tmp_path / "stopped")
    _, m2, rows2 = load_run(tmp_path / "reference")
    assert torch.equal(m1.embed, m2.embed) and torch.equal(m1.unembed, m2.unembed)
    assert [without_seconds(r) for r in rows1] == [without_seconds(r) for r in rows2]


def test_reseeding_replaces_dead_neurons_without_changing_the_function():
    from fourier_circuits.training.refine import reseed_dead_neurons
    t = Trainer(resolve_config(p=5, k=2, width=16, steps=10, dtype="float64"), None, progress=False)
    with torch.no_grad():
        t.model.embed[..., 3] *= 1e-3
        t.model.unembed[3] *= 1e-3                                # neuron 3 is dead
    task = ModularAddition(5, 2)
    before = t.model(task.inputs()).detach()
    norm = l2nu_norm(t.model)
    assert reseed_dead_neurons(t.model, t.optimizer, 0.05, seed=0) == 1
    sq = t.model.neuron_sq_norms(torch.float64)
    assert sq[3] > 0.05 * sq.mean()
    torch.testing.assert_close(t.model(task.inputs()).detach(), before, rtol=1e-2, atol=1e-3 * before.abs().max())
    assert l2nu_norm(t.model) == pytest.approx(norm, rel=1e-2)


def test_killed_during_the_polish_resumes_to_the_same_result(tmp_path, monkeypatch):
    from fourier_circuits.training import refine
    cfg = resolve_config(p=5, k=2, width=16, steps=60, polish_iters=20, early_stop=False)
    whole = train(cfg, tmp_path / "whole", progress=False)
    calls = []
    real = refine.lbfgs_polish

    def dies_in_stage_2(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr("fourier_circuits.training.refine.lbfgs_polish", dies_in_stage_2)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "killed", progress=False)
    monkeypatch.setattr("fourier_circuits.training.refine.lbfgs_polish", real)
    resumed = train(cfg, tmp_path / "killed", progress=False)
    assert without_seconds({**resumed, "run_dir": None}) == without_seconds({**whole, "run_dir": None})


def test_trainer_flushes_subnormals_to_zero():
    """Building a Trainer turns on flush-to-zero: a float32 product below 1.2e−38 is 0 afterwards, not a
    subnormal (subnormal softmin weights made CPU passes ~20× slower). Run in a fresh interpreter, since the
    mode is process-wide and other tests' trainers set it too."""
    code = ("import torch\n"
            "before = float(torch.tensor([1e-30]) * 1e-10)\n"
            "from fourier_circuits.training.config import resolve_config\n"
            "from fourier_circuits.training.trainer import Trainer\n"
            "Trainer(resolve_config(p=5, k=2, width=8, steps=1), None, progress=False)\n"
            "after = float(torch.tensor([1e-30]) * 1e-10)\n"
            "print(before, after, torch.set_flush_denormal(True))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    before, after, supported = float(out[0]), float(out[1]), out[2] == "True"
    if not supported:
        pytest.skip("this CPU has no flush-to-zero mode")
    assert 0 < before < 1.2e-38      # a subnormal before
    assert after == 0.0
