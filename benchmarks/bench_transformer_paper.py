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

It also prints each preset's dense FLOPs (a step, a metric row) and the expected GPU hours at --gpu-tflops
sustained TFLOP/s (a FLOP count, not a measurement: on a GPU, `--device cuda` measures).

Measured 2026-12-04, 1 torch thread on the project's 2-core CPU while 4–6 other jobs ran (so upper bounds):
    preset      step s   row s    expected h on CPU   FLOPs: step / row (TFLOP)   expected GPU @ 50 TFLOP/s
    li-tf-k3     264.5   4118.5   1538                0.391 / 28.9                3.2 min
    li-tf-k4     153.9   5621.7    948                0.522 / 156.9               6.6 min
    li-tf-k5      35.7  17767.3    495                0.652 / 301.5               10.4 min
    li-grok-k2    25.3     88.8    143                0.522 / 1.6                 3.5 min
    li-grok-k3    35.4    355.8    207                0.783 / 7.6                 5.5 min
    li-grok-k4    46.7    388.6    270                1.044 / 5.0                 7.1 min
    li-grok-k5    46.4     50.1    259                1.305 / 1.3                 8.7 min
  --smoke li-tf-k5 (p = 3, 3 steps at the paper's shapes, run store, analysis): done in 31 s.
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
    seq = 2 * cfg.k if cfg.op_token else cfg.k + 1   # tokens [a_1, op, .., a_k, =] or [a_1, .., a_k, =]
    fwd = forward_flops_per_token(cfg)
    probe = trainer.train.x[:4096]
    with torch.no_grad():
        fwd_s = _median_seconds(lambda: trainer.model(probe), dev, repeats)
    row_s = fwd_s * population / len(probe)
    return dict(preset=preset, p=cfg.p, k=cfg.k, n_layers=cfg.n_layers, n_heads=cfg.n_heads, d_head=cfg.d_head,
                batch=len(batch.y) if batch is not None else None, population=population, steps=cfg.steps,
                n_evals=cfg.n_evals, step_s=step_s, row_s=row_s, total_s=cfg.steps * step_s + cfg.n_evals * row_s,
                step_tflop=3 * fwd * seq * (cfg.batch_size or 0) / 1e12, row_tflop=fwd * seq * population / 1e12)


def forward_flops_per_token(cfg) -> float:
    """Dense forward FLOPs per token (2 per multiply-add): per layer the Q, K, V and output projections
    (4 · d_model · n_heads · d_head) and the MLP (2 · d_model · d_mlp); attention scores over ≤ 12 positions and
    the embeddings are negligible. A training step costs ≈ 3× the forward (backward = 2× forward)."""
    per_layer = 4 * cfg.d_model * cfg.n_heads * cfg.d_head + 2 * cfg.d_model * cfg.d_mlp
    return 2.0 * cfg.n_layers * per_layer


def gpu_hours(row: dict, tflops: float) -> float:
    """Expected hours of the whole preset at `tflops` sustained TFLOP/s (the FLOP count, not a measurement)."""
    return (row["steps"] * row["step_tflop"] + row["n_evals"] * row["row_tflop"]) / tflops / 3600


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
    ap.add_argument("--gpu-tflops", type=float, default=50.0,
                    help="sustained TFLOP/s assumed for the expected GPU time (an H100/H200 at TF32: ~50 is conservative)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = [measure(name, args.device, args.repeats) for name in args.presets]
    smokes = [smoke(name, args.device) for name in args.presets] if args.smoke else []
    if args.json:
        print(json.dumps(dict(device=args.device, threads=torch.get_num_threads(), presets=rows, smoke=smokes), indent=1))
        return
    print(f"device {args.device}, {torch.get_num_threads()} threads")
    print(f"{'preset':12} {'p':>3} {'k':>2} {'layers':>6} {'population':>11} {'step s':>8} {'row s':>9} {'steps':>6} "
          f"{'rows':>5} {'expected h':>10} {'step TFLOP':>10} {'row TFLOP':>9} {'GPU h @' + str(args.gpu_tflops):>10}")
    for r in rows:
        print(f"{r['preset']:12} {r['p']:3d} {r['k']:2d} {r['n_layers']:6d} {r['population']:11d} {r['step_s']:8.3f} "
              f"{r['row_s']:9.1f} {r['steps']:6d} {r['n_evals']:5d} {r['total_s'] / 3600:10.1f} {r['step_tflop']:10.3f} "
              f"{r['row_tflop']:9.1f} {gpu_hours(r, args.gpu_tflops):10.2f}")
    for s in smokes:
        print(f"smoke {s['preset']}: p={s['smoke_p']}, {s['steps']} steps, status {s['status']}, {s['seconds']:.1f} s")


if __name__ == "__main__":
    main()
