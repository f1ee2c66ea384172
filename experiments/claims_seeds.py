"""Every claim on extra seeds, its closest call, and the claims table (issue 31, item 5 and its target).

    # 1. the ci claims on the seeds 0, +1, +2, +3 (each its own report and run store; ~3-6 min each)
    for n in 0 1 2 3; do OMP_NUM_THREADS=1 fourier-circuits reproduce --seed-offset $n --workers 2 \\
        --out /tmp/claims_seeds/report-s$n --runs /tmp/claims_seeds/runs-s$n; done
    # 2. keep their claims (results/claims_seeds/ci_offset{N}.json), measure, write docs/claims.md
    python experiments/claims_seeds.py /tmp/claims_seeds/report-s{0,1,2,3} [--cpu REPORT_OR_SUMMARY]
    # later: the same from the kept files, e.g. with a cpu summary once one exists
    python experiments/claims_seeds.py --cpu report-cpu

A claim is matched across seeds (and with the cpu summary) by its recipe, its text without the parenthesized
details and with every number replaced by '#', and its occurrence among the recipe's claims that read alike.
For a claim with `bounds` (the range its value must lie in), each seed's margin is the signed distance of its
value from the nearer end (positive: inside); the closest call is the smallest margin over the seeds, and it
is measured against the seed spread (max − min of the values). A claim whose seeds disagree on `holds`
straddles its threshold: a finding, not a pass. Thresholds are read, never changed, here.
"""
from __future__ import annotations

import argparse
import ast
import json
import math
import re
from pathlib import Path

from fourier_circuits.reproduce.results import load_summary, split_claim

HERE = Path(__file__).resolve().parent
OUT = HERE / "results" / "claims_seeds"
ROOT = HERE.parent
DOCS = ROOT / "docs" / "claims.md"
TESTS = ROOT / "tests" / "reproduce"
KEPT_KEYS = ("recipe", "claim", "expected", "measured", "holds", "value", "evidence", "bounds")
NUMBER = re.compile(r"n/a|[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?")

# The bad-network tests not found from test_claims_at_init.py's own tables: (recipe, a piece of the claim text
# or its evidence, the tests); the first match counts.
TESTS_BY_CLAIM = [
    ("mo-fig6", "construction", ["test_claims_at_init.py::test_mo_fig6s_construction_claims_fail_on_a_damaged_construction"]),
    ("li-fig3", "", ["test_claims_at_init.py::test_no_transformer_claim_holds_for_an_untrained_transformer"]),
    ("li-fig9", "", ["test_claims_at_init.py::test_no_transformer_claim_holds_for_an_untrained_transformer"]),
    ("li-fig10", "", ["test_claims_at_init.py::test_no_transformer_claim_holds_for_an_untrained_transformer"]),
    ("new-minimal-width", "counting bound",
     ["test_figures.py::test_the_count_at_the_bound_holds_only_from_the_counting_bound_up"]),
    ("new-minimal-width", "follows the law",
     ["test_minimal_width.py::test_the_law_claim_holds_where_the_runs_follow_it_and_fails_where_they_do_not"]),
    ("new-minimal-width", "the bound is not necessary",
     ["test_minimal_width.py::test_the_bound_is_not_necessary_claim_fails_when_only_the_bound_reaches_the_target"]),
    ("new-gamma-beyond", "certified", ["test_beyond.py::test_an_uncertified_answer_fails_its_claim"]),
    ("new-gamma-beyond", "group specs the package builds",
     ["test_beyond.py::test_the_sweep_claim_covers_every_buildable_spec_and_names_the_worst"]),
    ("new-gamma-beyond", "§8 formula = a certificate",
     ["test_beyond.py::test_a_formula_off_at_a_composite_modulus_or_every_irrep_used_fails_its_claim"]),
    ("new-gamma-beyond", "composite modulus",
     ["test_beyond.py::test_a_formula_off_at_a_composite_modulus_or_every_irrep_used_fails_its_claim"]),
    ("new-gamma-beyond", "Theorem 9's condition fails",
     ["test_beyond.py::test_a_formula_off_at_a_composite_modulus_or_every_irrep_used_fails_its_claim"]),
    # the trained k = 3 group nets: the same claim builders as the figures', failed by untrained group nets
    ("new-gamma-beyond", "", ["test_claims_at_init.py::test_no_claim_holds_for_an_untrained_network"]),
]


# --- reading --------------------------------------------------------------------------------------------

def kept(summary: dict) -> dict:
    """What is kept of a summary.json: its meta, counts and claims (no figures, no run paths)."""
    return dict(meta=summary["meta"], n_claims=summary["n_claims"], n_hold=summary["n_hold"],
                seconds=summary.get("seconds"), claims=[{k: c.get(k) for k in KEPT_KEYS} for c in summary["claims"]])


def keyed(summary: dict) -> dict[tuple[str, str, int], dict]:
    """The claims of a summary by (recipe, text without details and numbers, occurrence)."""
    out: dict[tuple[str, str, int], dict] = {}
    for c in summary["claims"]:
        base = NUMBER.sub("#", split_claim(c["claim"])[0])
        n = sum(1 for key in out if key[:2] == (c["recipe"], base))
        out[(c["recipe"], base, n)] = c
    return out


def split_check(expected: str) -> tuple[str, str]:
    """(the check, its citation): the expected text is 'check  — citation' (claims._cite)."""
    check, _, cite = expected.partition("  — ")
    return check.strip(), cite.strip()


# --- measuring ------------------------------------------------------------------------------------------

def margin(value: float | None, bounds) -> float | None:
    """Signed distance of `value` from the nearer end of `bounds` (positive inside); None without both."""
    if value is None or not bounds:
        return None
    low, high = bounds
    sides = ([value - low] if low is not None else []) + ([high - value] if high is not None else [])
    return min(sides) if sides else None


def verdict(holds: list[bool], margins: list[float | None], spread: float | None) -> str:
    if all(holds):
        if None in margins or not margins:
            return "holds on every seed (no numeric range)"
        closest = min(margins)
        if spread:
            return ("holds on every seed, but within its seed spread of the threshold" if closest < spread
                    else "holds on every seed, with margin")
        return ("holds on every seed at exactly its threshold (an equality, or the value's maximum)" if closest == 0
                else "holds on every seed, the same value on each")
    if not any(holds):
        return "fails on every seed"
    return "straddles its threshold over seeds: a finding, not a pass"


def measure(summaries: list[dict]) -> list[dict]:
    """One record per claim of the first summary (offset order): its value on each seed and its closest call."""
    per_seed = [(s["meta"].get("seed_offset", 0), keyed(s)) for s in summaries]
    records = []
    for key, first in per_seed[0][1].items():
        seeds = [dict(offset=off, value=c.get("value"), measured=c["measured"], holds=bool(c["holds"]))
                 for off, claims in per_seed if (c := claims.get(key)) is not None]
        values = [s["value"] for s in seeds if s["value"] is not None]
        bounds = first.get("bounds")
        margins = [margin(s["value"], bounds) for s in seeds]
        spread = (max(values) - min(values)) if len(values) == len(seeds) and values else None
        closest = None
        if margins and None not in margins:
            i = min(range(len(margins)), key=margins.__getitem__)
            rel = (margins[i] / spread if spread else (math.inf if margins[i] > 0 else None))
            closest = dict(margin=margins[i], offset=seeds[i]["offset"], spread=spread,
                           margin_over_spread=None if rel is None or math.isinf(rel) else rel)
        # the check's text of the last offset run (the newest code: citations added between runs show)
        check, cite = split_check(per_seed[-1][1].get(key, first)["expected"])
        records.append(dict(recipe=key[0], claim=first["claim"], check=check, citation=cite, bounds=bounds,
                            evidence=first.get("evidence"), seeds=seeds, n_seeds=len(seeds),
                            holds=sum(s["holds"] for s in seeds), min=min(values) if values else None,
                            max=max(values) if values else None, spread=spread, closest=closest,
                            verdict=verdict([s["holds"] for s in seeds], margins, spread), key=list(key)))
    return records


def closest_calls(records: list[dict], n: int = 10) -> list[dict]:
    """The `n` claims that hold on every seed closest to failing: smallest margin / spread first (claims with no
    spread or no numeric range are not ranked)."""
    ranked = [r for r in records if r["holds"] == r["n_seeds"] and r["closest"]
              and r["closest"]["margin_over_spread"] is not None]
    return sorted(ranked, key=lambda r: r["closest"]["margin_over_spread"])[:n]


# --- the tests that show a bad network fails a claim -------------------------------------------------------

def _literal(path: Path, name: str):
    """The value of the module-level literal `name` in the test file `path` (read, not imported)."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            value = node.value
            if isinstance(value, ast.ListComp):   # WHOLE = [n for n in (...) ]: the tuple it iterates
                value = value.generators[0].iter
            return ast.literal_eval(value)
    raise KeyError(f"{name} not in {path}")


def test_functions() -> set[str]:
    """'file.py::test_name' of every test function in tests/reproduce."""
    return {f"{p.name}::{node.name}" for p in TESTS.glob("test_*.py") for node in ast.parse(p.read_text()).body
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}


def bad_network_tests(record: dict) -> list[str]:
    """The tests where a bad network (untrained, damaged, a wrong answer) fails this claim: found from
    test_claims_at_init.py's tables (WHOLE: recipes whose every run-measured claim fails untrained; DAMAGED:
    claim starts each damage fails) and TESTS_BY_CLAIM."""
    init = TESTS / "test_claims_at_init.py"
    out = []
    if record["recipe"] in _literal(init, "WHOLE") and record["evidence"] != "construction":
        out.append(f"test_claims_at_init.py::test_no_figure_claim_holds_when_every_run_is_untrained[{record['recipe']}]")
    for kind, starts in _literal(init, "DAMAGED").items():   # (the ci paper-recipe margin is another builder)
        if any(s in record["claim"] for s in starts) and "under the paper's training" not in record["claim"]:
            out.append(f"test_claims_at_init.py::test_a_damaged_construction_fails_the_claims_that_describe_the_damage"
                       f"[{kind}]")
    out += next((tests for recipe, piece, tests in TESTS_BY_CLAIM if recipe == record["recipe"]
                 and (piece in record["claim"] or piece == record["evidence"])), [])
    known = test_functions()
    missing = [t for t in out if t.split("[")[0] not in known]
    if missing:
        raise SystemExit(f"claims_seeds.py names tests that do not exist: {missing}")
    return out


# --- writing --------------------------------------------------------------------------------------------

def _cell(text) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _num(x) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, int) or float(x).is_integer() and abs(x) < 1e6:
        return f"{x:g}" if isinstance(x, float) else str(x)
    return f"{x:.4g}"


def _ci_cell(r: dict) -> str:
    first = r["seeds"][0]
    text = f"{'✅' if first['holds'] else '❌'} {first['measured']}"
    if r["min"] is not None and r["n_seeds"] > 1:
        text += f"; seeds {_num(r['min'])}–{_num(r['max'])}"
    text += f"; holds {r['holds']}/{r['n_seeds']}"
    if "straddles" in r["verdict"]:
        text += " **(straddles)**"
    elif "within its seed spread" in r["verdict"]:
        text += " (within spread)"
    return text


def _cpu_cell(r: dict, cpu: dict | None) -> str:
    if cpu is None:
        return "not run"
    c = cpu.get(tuple(r["key"]))
    return "—" if c is None else f"{'✅' if c['holds'] else '❌'} {c['measured']}"


def _tests_cell(tests: list[str]) -> str:
    return "<br>".join(f"`{t}`" for t in tests) if tests else "none"


def markdown(records: list[dict], summaries: list[dict], cpu: dict | None, cpu_meta: dict | None,
             note: str = "") -> str:
    n = len(records)
    all_hold = sum(r["holds"] == r["n_seeds"] for r in records)
    straddlers = [r for r in records if "straddles" in r["verdict"]]
    within = [r for r in records if "within its seed spread" in r["verdict"]]
    never = [r for r in records if r["verdict"] == "fails on every seed"]
    no_test = [r for r in records if not r["tests"]]
    runs = [f"  - offset {s['meta'].get('seed_offset', 0)}: {s['n_hold']}/{s['n_claims']} hold, "
            f"{s['meta'].get('total_seconds', 0):.0f} s wall (ended {s['meta'].get('date')}): "
            f"`OMP_NUM_THREADS=1 {s['meta'].get('command', '')}`" for s in summaries]
    machine = summaries[0]["meta"].get("machine", "")
    lines = [
        "# Claims",
        "",
        "<!-- generated by `python experiments/claims_seeds.py`; do not edit by hand -->",
        "",
        "Every claim `fourier-circuits reproduce` checks at ci scale: its threshold, what the threshold cites (a",
        "figure or sentence of [MO] / [LI], docs/theory.md, or how it was chosen), its value on the ci seeds",
        "(`--seed-offset 0..3`: every trained run's seed shifted by the offset), its value at cpu scale, what it was",
        "measured on, and the test in which a bad network (untrained, damaged, or a wrong answer) fails it.",
        "",
        f"- ci runs, {len(summaries)} seed offsets, {machine}{'; ' + note if note else ''}:",
        *runs,
        f"- cpu: {'not run' if cpu_meta is None else cpu_meta.get('command') or cpu_meta.get('date')}.",
        f"- {n} claims; {all_hold} hold on every seed, {len(never)} fail on every seed, **{len(straddlers)} straddle "
        f"their threshold** (a finding, not a pass), {len(within)} hold on every seed but within their seed spread "
        "of the threshold.",
        "- The closest call of a claim is its smallest margin over the seeds (the signed distance of its value from",
        "  the threshold, positive when it holds) against the seed spread (max − min); below 1 it is within the",
        "  spread. Raw per-seed values: `experiments/results/claims_seeds/`.",
        "",
        "## Straddlers",
        "",
    ]
    lines += [f"- {r['recipe']}: {_cell(r['claim'])}: check {_cell(r['check'])}; values "
              + ", ".join(f"{_num(s['value'])} ({'holds' if s['holds'] else 'fails'})" for s in r["seeds"])
              for r in straddlers] or ["- none"]
    lines += ["", "## The 10 closest calls among the claims that hold on every seed", "",
              "| recipe | claim | check | values over seeds | closest margin | spread | margin / spread |",
              "|---|---|---|---|---|---|---|"]
    for r in closest_calls(records):
        c = r["closest"]
        lines.append(f"| {r['recipe']} | {_cell(r['claim'])} | {_cell(r['check'])} | "
                     f"{', '.join(_num(s['value']) for s in r['seeds'])} | {_num(c['margin'])} (offset {c['offset']}) | "
                     f"{_num(c['spread'])} | {c['margin_over_spread']:.2f} |")
    if no_test:
        lines += ["", "## Claims without a bad-network test", ""]
        lines += [f"- {r['recipe']}: {_cell(r['claim'])}" for r in no_test]
    lines += ["", "## Every claim", "",
              "| recipe | claim | threshold | citation | ci (offset 0; seed range; holds) | cpu | evidence | "
              "a bad network fails it |", "|---|---|---|---|---|---|---|---|"]
    for r in records:
        lines.append(f"| {r['recipe']} | {_cell(r['claim'])} | {_cell(r['check'])} | {_cell(r['citation'] or '—')} | "
                     f"{_cell(_ci_cell(r))} | {_cell(_cpu_cell(r, cpu))} | {r['evidence'] or '—'} | "
                     f"{_tests_cell(r['tests'])} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("summaries", nargs="*", help="ci summary.json files or report folders to keep "
                    "(results/claims_seeds/ci_offset{N}.json); none: read the kept files")
    ap.add_argument("--cpu", help="a cpu summary.json or report folder (the table's cpu column)")
    ap.add_argument("--docs", default=str(DOCS), help="the page to write [docs/claims.md]")
    ap.add_argument("--note", default="", help="a line about the runs (e.g. the machine's load) for the page")
    ap.add_argument("--results", default=str(OUT), help="where the kept summaries are [results/claims_seeds]")
    args = ap.parse_args()
    out = Path(args.results)
    out.mkdir(parents=True, exist_ok=True)
    for path in args.summaries:
        summary = kept(load_summary(path)[0])
        if summary["meta"].get("scale") != "ci":
            raise SystemExit(f"{path}: scale {summary['meta'].get('scale')!r}, not ci")
        off = summary["meta"].get("seed_offset", 0)
        (out / f"ci_offset{off}.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n")
    files = sorted(out.glob("ci_offset*.json"), key=lambda p: int(p.stem.removeprefix("ci_offset")))
    if not files:
        raise SystemExit(f"no ci summaries kept in {out}: give the reports of reproduce --seed-offset 0..3")
    summaries = [json.loads(p.read_text()) for p in files]
    records = measure(summaries)
    for r in records:
        r["tests"] = bad_network_tests(r)
    cpu_summary = load_summary(args.cpu)[0] if args.cpu else None
    cpu = keyed(cpu_summary) if cpu_summary else None
    (out / "closest_calls.json").write_text(json.dumps(
        dict(seed_offsets=[s["meta"].get("seed_offset", 0) for s in summaries], claims=records,
             closest=[[r["recipe"], r["claim"]] for r in closest_calls(records)]), indent=1, ensure_ascii=False) + "\n")
    Path(args.docs).write_text(markdown(records, summaries, cpu, cpu_summary["meta"] if cpu_summary else None,
                                        args.note))
    for r in closest_calls(records):
        c = r["closest"]
        print(f"closest  {c['margin_over_spread']:6.2f}  {r['recipe']}: {r['claim'][:90]}  "
              f"[{', '.join(_num(s['value']) for s in r['seeds'])}] vs {r['check']}")
    for r in records:
        if "straddles" in r["verdict"] or "within" in r["verdict"]:
            print(f"{'STRADDLES' if 'straddles' in r['verdict'] else 'within   '}  {r['recipe']}: {r['claim'][:90]}  "
                  f"[{', '.join(_num(s['value']) for s in r['seeds'])}] vs {r['check']}")
    print(f"wrote {args.docs} and {out / 'closest_calls.json'} ({len(records)} claims, {len(summaries)} seeds)")


if __name__ == "__main__":
    main()
