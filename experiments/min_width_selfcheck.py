"""Run the self-check of a stored min-width answer that skipped it (`--no-check`, to save time on a shared
machine): the `PATIENCE` widths below m_min with twice the seeds and twice the steps, exactly as
`runs.min_width.scan_widths` step 4 does, and write the answer back with its self_check filled in (the answer's
"seconds" then includes the check's; "self_check_added" says when and how long it took).

Run:  OMP_NUM_THREADS=1 nice -n 10 python experiments/min_width_selfcheck.py p11_k2_margin [p19_k2_margin ...]
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

from fourier_circuits.runs.min_width import PATIENCE, WidthScan, run_trial, trial_config, width_rows

OUT = Path(__file__).parent / "results" / "min_width"


def self_check(answer: dict) -> tuple[dict, list]:
    p, k, target, seeds, m_min = answer["p"], answer["k"], answer["target"], answer["seeds"], answer["m_min"]
    trials = []
    for m in range(m_min - 1, max(0, m_min - 1 - PATIENCE), -1):
        for seed in range(2 * seeds):
            trials.append(run_trial(trial_config(p, k, m, seed, target, True), target, True))
            print(asdict(trials[-1]), flush=True)
    scan = WidthScan(answer["bound"], answer["threshold"], scores={w["width"]: [w["best"]] for w in answer["widths"]})
    for t in trials:
        scan.check.setdefault(t.width, []).append(t.score)
    return {"ran": True, "skipped": None, "widths": width_rows(trials, True), "m_min_doubled": scan.m_min_doubled,
            "holds": scan.m_min_doubled == m_min}, trials


def main() -> None:
    torch.set_num_threads(1)
    for name in sys.argv[1:]:
        path = OUT / f"{name}.json"
        answer = json.loads(path.read_text())
        if answer["self_check"]["ran"] or answer["m_min"] is None or answer["m_min"] == 1:
            continue
        t0 = time.time()
        check, trials = self_check(answer)
        seconds = time.time() - t0
        answer["self_check"] = check
        answer["trials"] += [asdict(t) for t in trials]
        answer["seconds"] = round(answer["seconds"] + seconds, 1)
        answer["self_check_added"] = {"seconds": round(seconds, 1), "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                      "machine": "1 thread (OMP_NUM_THREADS=1, nice 10) on a shared 2-core machine"}
        path.write_text(json.dumps(answer, indent=1))
        print(f"{name}: self-check {'holds' if check['holds'] else 'FAILS'} "
              f"(m_min {answer['m_min']}, doubled {check['m_min_doubled']}), {seconds:.0f} s", flush=True)


if __name__ == "__main__":
    main()
