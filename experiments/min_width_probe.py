"""Single trials of the min-width scan (issue 30), one JSON line each as it finishes, for the cases where a full
`fourier-circuits min-width` scan does not fit the time on a shared machine: the same trial as the command's
(`runs.min_width.run_trial` on `trial_config`: the fast recipe, margin / γ* on the whole population, and the
split of significant neurons over the frequencies), appended to experiments/results/min_width/<name>.jsonl.

Run:  OMP_NUM_THREADS=1 nice -n 10 python experiments/min_width_probe.py NAME P,K,WIDTH,SEED[,2] ... [--set KEY=INT]
(a trailing ,2 trains with the doubled budget: twice the recipe's steps, as the self-check does; --set
changes one integer setting of the recipe, e.g. rebalance_rounds=2, recorded in the line as "overrides": then
it is not the command's trial). A trial already in the file is skipped, so the script can be stopped and run
again.
"""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import torch

from fourier_circuits.runs.min_width import run_trial, trial_config

OUT = Path(__file__).parent / "results" / "min_width"


def main() -> None:
    torch.set_num_threads(1)
    name, args = sys.argv[1], sys.argv[2:]
    overrides = {a.split("=")[0]: int(a.split("=")[1]) for a in args[args.index("--set") + 1:]} if "--set" in args else {}
    specs = args[:args.index("--set")] if "--set" in args else args
    path = OUT / f"{name}.jsonl"
    done = {(r["p"], r["k"], r["width"], r["seed"], r["doubled"])
            for r in map(json.loads, path.read_text().splitlines() if path.exists() else [])}
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent).stdout.strip()
    for spec in specs:
        p, k, width, seed, *factor = map(int, spec.split(","))
        doubled = factor == [2]
        if (p, k, width, seed, doubled) in done:
            continue
        cfg = dataclasses.replace(trial_config(p, k, width, seed, "margin", doubled), **overrides)
        trial = run_trial(cfg, "margin", doubled)
        row = {"p": p, "k": k, **asdict(trial), "overrides": overrides, "commit": commit,
               "machine": f"1 thread on a shared {os.cpu_count()}-core machine, scheduling policy "
                          f"{os.sched_getscheduler(0)} (0 normal, 5 idle), nice {os.nice(0)}",
               "load": os.getloadavg()}
        with path.open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
