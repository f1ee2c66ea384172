"""experiments/nanda_reference.py: a few steps run, log what they say, and the loss falls."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "nanda_reference.py"


def test_nanda_reference_runs_and_logs(tmp_path):
    out = tmp_path / "log.jsonl"
    done = subprocess.run([sys.executable, str(SCRIPT), "--steps", "30", "--every", "10", "--threads", "2",
                           "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 10, 20, 30]
    assert rows[-1]["train_loss"] < rows[0]["train_loss"] - 0.1    # training moves the loss within 30 steps
    assert 4.0 < rows[0]["test_loss"] < 5.5                        # ≈ log 114 at init
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["seed"] == 0 and summary["collapse_step"] is None and summary["test_acc_step"] is None


def test_nanda_reference_rejects_bad_steps(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), "--steps", "0", "--out", str(tmp_path / "x.jsonl")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "--steps" in done.stderr and not (tmp_path / "x.jsonl").exists()


def test_k5_stall_keeps_the_pure_polish_single_frequency():
    script = SCRIPT.parent / "k5_stall.py"
    done = subprocess.run([sys.executable, str(script), "--p", "5", "--k", "3", "--width", "64", "--steps", "300"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = {r["stage"]: r for r in map(json.loads, done.stdout.strip().splitlines())}
    assert list(rows) == ["trained", "purified", "free_polish", "pure_polish"]
    assert rows["purified"]["min_max_power"] > 1 - 1e-9 and rows["pure_polish"]["min_max_power"] > 1 - 1e-9
    assert all(0 < r["margin_ratio"] <= 1 + 1e-9 for r in rows.values())
    assert rows["pure_polish"]["margin_ratio"] > rows["purified"]["margin_ratio"]    # the polish moved it
