"""Issue 32: does [LI]'s recipe at k = 5 (li-nn-k5: p = 23, m = 5632) leave chance under other readings of its
unstated settings? Trains each variant for a few steps in memory (no run store) and prints its metric rows, one
JSON line each. ~5 min a variant of 1200 steps on one thread (the 4 metric rows cover 6.4 M tuples each):

    OMP_NUM_THREADS=1 python experiments/li_k5_probe.py '{"init_scale": 0.5}' '{"init_scale": 2.0}' '{"lr": 0.001}'
"""
from __future__ import annotations

import json
import sys
import time

import torch

from fourier_circuits.training.config import resolve_config
from fourier_circuits.training.trainer import Trainer


def probe(overrides: dict) -> None:
    cfg = resolve_config(**{"preset": "li-nn-k5", "steps": 1200, "n_evals": 4, "device": "cpu", **overrides})
    start = time.time()
    trainer = Trainer(cfg, progress=False)
    trainer.run()
    for row in trainer.history:
        print(json.dumps(dict(overrides=overrides, step=row["step"], train_loss=round(row["train_loss"], 4),
                              train_accuracy=round(row["train_accuracy"], 4), test_accuracy=row.get("test_accuracy"),
                              norm=round(row.get("norm") or 0.0, 3), seconds=round(time.time() - start))), flush=True)


if __name__ == "__main__":
    torch.set_num_threads(1)
    for spec in sys.argv[1:]:
        probe(json.loads(spec))
