"""training.resources: runs that cannot fit are refused before anything is written."""
import json
import subprocess
import sys
import time

import pytest

from fourier_circuits.errors import ConfigError, ResourceError
from fourier_circuits.training import resources
from fourier_circuits.training.config import resolve_config


def test_estimate_counts_population_logits_activations_and_parameters():
    cfg = resolve_config(p=11, k=3, width=160)
    parts = resources.estimate_bytes(cfg)
    assert set(parts) == {"population", "logits", "activations", "parameters", "total"}
    assert parts["population"] == 11**3 * 4 * 8                      # int64 inputs (k = 3) and labels
    assert parts["logits"] == 3 * 11**3 * 11 * 4                     # float32 logits + softmin buffers
    assert parts["parameters"] == 160 * (3 * 11 + 11) * (4 * 4 + 8)
    assert parts["total"] == sum(v for k, v in parts.items() if k != "total")


@pytest.mark.parametrize("overrides", [dict(p=101, k=4, width=10), dict(p=7, k=2, width=100_000_000)])
def test_oversized_runs_are_refused_with_the_estimate_and_the_limit(overrides):
    with pytest.raises(ResourceError, match=r"run needs about .* GB .* usable"):
        resolve_config(**overrides)
    assert resolve_config(**overrides, confirm_large=True).confirm_large      # the escape hatch


def test_limit_is_the_memory_the_machine_has(monkeypatch):
    cfg = dict(p=23, k=2, width=88)
    resolve_config(**cfg)
    monkeypatch.setattr(resources, "available_memory", lambda device: 1024)
    with pytest.raises(ResourceError):
        resolve_config(**cfg)


def test_transformer_and_parity_have_estimates():
    tf = resources.estimate_bytes(resolve_config(model="transformer", p=7, k=2, d_model=16, n_heads=2))
    parity = resources.estimate_bytes(resolve_config(task="parity", n=10, k=4, width=40))
    assert tf["total"] > 0 and parity["total"] > 0


@pytest.mark.parametrize("args", [["--p", "101", "--k", "4", "--width", "10"],
                                  ["--p", "7", "--k", "2", "--width", "100000000"]])
def test_cli_refuses_fast_and_leaves_no_directory(tmp_path, args):
    start = time.time()
    out = subprocess.run([sys.executable, "-m", "fourier_circuits.cli", "train", *args, "--runs", str(tmp_path / "runs")],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.startswith("error: run needs about") and out.stderr.count("\n") == 1
    assert not (tmp_path / "runs").exists() and list(tmp_path.iterdir()) == []
    assert time.time() - start < 30  # generous here; the measured time is in the closing note, not a test


def test_cuda_without_cuda_is_bad_input():
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigError, match="CUDA is not available"):
        resolve_config(p=5, device="cuda")
    json.dumps({})  # keep the import used
