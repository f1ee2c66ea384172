"""[LI]'s transformers at the paper's shapes on this machine: one training step, one metric row, and the
expected time of each paper preset (li-tf-k3/k4/k5, Figs 3, 9, 10; li-grok-k2..k5, Fig 4).

    python benchmarks/bench_transformer_paper.py [--json] [--device cpu|cuda] [--repeats 3] [--smoke]

Per preset (160 heads of d_head 128, d_model 128, d_mlp 512; one layer for li-tf, two for li-grok):
  step_s   median seconds of one AdamW step on a minibatch of 1024 tuples (forward, backward, update)
  row_s    seconds of one metric row: the forward pass over the whole population (train and test together),
           extrapolated from the measured forward seconds of 4096 tuples (forward cost is linear in rows)
  total_s  steps · step_s + n_evals · row_s: the expected wall time of the whole preset on this device

`--smoke` also trains every preset end to end through the run store (`runs.train`) for 3 steps at the paper's
model shapes, with p replaced by the smallest prime that keeps the task (so that the step-0 and final metric
rows cover a population this machine can evaluate): every code path a paper-scale GPU run takes (the
trainer, checkpoints, metric rows, analysis of the heads) runs once at the real width, so nothing first
breaks at size on a GPU.

Measured 2026-12-04 (2-core CPU, shared with other jobs; see the closing note of issue 32 for the numbers).
On a GPU the same command with `--device cuda` gives the times to put beside each recipe.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from fourier_circuits.training.config import resolve_config
from fourier_circuits.training.trainer import Trainer

PRESETS = ["li-tf-k3", "li-tf-k4", "li-tf-k5", "li-grok-k2", "li-grok-k3", "li-grok-k4", "li-grok-k5"]
SMOKE_P = {2: 5, 3: 5, 4: 3, 5: 3}  # per k: a small p whose population evaluates in seconds at the paper's widths


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _median_seconds(fn, device: torch.device, repeats: int) -> float:
    fn()  # warm-up (allocations, kernels)
    times = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure(preset: str, device: str, repeats: int) -> dict:
    """step_s, row_s and total_s of one paper preset (see the module docstring)."""
    cfg = resolve_config(preset=preset, device=device)
    trainer = Trainer(cfg, None, progress=False)
    dev = trainer.device
    batch = trainer._batch()

    def step() -> None:
        trainer._take_step()

    step_s = _median_seconds(step, dev, repeats)
    population = cfg.p ** cfg.k
    probe = trainer.train.x[:4096]
    with torch.no_grad():
        fwd_s = _median_seconds(lambda: trainer.model(probe), dev, repeats)
    row_s = fwd_s * population / len(probe)
    return dict(preset=preset, p=cfg.p, k=cfg.k, n_layers=cfg.n_layers, n_heads=cfg.n_heads, d_head=cfg.d_head,
                batch=len(batch.y) if batch is not None else None, population=population, steps=cfg.steps,
                n_evals=cfg.n_evals, step_s=step_s, row_s=row_s, total_s=cfg.steps * step_s + cfg.n_evals * row_s)


def smoke(preset: str, device: str) -> dict:
    """Train `preset` for 3 steps at the paper's model shapes (small p) through the run store, then analyze."""
    from fourier_circuits.runs.analyze import analyze_run
    from fourier_circuits.runs.train import train

    base = resolve_config(preset=preset, device=device)
    cfg = dataclasses.replace(base, p=SMOKE_P[base.k], steps=3, n_evals=2, n_checkpoints=2, batch_size=64)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = train(cfg, Path(tmp) / "run", progress=False)
        analysis = analyze_run(Path(tmp) / "run", plots=False)
        return dict(preset=preset, smoke_p=cfg.p, status=result["status"], steps=result["steps"],
                    heads_analyzed=analysis.get("n_heads", cfg.n_heads * cfg.n_layers),
                    seconds=time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--presets", nargs="*", default=PRESETS)
    ap.add_argument("--smoke", action="store_true", help="also train each preset 3 steps end to end (small p)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = [measure(name, args.device, args.repeats) for name in args.presets]
    smokes = [smoke(name, args.device) for name in args.presets] if args.smoke else []
    if args.json:
        print(json.dumps(dict(device=args.device, threads=torch.get_num_threads(), presets=rows, smoke=smokes), indent=1))
        return
    print(f"device {args.device}, {torch.get_num_threads()} threads")
    print(f"{'preset':12} {'p':>3} {'k':>2} {'layers':>6} {'population':>11} {'step s':>8} {'row s':>9} {'steps':>6} "
          f"{'rows':>5} {'expected h':>10}")
    for r in rows:
        print(f"{r['preset']:12} {r['p']:3d} {r['k']:2d} {r['n_layers']:6d} {r['population']:11d} {r['step_s']:8.3f} "
              f"{r['row_s']:9.1f} {r['steps']:6d} {r['n_evals']:5d} {r['total_s'] / 3600:10.1f}")
    for s in smokes:
        print(f"smoke {s['preset']}: p={s['smoke_p']}, {s['steps']} steps, status {s['status']}, {s['seconds']:.1f} s")


if __name__ == "__main__":
    main()
