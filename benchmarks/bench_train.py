"""Training-step throughput of the polynomial net against this machine's own fp32 matmul throughput.

    python benchmarks/bench_train.py [--json] [--device cpu|cuda] [--repeats 20]

For each case (k, p, m) it times full-batch steps of the default (fast) recipe on the whole population
Z_p^k: logits, smoothed-margin loss, fused backward, Adam update and projection to the unit sphere.
FLOPs per step are counted as the three matmuls of a dense implementation, 3 · 2·N·m·p with N = p^k
(forward h·W, backward hᵀ·g and g·Wᵀ); the elementwise work is not counted. This is model-FLOP
utilization: it counts the work the network defines, not what an implementation does. The "pass" column
is `PolyNet.population_pass()`: the polarization pass does these FLOPs as three matmuls on small operands
plus small subset nets; the binomial pass does (d − 1)× them; only the dense count is credited. The reference is
the median throughput of a 4096×4096 fp32 matmul on the same device. Target: ≥ 40% of it on (3, 31, 480).
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from fourier_circuits.training.config import resolve_config
from fourier_circuits.training.trainer import Trainer

CASES = [(2, 71, 500), (3, 31, 480), (4, 13, 768)]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def matmul_gflops(device: torch.device, n: int = 4096, repeats: int = 10) -> float:
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    times = []
    for _ in range(repeats + 2):
        _sync(device)
        t0 = time.perf_counter()
        a @ b
        _sync(device)
        times.append(time.perf_counter() - t0)
    return 2 * n**3 / statistics.median(times[2:]) / 1e9


def step_seconds(k: int, p: int, m: int, device: str, repeats: int) -> tuple[float, str]:
    """Median seconds per training step, and the population pass the trainer's model used."""
    cfg = resolve_config(p=p, k=k, width=m, device=device, steps=10**6)
    trainer = Trainer(cfg, None, progress=False)
    batch = trainer._batch()

    def step() -> None:
        trainer.optimizer.zero_grad(set_to_none=True)
        trainer._forward_backward(batch)
        trainer.optimizer.step()
        trainer._project()
        trainer.step += 1

    times = []
    for _ in range(repeats + 3):
        _sync(trainer.device)
        t0 = time.perf_counter()
        step()
        _sync(trainer.device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times[3:]), trainer.model.population_pass(trainer.model.rows_per_chunk(trainer.budget))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    device = torch.device(args.device)
    peak = matmul_gflops(device)
    rows = []
    for k, p, m in CASES:
        seconds, kind = step_seconds(k, p, m, args.device, args.repeats)
        flops = 6 * p**k * m * p
        gflops = flops / seconds / 1e9
        rows.append({"k": k, "p": p, "m": m, "pass": kind, "step_ms": seconds * 1e3, "gflops": gflops,
                     "matmul_gflops": peak, "ratio": gflops / peak})
    peak_after = matmul_gflops(device)  # the reference again: a busy machine shows up as a drift
    if args.json:
        print(json.dumps({"device": str(device), "threads": torch.get_num_threads(), "cases": rows,
                          "matmul_gflops_before": peak, "matmul_gflops_after": peak_after}, indent=2))
        return
    print(f"device {device}, {torch.get_num_threads()} threads, fp32 matmul 4096²: {peak:.1f} GFLOP/s "
          f"(after: {peak_after:.1f})")
    print(f"{'k':>2} {'p':>4} {'m':>5} {'pass':>9} {'step ms':>9} {'GFLOP/s':>9} {'of matmul':>10}")
    for r in rows:
        print(f"{r['k']:>2} {r['p']:>4} {r['m']:>5} {r['pass']:>9} {r['step_ms']:>9.2f} {r['gflops']:>9.1f} {r['ratio']:>9.1%}")


if __name__ == "__main__":
    main()
