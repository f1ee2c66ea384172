"""The li-nn-k4 metric row (p = 47, k = 4, m = 2944, 50% split of all 47^4 = 4.88 M tuples): the float32 screen
(`models.margins.screen_population`, what `training.evaluation.margin_collapse_row` now runs) against the old
float64 row and against a plain float32 matmul of the same size, in the same run.

    python benchmarks/bench_metric_row.py [--steps 300] [--old-rows 8192] [--json]

Nets: the li-nn-k4 preset's initialization, and the same net after `--steps` steps of the li recipe (AdamW,
minibatches of 1024; no metric rows are taken while training). For each:
  new    `margin_collapse_row` (margin, losses, accuracies, norm and the softmax-collapse statistics), timed
         whole, with the screen's candidate counts (rows recomputed in float64: could be the minimum, could
         flip their argmax) and its largest margin bound D;
  old    the previous row: `evaluate_margins` in float64 on the train and on the test rows, then the collapse
         pass in the run's dtype. Timed on the first --old-rows train and test rows and extrapolated
         linearly to the 2.44 M + 2.44 M rows (its cost is linear in the rows: float64 chunks of 7.6k rows).
matmul   2·N·m·C = 1.35 TFLOP of float32 matmul: (a) the row's literal shape, (N × m) @ (m × C) in chunks of
         8192 rows; (b) the same FLOPs as 47 (2209 × 2944) @ (2944 × 2209) products, the screen's shape.
ratio = new row / the faster matmul, in wall seconds and in process CPU seconds. Both are printed because the
machine is shared: under load the wall times stretch, and with 2 threads the CPU seconds include OpenMP
spin-waits; `--threads 1` makes the CPU seconds the work itself.

Measured 2026-12-04 on this project's 2-core Intel Xeon (AVX-512; torch 2.13 CPU, MKL), a machine shared with
other engineers (load average 5-15 on 2 cores throughout, so wall times are stretched; the CPU seconds of a
1-thread run are the work itself). li-nn-k4 at its initialization unless said:
                                              wall s      CPU s     load
  old row, 1 thread (8192-row sample, x298)   1874.7      601.7     ~9
  new row, 1 thread                            101.9       19.3     ~9
  fp32 matmul 1.35 TFLOP, 1 thread              25.7        8.5     ~9
  new row, 2 threads                            36.4       18.2     ~5.6
  fp32 matmul 1.35 TFLOP, 2 threads             17.8        8.9     ~5.6
  new / matmul: 2.0 (wall, 2 threads), 2.3 (CPU, 1 thread); old / new: 31 (CPU)
  screen: 8858 rows recomputed in float64 (1 could be the minimum, 8857 could flip), max D = 1.5e-3;
  after 300 li steps (full benchmark run, before the one-thread fix below): 3877 rows (1 + 3876), D ≤ 1.3e-2.
  Before small ops ran on one thread, the 2-thread row took 373 s wall / 129 s CPU at load ~6 (OpenMP waits
  of many cached-size ops on an oversubscribed machine); the same full run at load ~14 gave old 3189 s,
  new 568 s, matmul 43 s (wall).
Full run `python benchmarks/bench_metric_row.py --steps 100` (2 threads, load 4.6 before, 5.9 after):
  fp32 matmul 1.35 TFLOP: literal 47.6 s (CPU 19.1), square 23.8 s (CPU 9.6)
             net  old row s  (CPU)  new row s  (CPU)  new/matmul (CPU)  recomputed  min  flip   max D
            init     2412.5  914.2       61.5   19.8        2.58  2.07        8858    1  8857  1.6e-3
    100 li steps     1911.1  789.3       36.7   18.2        1.54  1.90        4112    1  4111  7.6e-3
Idle, 2026-12-05 11:47 UTC (both background runs stopped with SIGSTOP; the load average was still their
decaying 2.1), `python benchmarks/bench_metric_row.py --steps 100 --json`, 2 threads, 38 s for the whole run:
  fp32 matmul 1.35 TFLOP: literal 4.76 s (CPU 9.5), square 3.83 s (CPU 7.6)
             net  old row s  (CPU)  new row s  (CPU)  new/matmul (CPU)  recomputed  min  flip   max D
            init      283.0  547.0       10.6   15.6        2.76  2.05        8858    1  8857  1.5e-3
    100 li steps      232.5  456.6       10.3   15.1        2.70  1.98        4112    1  4111  7.6e-3
  so the row takes 10.3-10.6 s wall on 2 idle cores (target <= 20 s), 23-27x less than the old float64 row.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch

from fourier_circuits.models.margins import evaluate_margins
from fourier_circuits.training import evaluation
from fourier_circuits.training.config import resolve_config
from fourier_circuits.training.evaluation import margin_collapse_row, train_loss_accuracy_collapse
from fourier_circuits.training.trainer import Batch, Trainer


def timed(fn):
    """(result, wall seconds, process CPU seconds) of fn()."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def capture_screen() -> list[dict]:
    """Record what every `screen_population` call of the row returns (its candidate counts)."""
    seen: list[dict] = []
    original = evaluation.screen_population

    def wrapper(*args, **kwargs):
        out = original(*args, **kwargs)
        seen.append(out)
        return out

    evaluation.screen_population = wrapper
    return seen


def old_row_seconds(trainer: Trainer, rows: int) -> tuple[float, float]:
    """(wall, CPU) seconds of the old float64 row, timed on `rows` train and test rows and scaled to all."""
    model, train, test, budget = trainer.model, trainer.train, trainer.test, trainer.budget
    sub_train, sub_test = Batch(train.x[:rows], train.y[:rows]), Batch(test.x[:rows], test.y[:rows])
    _, w1, c1 = timed(lambda: evaluate_margins(model, sub_train.x, sub_train.y, budget))
    _, w2, c2 = timed(lambda: evaluate_margins(model, sub_test.x, sub_test.y, budget))
    _, w3, c3 = timed(lambda: train_loss_accuracy_collapse(model, sub_train, budget))
    scale_train, scale_test = len(train.y) / rows, len(test.y) / rows
    return (w1 + w3) * scale_train + w2 * scale_test, (c1 + c3) * scale_train + c2 * scale_test


def matmul_seconds(n: int, m: int, c: int) -> dict:
    """Wall seconds of 2·n·m·c float32 FLOPs: the literal (n × m) @ (m × c) in 8192-row chunks, and as
    c products (p^2 × m) @ (m × p^2), p^2·p^2 = n (the screen's own matmul shape)."""
    chunk = 8192
    h, w, out = torch.randn(chunk, m), torch.randn(m, c), torch.empty(chunk, c)

    def literal() -> None:
        for start in range(0, n, chunk):
            rows = min(chunk, n - start)
            torch.mm(h[:rows], w, out=out[:rows])

    side = round(n**0.5)
    a, b, o = torch.randn(side, m), torch.randn(side, m), torch.empty(side, side)

    def square() -> None:
        for _ in range(c):
            torch.mm(a, b.T, out=o)

    torch.mm(h, w, out=out)
    torch.mm(a, b.T, out=o)
    (_, lit, lit_cpu), (_, sq, sq_cpu) = timed(literal), timed(square)
    return {"literal_s": lit, "literal_cpu_s": lit_cpu, "square_s": sq, "square_cpu_s": sq_cpu,
            "tflop": 2 * n * m * c / 1e12}


def bench_net(trainer: Trainer, label: str, old_rows: int, seen: list[dict]) -> dict:
    seen.clear()
    row, wall, cpu = timed(lambda: margin_collapse_row(trainer.model, trainer.train, trainer.test, trainer.budget,
                                                       trainer.gamma_star))
    screen = seen[-1] if seen else None
    old_wall, old_cpu = old_row_seconds(trainer, old_rows)
    return {"net": label, "new_s": wall, "new_cpu_s": cpu, "old_s": old_wall, "old_cpu_s": old_cpu,
            "fast_path": screen is not None, "candidates": screen and screen["candidates"],
            "min_candidates": screen and screen["min_candidates"],
            "flip_candidates": screen and screen["flip_candidates"], "max_bound": screen and screen["max_bound"],
            "margin": row["margin"], "margin_ratio": row["margin_ratio"], "train_accuracy": row["train_accuracy"],
            "test_accuracy": row["test_accuracy"], "train_loss": row["train_loss"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300, help="li-recipe steps for the trained net")
    parser.add_argument("--old-rows", type=int, default=8192, help="rows the old row is timed on")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    seen = capture_screen()
    trainer = Trainer(resolve_config(preset="li-nn-k4", steps=max(args.steps, 1), device="cpu"), progress=False)
    cfg = trainer.cfg
    n, m, c = cfg.p**cfg.k, trainer.model.width, trainer.model.n_classes
    results = [bench_net(trainer, "init", args.old_rows, seen)]
    print("init net done", file=sys.stderr, flush=True)
    _, train_wall, _ = timed(lambda: [trainer._take_step() for _ in range(args.steps)])
    print("training done", file=sys.stderr, flush=True)
    trainer.step = args.steps
    results.append(bench_net(trainer, f"{args.steps} li steps", args.old_rows, seen))
    mm = matmul_seconds(n, m, c)
    best = min(mm["literal_s"], mm["square_s"])
    best_cpu = min(mm["literal_cpu_s"], mm["square_cpu_s"])
    for r in results:
        r["ratio"], r["ratio_cpu"] = r["new_s"] / best, r["new_cpu_s"] / best_cpu
    info = {"threads": torch.get_num_threads(), "load_before": load_before, "load_after": os.getloadavg(),
            "rows": n, "width": m, "classes": c, "train_seconds": train_wall, "matmul": mm, "nets": results}
    if args.json:
        print(json.dumps(info, indent=2))
        return
    print(f"li-nn-k4: N = {n} rows, m = {m}, C = {c}; {torch.get_num_threads()} threads; load before "
          f"{load_before[0]:.1f}, after {os.getloadavg()[0]:.1f}; {args.steps} training steps took {train_wall:.1f} s")
    print(f"fp32 matmul {mm['tflop']:.2f} TFLOP: literal (N x m)@(m x C) {mm['literal_s']:.1f} s "
          f"(CPU {mm['literal_cpu_s']:.1f} s), square {mm['square_s']:.1f} s (CPU {mm['square_cpu_s']:.1f} s)")
    print(f"{'net':>14} {'old row s':>10} {'(CPU)':>8} {'new row s':>10} {'(CPU)':>8} {'new/matmul':>10} {'(CPU)':>6} "
          f"{'recomputed':>10} {'min cand':>8} {'flip cand':>9} {'max D':>9} {'margin/γ*':>10} {'test acc':>8}")
    for r in results:
        print(f"{r['net']:>14} {r['old_s']:>10.1f} {r['old_cpu_s']:>8.1f} {r['new_s']:>10.1f} {r['new_cpu_s']:>8.1f} "
              f"{r['ratio']:>10.2f} {r['ratio_cpu']:>6.2f} {r['candidates']!s:>10} {r['min_candidates']!s:>8} {r['flip_candidates']!s:>9} "
              f"{r['max_bound'] or 0:>9.2e} {r['margin_ratio']:>10.3g} {r['test_accuracy']:>8.4f}")


if __name__ == "__main__":
    main()
