"""Print the markdown table of docs/min_width.md from experiments/results/min_width/*.json (the answers of
`fourier-circuits min-width` written by experiments/min_width_law.py or by the command's --out); with
--sweep FILE, the answers of one multi-prime command (`--p 5..31 --out FILE`); with --probes, the single trials
of experiments/min_width_probe.py (*.jsonl)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

OUT = Path(__file__).parent / "results" / "min_width"


def fmt(x, spec: str = ".5f") -> str:
    return "—" if x is None else format(x, spec)


def law(r: dict) -> str:
    """The law's width (margin only: it is about γ*, not about fitting)."""
    return str(r["law_width"]) if r["target"] == "margin" and r["law_width"] else "—"


def compact(rows: list[dict]) -> None:
    """One line per case: the law's columns."""
    print("| target | k | p | bound | law | m_min | per frequency | best at m_min−1 | seeds | self-check | s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        c = r["self_check"]
        check = ("holds" if c["holds"] else f"fails ({c['m_min_doubled']})") if c["ran"] else "skipped"
        print(f"| {r['target']} | {r['k']} | {r['p']} | {r['bound']} | {law(r)} | {r['m_min']} | "
              f"{fmt(r['neurons_per_frequency'], '.1f')} | {fmt(r['best_below_m_min'])} | {r['seeds']} | {check} | "
              f"{r['seconds']:.0f} |")


def probes() -> None:
    """One line per (p, k, width, budget) of the single trials in *.jsonl (experiments/min_width_probe.py)."""
    rows: dict[tuple, list[dict]] = {}
    for f in sorted(OUT.glob("*.jsonl")):
        for t in map(json.loads, f.read_text().splitlines()):
            extra = ", ".join(f"{key}={v}" for key, v in sorted(t.get("overrides", {}).items()))
            rows.setdefault((t["k"], t["p"], t["width"], t["doubled"], extra), []).append(t)
    print("| k | p | width | bound | budget | seeds | best | worst | split of the best | steps | s per run |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for (k, p, m, doubled, extra), ts in sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][1], -kv[0][2], kv[0][3:])):
        best, worst = max(ts, key=lambda t: t["score"]), min(ts, key=lambda t: t["score"])
        seeds = ", ".join(str(t["seed"]) for t in sorted(ts, key=lambda t: t["seed"]))
        budget = ("2× steps" if doubled else "recipe") + (f" + {extra}" if extra else "")
        print(f"| {k} | {p} | {m} | {4 ** (k - 1) * (p - 1)} | {budget} | {seeds} | "
              f"{best['score']:.5f} | {worst['score']:.5f} | {best['split']} | "
              f"{'/'.join(str(t['steps']) for t in ts)} | {'/'.join(str(round(t['seconds'])) for t in ts)} |")


def main() -> None:
    if "--probes" in sys.argv:
        probes()
        return
    if "--sweep" in sys.argv:        # the answers of one multi-prime command (sweep_*.json) instead of p*_k*_*.json
        rows = json.loads(Path(sys.argv[sys.argv.index("--sweep") + 1]).read_text())["answers"]
    else:
        answers = (json.loads(f.read_text()) for f in OUT.glob("p*_k*_*.json"))
        rows = [r for r in answers if "target" in r]    # not the single-width runs (p7_k3_w48_*.json)
    rows = sorted(rows, key=lambda r: (r["target"], r["k"], r["p"]))
    if "--compact" in sys.argv:
        compact(rows)
        return
    print("| target | k | p | bound 2^(2k−2)(p−1) | law | m_min | per frequency | split at m_min | best at m_min−1 "
          "| widths (best / worst seed) | stalls | self-check | seeds | start | s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        widths = ", ".join(f"{w['width']}: {w['best']:.5f} / {w['worst']:.5f}" for w in r["widths"])
        stalls = "; ".join(f"{s['width']}/s{s['seed']}: {s['score']:.4f}" for s in r["stalls"]) or "none"
        c = r["self_check"]
        checked = ", ".join(f"{w['width']}: {w['best']:.5f} of {w['seeds']}" for w in c["widths"])
        check = (f"holds ({checked})" if c["ran"] and c["holds"] else f"FAILS → {c['m_min_doubled']}" if c["ran"]
                 else f"skipped: {c['skipped']}")
        print(f"| {r['target']} | {r['k']} | {r['p']} | {r['bound']} | {law(r)} | {r['m_min']} | "
              f"{fmt(r['neurons_per_frequency'], '.2f')} | {r['split_at_m_min']} | {fmt(r['best_below_m_min'])} | {widths} | "
              f"{stalls} | {check} | {r['seeds']} | {r.get('start') or 'bound'} | {r['seconds']:.0f} |")


if __name__ == "__main__":
    main()
