"""Where the paper-scale runs stand: one markdown row per run directory of a run store, finished or not.

    python experiments/paper_status.py [RUNS_DIR] [--min-steps 1000]

For each run (config.json present): status (result.json's, else "running" while a process holds the run's lock,
"stopped" when none does: it resumes when trained again) with the last metric row's step,
steps done of planned, train / test accuracy, margin / γ* and training seconds of the last metric row. Runs
with fewer planned steps than --min-steps (tests, smoke runs) are left out. A `reproduce --scale paper` that
is still training writes no report; this table is what can be said of it meanwhile (docs/paper_scale.md).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from fourier_circuits.runs.store import lock_held


def last_row(run_dir: Path) -> dict:
    """The last complete metric row (a torn last line, from a kill, is skipped)."""
    rows = []
    for line in (run_dir / "metrics.jsonl").read_text().splitlines() if (run_dir / "metrics.jsonl").exists() else []:
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows[-1] if rows else {}


def fmt(value, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def status_rows(root: Path, min_steps: int) -> list[str]:
    out = []
    for cfg_path in sorted(root.glob("*/config.json")):
        run_dir, cfg = cfg_path.parent, json.loads(cfg_path.read_text())
        if cfg.get("steps", 0) < min_steps:
            continue
        result = json.loads((run_dir / "result.json").read_text()) if (run_dir / "result.json").exists() else {}
        row = last_row(run_dir)
        status = result.get("status") or ("running" if lock_held(run_dir) else "stopped")
        task = cfg.get("group") or (f"parity n={cfg.get('n')}" if cfg.get("task") == "parity" else f"p={cfg.get('p')}")
        out.append(f"| {run_dir.name} | {task} k={cfg.get('k')} m={cfg.get('width')} | {cfg.get('recipe')} | "
                   f"{cfg.get('seed')} | {status} | {row.get('step', 0)} / {cfg.get('steps')} | "
                   f"{fmt(row.get('train_accuracy'), '.4f')} | {fmt(row.get('test_accuracy'), '.4f')} | "
                   f"{fmt(row.get('margin_ratio'), '.4f')} | {fmt(row.get('seconds'), '.0f')} |")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="?", default="runs")
    ap.add_argument("--min-steps", type=int, default=1000)
    args = ap.parse_args()
    print("| run | task | recipe | seed | status | step / planned | train acc | test acc | margin / γ* | train s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(status_rows(Path(args.runs), args.min_steps)))


if __name__ == "__main__":
    main()
