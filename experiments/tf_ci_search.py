"""Search ci-scale transformer settings (issue 15): train in memory, report head sparsity vs init, test
accuracy, the first 99% steps and wall time. Usage:
    OMP_NUM_THREADS=1 python experiments/tf_ci_search.py '{"p": 5, "k": 4, "steps": 300}' ...
Each argument is a JSON dict of overrides on top of a base (recipe tf, one layer)."""
from __future__ import annotations

import json
import sys
import time

import numpy as np
import torch

from fourier_circuits.analysis.attention import all_heads_qk, heads_sparsity
from fourier_circuits.analysis.curves import first_step_at
from fourier_circuits.training.config import resolve_config
from fourier_circuits.training.trainer import Trainer, build_model

BASE = dict(model="transformer", recipe="tf", n_layers=1, n_heads=4, d_head=32, d_mlp=512, train_fraction=0.5,
            weight_decay=1.0, lr=3e-3, lr_schedule="linear", steps=300, n_evals=30, device="cpu")


def measure(overrides: dict) -> dict:
    torch.set_num_threads(1)
    cfg = resolve_config(**{**BASE, **overrides})
    t0 = time.time()
    tr = Trainer(cfg, progress=False)
    init = heads_sparsity(all_heads_qk(build_model(cfg, torch.device("cpu")), 0))["max_power"]
    tr.run()
    final = heads_sparsity(all_heads_qk(tr.model, 0))["max_power"]
    h = tr.history
    return {**overrides, "seconds": round(time.time() - t0, 1), "ratio": round(float(np.median(final) / np.median(init)), 2),
            "init": round(float(np.median(init)), 3), "final": round(float(np.median(final)), 3),
            "train": h[-1]["train_accuracy"], "test": round(h[-1]["test_accuracy"], 4),
            "train_step": first_step_at(h, "train_accuracy"), "test_step": first_step_at(h, "test_accuracy")}


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(json.dumps(measure(json.loads(arg))), flush=True)
