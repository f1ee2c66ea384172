"""The results page: claims of the figure recipes per scale, generated from `reproduce` summaries.

`fourier-circuits reproduce --out DIR` writes DIR/summary.json (see `report._summary_dict`). This module reads
one such summary per scale (ci, cpu, paper; any of them may be missing: its column reads "not run") and writes

    docs/results.md                     per figure recipe: what the paper shows, its claims with the measured
                                        value and holds / fails at each scale, the time, the figures
    docs/results/<scale>/<recipe>/*.png the figures, copied from each report (the folders of every scale are
                                        owned by this module and rewritten on every call)
    README.md                           the table between RESULTS_BEGIN and RESULTS_END (one row per recipe)

Nothing here imports torch; the descriptions come from `reproduce.figures.FIGURE_RECIPES`.
"""
from __future__ import annotations

import json
import re
import shutil
from collections.abc import Mapping
from pathlib import Path

from fourier_circuits.errors import ConfigError
from fourier_circuits.runs.store import atomic_write_bytes

SCALES = ("ci", "cpu", "paper")
RESULTS_BEGIN = "<!-- results:begin -->"
RESULTS_END = "<!-- results:end -->"
NOT_RUN = "not run"
EVIDENCE = "evidence"   # optional claim field ("paper recipe", "max-margin recipe", "construction"; None: no network)


# ------------------------------------------------------------------------------------------------ input

def load_summary(path: str | Path) -> tuple[dict, Path]:
    """Read a reproduce summary: `path` is summary.json or the report folder holding it.

    Returns:
        The summary dict and the report folder (the figures' paths in the summary are relative to it).
    """
    path = Path(path)
    if path.is_dir():
        path = path / "summary.json"
    if not path.is_file():
        raise FileNotFoundError(f"no reproduce summary at {path} (write one with `fourier-circuits reproduce --out DIR`)")
    try:
        summary = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path} is not a reproduce summary.json: {e}") from None
    if not isinstance(summary, dict) or not {"claims", "recipes"} <= summary.keys():
        raise ConfigError(f"{path} is not a reproduce summary.json: it has no 'claims' and 'recipes'")
    return summary, path.parent


def first_sentence(text: str) -> str:
    """The first sentence of a recipe description (a period after "Fig", "e.g" or "i.e" does not end one)."""
    text = " ".join(text.split())
    match = re.search(r"(?<!Fig)(?<!Figs)(?<!e\.g)(?<!i\.e)(?<!\bcf)\.\s+(?=[A-Z(\[])", text)
    return text[: match.start() + 1] if match else text


def recipe_descriptions() -> dict[str, tuple[str, str]]:
    """Recipe name → (title, first sentence of its description), for every known figure recipe."""
    from fourier_circuits.reproduce.figures import FIGURE_RECIPES
    return {name: (r.title, first_sentence(r.description)) for name, r in FIGURE_RECIPES.items()}


# ----------------------------------------------------------------------------------------------- tables

def _cell(text) -> str:
    """A value made safe for one cell of a Markdown table."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _seconds(seconds: float) -> str:
    seconds = float(seconds or 0.0)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _recipe_order(summaries: Mapping[str, dict], known: Mapping[str, tuple[str, str]]) -> list[str]:
    """Every recipe in any summary: the known ones in FIGURE_RECIPES order, then the others as met."""
    seen = [r["name"] for s in summaries.values() for r in s["recipes"]]
    return [n for n in known if n in seen] + list(dict.fromkeys(n for n in seen if n not in known))


def split_claim(text: str) -> tuple[str, str]:
    """(the claim without its parenthesized details, the details): "margin → γ* (p=23 k=2)" gives
    ("margin → γ*", "p=23 k=2"). The details (run label, seeds, steps) differ between scales; the rest does not."""
    details = []
    while (match := re.search(r"\s*\(([^()]*)\)", text)) is not None:
        details.append(match.group(1))
        text = text[: match.start()] + text[match.end():]
    return " ".join(text.split()), "; ".join(details)


def _claims_of(summary: dict, recipe: str) -> dict[tuple[str, int], dict]:
    """A recipe's claims keyed by (claim without details, occurrence): the same claim at two scales shares a
    key even when its run label differs; two claims that read alike within a recipe keep their order."""
    out: dict[tuple[str, int], dict] = {}
    for c in summary["claims"]:
        if c["recipe"] == recipe:
            base = split_claim(c["claim"])[0]
            out[(base, sum(key[0] == base for key in out))] = c
    return out


def _recipe_of(summary: dict, recipe: str) -> dict | None:
    return next((r for r in summary["recipes"] if r["name"] == recipe), None)


def _count_cell(summary: dict | None, recipe: str) -> str:
    """ci / cpu / paper cell of the README table: "✅ 5/5", "❌ 3/5", "error", "—" or "not run"."""
    if summary is None:
        return NOT_RUN
    rec = _recipe_of(summary, recipe)
    if rec is None:
        return "—"
    if rec.get("error"):
        return "⚠️ error"
    claims = _claims_of(summary, recipe).values()
    held = sum(bool(c["holds"]) for c in claims)
    return f"{'✅' if held == len(claims) else '❌'} {held}/{len(claims)}"


def readme_table(summaries: Mapping[str, dict], known: Mapping[str, tuple[str, str]], page: str) -> str:
    """One row per figure recipe: the figure, what it checks, claims holding at ci / cpu / paper."""
    lines = ["| figure | what is checked | " + " | ".join(SCALES) + " |", "|---|---|" + "---|" * len(SCALES)]
    for name in _recipe_order(summaries, known):
        title = known.get(name, (name, ""))[0]
        what = title.split(" — ", 1)[-1]
        cells = [_count_cell(summaries.get(scale), name) for scale in SCALES]
        lines.append(f"| [{name}]({page}#{name}) | {_cell(what)} | " + " | ".join(cells) + " |")
    totals = []
    for scale in SCALES:
        s = summaries.get(scale)
        totals.append(NOT_RUN if s is None else f"{s['n_hold']}/{s['n_claims']} in {_recipe_time(s)}")
    lines.append("| **all** | claims holding, wall time | " + " | ".join(totals) + " |")
    return "\n".join(lines)


def _claim_cell(claim: dict | None, shown_check: str) -> str:
    if claim is None:
        return "—"
    mark = "✅ holds" if claim["holds"] else "❌ fails"
    text = f"{mark}: {claim['measured']}"
    details = split_claim(claim["claim"])[1]
    if details:
        text += f" · {details}"
    if claim["expected"] != shown_check:
        text += f" (check {claim['expected']})"
    return _cell(text)


def _claims_table(summaries: Mapping[str, dict], name: str) -> list[str]:
    """The claims of one recipe, one row each, a column per scale (and one for the evidence when given)."""
    per_scale = {scale: _claims_of(s, name) for scale, s in summaries.items()}
    rows = list(dict.fromkeys(key for claims in per_scale.values() for key in claims))
    if not rows:
        return ["No claims were recorded for this recipe."]
    with_evidence = any(c.get(EVIDENCE) for claims in per_scale.values() for c in claims.values())
    head = ["claim", "check"] + ([EVIDENCE] if with_evidence else []) + list(SCALES)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key in rows:
        found = [per_scale[s][key] for s in SCALES if s in per_scale and key in per_scale[s]]
        check = found[0]["expected"]
        cells = [_cell(key[0]), _cell(check)]
        if with_evidence:
            cells.append(_cell(" / ".join(dict.fromkeys(c[EVIDENCE] for c in found if c.get(EVIDENCE))) or "—"))
        for scale in SCALES:
            cells.append(NOT_RUN if scale not in summaries else _claim_cell(per_scale[scale].get(key), check))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


# ---------------------------------------------------------------------------------------------- figures

def copy_figures(summaries: Mapping[str, dict], report_dirs: Mapping[str, Path], docs_dir: Path) -> dict:
    """Copy every recipe's PNG figures into docs_dir/results/<scale>/<recipe>/.

    The folder of every scale in SCALES is emptied first, so the copies mirror exactly the summaries given.

    Returns:
        {scale: {recipe: [paths relative to docs_dir]}}; a figure missing from its report is skipped.
    """
    copied: dict[str, dict[str, list[str]]] = {}
    for scale in SCALES:
        target_root = docs_dir / "results" / scale
        if target_root.exists():
            shutil.rmtree(target_root)
        if scale not in summaries:
            continue
        copied[scale] = {}
        for rec in summaries[scale]["recipes"]:
            paths = []
            for rel in rec.get("figures", []):
                source = report_dirs[scale] / rel
                if not source.is_file():
                    continue
                target = target_root / rec["name"] / source.name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
                paths.append(target.relative_to(docs_dir).as_posix())
            copied[scale][rec["name"]] = paths
    return copied


# ------------------------------------------------------------------------------------------------ pages

def _recipe_time(rec: dict) -> str:
    """The wall time of a recipe (or of a whole summary), and its runs' training time when that is longer
    (runs trained earlier and read back, e.g. a paper-scale recipe over days, or in other workers)."""
    wall, trained = float(rec.get("seconds") or 0.0), float(rec.get("train_seconds") or 0.0)
    return _seconds(wall) + (f" (its runs trained in {_seconds(trained)})" if trained > wall else "")


def _scale_line(scale: str, summary: dict | None) -> str:
    if summary is None:
        return f"- **{scale}**: {NOT_RUN}"
    meta = summary.get("meta", {})
    about = ", ".join(f"{k} {meta[k]}" for k in ("date", "version", "machine") if meta.get(k))
    command = f"; `{meta['command']}`" if meta.get("command") else ""
    return (f"- **{scale}**: {summary['n_hold']} of {summary['n_claims']} claims hold, "
            f"wall time {_recipe_time(summary)}" + (f" ({about})" if about else "") + command)


def results_markdown(summaries: Mapping[str, dict], figures: Mapping[str, Mapping[str, list[str]]],
                     known: Mapping[str, tuple[str, str]]) -> str:
    """The text of docs/results.md (figure paths relative to docs/)."""
    out = ["# Results", "",
           "Generated by `fourier-circuits results` from the `summary.json` of `fourier-circuits reproduce` at each",
           "scale; do not edit by hand. A claim is the paper's statement turned into a check with an explicit",
           "threshold that cites what it encodes ([every claim](claims.md), with its values over seeds). A",
           "threshold depends on what the value was measured on (a paper's own training, the max-margin recipe,",
           "a construction), not on the scale, with one exception: at ci the paper-recipe runs are too short to",
           "reach γ*, and their margin claim is \"positive and still rising\". What a small scale cannot reach shows",
           "as ❌. The ci sizes and steps were chosen to finish in minutes, and some (the transformers', grokking's)",
           "so that the effect shows at that size. `—` means the claim was not made at that scale (its settings",
           "differ), *not run* that the scale was not run.", ""]
    out += [_scale_line(scale, summaries.get(scale)) for scale in SCALES] + [""]
    for name in _recipe_order(summaries, known):
        title, sentence = known.get(name, (name, ""))
        out += [f"## {name}", "", f"**{title}**", ""]
        if sentence:
            out += [f"What the paper shows: {sentence}", ""]
        out += _claims_table(summaries, name) + [""]
        times = []
        for scale in SCALES:
            rec = None if scale not in summaries else _recipe_of(summaries[scale], name)
            times.append(f"{scale} {NOT_RUN if scale not in summaries else '—' if rec is None else _recipe_time(rec)}")
            if rec is not None and rec.get("error"):
                out += [f"Error at {scale}: `{_cell(rec['error'].splitlines()[0])}`", ""]
        out += ["Time: " + " · ".join(times), ""]
        shown = next((s for s in reversed(SCALES) if figures.get(s, {}).get(name)), None)
        if shown is not None:
            out += [f"Figures at {shown} scale:", ""]
            out += [f"![{name} {Path(p).stem}]({p})" for p in figures[shown][name]] + [""]
            others = [s for s in SCALES if s != shown and figures.get(s, {}).get(name)]
            for scale in others:
                links = ", ".join(f"[{Path(p).stem}]({p})" for p in figures[scale][name])
                out += [f"At {scale} scale: {links}", ""]
    return "\n".join(out).rstrip() + "\n"


def replace_between_markers(text: str, table: str) -> str:
    """`text` with everything between RESULTS_BEGIN and RESULTS_END replaced by `table`."""
    start, end = text.find(RESULTS_BEGIN), text.find(RESULTS_END)
    if start < 0 or end < start:
        raise ConfigError(f"the README has no {RESULTS_BEGIN} … {RESULTS_END} block to rewrite")
    return text[: start + len(RESULTS_BEGIN)] + "\n" + table + "\n" + text[end:]


def write_results(summary_paths: Mapping[str, str | Path], docs_dir: str | Path = "docs",
                  readme: str | Path | None = "README.md") -> dict:
    """Write docs/results.md, docs/results/<scale>/ and the README's results table.

    Args:
        summary_paths: scale ("ci", "cpu" or "paper") → a summary.json or the report folder holding it.
        docs_dir: the docs folder; results.md and results/ are written inside it.
        readme: the README whose block between the results markers is rewritten (None: leave it alone).

    Returns:
        The paths written, the scales given and the claim counts per scale.
    """
    unknown = set(summary_paths) - set(SCALES)
    if unknown:
        raise ConfigError(f"unknown scale(s) {sorted(unknown)}: use {', '.join(SCALES)}")
    if not summary_paths:
        raise ConfigError("give at least one summary (--ci, --cpu or --paper)")
    loaded = {scale: load_summary(path) for scale, path in summary_paths.items()}
    summaries = {scale: loaded[scale][0] for scale in SCALES if scale in loaded}
    report_dirs = {scale: loaded[scale][1] for scale in loaded}
    docs_dir = Path(docs_dir)
    known = recipe_descriptions()
    readme_text = None
    if readme is not None:  # read and check the markers before anything is written
        readme_text = replace_between_markers(Path(readme).read_text(), readme_table(summaries, known, "docs/results.md"))
    docs_dir.mkdir(parents=True, exist_ok=True)
    figures = copy_figures(summaries, report_dirs, docs_dir)
    page = docs_dir / "results.md"
    atomic_write_bytes(page, results_markdown(summaries, figures, known).encode("utf-8"))
    written = [str(page)] + [str(docs_dir / p) for s in figures.values() for ps in s.values() for p in ps]
    if readme_text is not None:
        atomic_write_bytes(Path(readme), readme_text.encode("utf-8"))
        written.append(str(readme))
    return dict(written=written, scales=list(summaries),
                claims={s: dict(hold=v["n_hold"], total=v["n_claims"]) for s, v in summaries.items()})
