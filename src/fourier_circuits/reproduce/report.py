"""HTML + JSON report of a `reproduce` invocation: every paper claim, its check, and the figures.

`write_report(out_dir, reports, meta)` writes a self-contained directory

    out_dir/index.html                      one file, inline CSS and script, no external resources
    out_dir/summary.json                    machine-readable: counts, every claim, every recipe
    out_dir/figures/<recipe>/<name>.png     copies of the figures (+ the SVG beside each PNG)

that can be zipped or moved: the HTML refers to the figures by relative paths only.

In index.html every claim appears once in the top summary table as a `<tr class="claim-row pass|fail"
data-recipe=.. data-claim=.. data-holds="true|false">` (the per-recipe tables repeat the claims with class
`section-claim` instead, so counting `claim-row` counts each claim exactly once). A small script marks
images that fail to load and, on window load, sets `<body data-images-loaded="ok/total">`, which the
headless-browser test reads.

Writes are atomic: the figures are assembled in a hidden staging folder and swapped in place of
`out_dir/figures` (a report written over an older one leaves none of its stale figures behind), then
summary.json and, last, index.html are written with `runstore.atomic_write_*`. Only `index.html`,
`summary.json`, `figures/` and the marker file `.fourier-circuits-report` in `out_dir` are owned by the
report; anything else there is left alone.

`check_out_dir` guards the user's files: a report is written only into a directory that does not exist, is
empty, or holds a report already (the marker, or the summary.json of a report written before the marker
existed). Anything else is refused with a ConfigError before any work starts, so a report never deletes or
overwrites files it did not write.
"""
from __future__ import annotations

import html
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from fourier_circuits.errors import ConfigError
from fourier_circuits.reproduce.claims import Claim
from fourier_circuits.runs.store import atomic_write_bytes, atomic_write_json, jsonable


@dataclass
class RecipeReport:
    name: str             # e.g. "mo-fig1"
    title: str            # e.g. "[MO] Fig. 1 — mod-71 neurons are single cosines; margin → γ*"
    paper: str            # "MO", "LI" or "new"
    scale: str            # "ci", "cpu" or "paper"
    description: str      # a paragraph: what the figure shows, how the claim is checked
    settings: dict        # the settings actually used (flat key → value; values may be lists)
    claims: list[Claim]
    figures: list[Path]   # PNG paths (an SVG with the same stem sits beside each)
    runs: list[str] = field(default_factory=list)   # run directories used
    seconds: float = 0.0  # wall time spent on this recipe in this invocation
    run_seconds: dict = field(default_factory=dict)  # run dir → its training seconds, whenever it was trained
    # (a run read back from the store counts its own: a paper-scale recipe reads back runs of earlier days)
    error: str | None = None  # set when the recipe crashed; the report shows it in red
    not_run: str | None = None  # set when the recipe was not run here (why, and how to run it): no claims
    new: bool = False     # beyond the papers: labelled "new" in the report


@dataclass
class _Figure:
    """One figure as placed in the report: paths relative to out_dir (None when absent)."""
    source: Path
    png: str | None = None
    svg: str | None = None


# ----------------------------------------------------------------------------------------------- values

def _fmt(value) -> str:
    """Short human-readable text for a setting or meta value."""
    value = jsonable(value)
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items())
    return str(value)


def _fmt_seconds(seconds: float) -> str:
    seconds = float(seconds or 0.0)
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60)} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"


def _e(text) -> str:
    """HTML-escape any value (quotes included, so it is safe inside attributes)."""
    return html.escape(str(text), quote=True)


def _url(rel: str) -> str:
    """A relative path as an escaped URL for src/href attributes."""
    return _e(quote(rel))


# ---------------------------------------------------------------------------------------------- figures

def _safe_name(name: str) -> str:
    """FigureRecipe name → folder name (letters, digits, . _ - kept)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    return cleaned or "recipe"


def _copy_figures(reports: list[RecipeReport], staging: Path) -> list[list[_Figure]]:
    """Copy each recipe's PNG (+ sibling SVG) into staging/<recipe>/; returns per-recipe placements.

    Names are kept; a second figure with the same name in one recipe becomes `<stem>-2.png` (and its SVG
    `<stem>-2.svg`). A missing figure file is returned with png=None.
    """
    placed: list[list[_Figure]] = []
    used_dirs: set[str] = set()
    for rep in reports:
        folder = _safe_name(rep.name)
        base, n = folder, 2
        while folder in used_dirs:
            folder, n = f"{base}-{n}", n + 1
        used_dirs.add(folder)
        taken: set[str] = set()
        figs: list[_Figure] = []
        placed.append(figs)
        for fig_path in rep.figures:
            src = Path(fig_path)
            fig = _Figure(source=src)
            figs.append(fig)
            if not src.is_file():
                continue
            stem, suffix = src.stem, src.suffix
            name, n = stem, 2
            while name.lower() in taken:
                name, n = f"{stem}-{n}", n + 1
            taken.add(name.lower())
            dest_dir = staging / folder
            dest_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest_dir / f"{name}{suffix}")
            fig.png = f"figures/{folder}/{name}{suffix}"
            svg = src.with_suffix(".svg")
            if svg != src and svg.is_file():
                shutil.copyfile(svg, dest_dir / f"{name}.svg")
                fig.svg = f"figures/{folder}/{name}.svg"
    return placed


def _install_figures(out_dir: Path, reports: list[RecipeReport]) -> list[list[_Figure]]:
    """Build the figures in a hidden staging folder, then swap it in as out_dir/figures.

    Sources are all read before the old folder goes away, so figures may come from a previous report in
    the same out_dir. Leftover staging folders of an interrupted earlier write are removed.
    """
    for leftover in out_dir.glob(".figures.*"):
        shutil.rmtree(leftover, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(dir=out_dir, prefix=".figures.new-"))
    try:
        placed = _copy_figures(reports, staging)
        final = out_dir / "figures"
        old = None
        if final.exists() or final.is_symlink():
            old = Path(tempfile.mkdtemp(dir=out_dir, prefix=".figures.old-")) / "figures"
            os.replace(final, old)
        os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old.parent, ignore_errors=True)
    return placed


# ------------------------------------------------------------------------------------------------- HTML

CSS = """
:root { --fg: #1f2328; --muted: #59636e; --line: #d8dee4; --bg-soft: #f6f8fa; --accent: #0969da;
        --pass: #1a7f37; --pass-bg: #dafbe1; --fail: #cf222e; --fail-bg: #ffebe9; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff; line-height: 1.5;
       font: 15px/1.55 -apple-system, BlinkMacSystemFont, "Segoe UI", "Helvetica Neue", Arial, sans-serif; }
.container { max-width: 1180px; margin: 0 auto; padding: 28px 24px 64px; }
h1 { font-size: 1.7rem; margin: 0 0 4px; }
h2 { font-size: 1.3rem; margin: 0 0 6px; }
h3 { font-size: 1.0rem; margin: 20px 0 8px; color: var(--muted); text-transform: uppercase;
     letter-spacing: .04em; }
a { color: var(--accent); text-decoration: none; } a:hover { text-decoration: underline; }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .88em; }
header { border-bottom: 1px solid var(--line); padding-bottom: 16px; margin-bottom: 20px; }
.subtitle { color: var(--muted); margin: 0 0 12px; }
.verdict { display: inline-block; font-weight: 600; padding: 4px 12px; border-radius: 6px; margin: 4px 0 12px; }
.verdict.pass { color: var(--pass); background: var(--pass-bg); }
.verdict.fail { color: var(--fail); background: var(--fail-bg); }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; font-size: .93rem; }
th, td { border: 1px solid var(--line); padding: 6px 10px; text-align: left; vertical-align: top; }
th { background: var(--bg-soft); font-weight: 600; }
table.meta { width: auto; } table.meta th { width: 11em; }
table.settings { width: auto; min-width: 50%; } table.settings td:first-child { white-space: nowrap; }
tr.pass td.status { color: var(--pass); font-weight: 600; } tr.fail td.status { color: var(--fail); font-weight: 600; }
tr.pass { background: #f4fdf6; } tr.fail { background: var(--fail-bg); }
td.status { white-space: nowrap; }
.badge { display: inline-block; font-size: .75rem; font-weight: 600; padding: 1px 8px; border-radius: 999px;
         border: 1px solid var(--line); color: var(--muted); background: var(--bg-soft); margin-right: 4px;
         vertical-align: middle; }
.badge.new { color: #8250df; border-color: #c297ff; background: #fbefff; }
.badge.pass { color: var(--pass); border-color: #4ac26b; background: var(--pass-bg); }
.badge.fail { color: var(--fail); border-color: #ff8182; background: var(--fail-bg); }
nav.toc ol { margin: 6px 0 0; padding-left: 22px; } nav.toc li { margin: 2px 0; }
section.recipe { border-top: 1px solid var(--line); padding-top: 22px; margin-top: 30px; }
.recipe-meta { color: var(--muted); font-size: .9rem; margin-bottom: 10px; }
.description p { margin: 6px 0; max-width: 78ch; }
.error { color: var(--fail); background: var(--fail-bg); border: 1px solid #ff8182; border-radius: 6px;
         padding: 10px 12px; white-space: pre-wrap; overflow-x: auto; }
.missing { color: var(--fail); }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 16px; }
figure { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: 8px; background: #fff; }
figure img { display: block; width: 100%; height: auto; }
figcaption { font-size: .85rem; color: var(--muted); margin-top: 6px; }
img.broken { min-height: 40px; outline: 2px dashed var(--fail); }
.img-error { color: var(--fail); font-weight: 600; font-size: .85rem; }
ul.runs { margin: 4px 0; padding-left: 20px; }
footer { margin-top: 40px; color: var(--muted); font-size: .85rem; }
"""

SCRIPT = """
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images), ok = 0;
  imgs.forEach(function (img) {
    if (img.complete && img.naturalWidth > 0) { ok += 1; return; }
    img.classList.add("broken");
    var note = document.createElement("div");
    note.className = "img-error";
    note.textContent = "image failed to load: " + img.getAttribute("src");
    (img.closest("figure") || img.parentNode).appendChild(note);
  });
  document.body.dataset.imagesLoaded = ok + "/" + imgs.length;
});
"""

META_ORDER = ("scale", "date", "version", "machine", "command", "total_seconds")


def _status_cell(holds: bool) -> str:
    return f'<td class="status">{"✓ holds" if holds else "✗ fails"}</td>'


def _claim_row(rep: RecipeReport, c: Claim, cls: str, with_recipe: bool) -> str:
    state = "pass" if c.holds else "fail"
    recipe_cell = f'<td><a href="#{_e(rep.name)}">{_e(rep.name)}</a></td>' if with_recipe else ""
    return (f'<tr class="{cls} {state}" data-recipe="{_e(rep.name)}" data-claim="{_e(c.claim)}" '
            f'data-holds="{str(bool(c.holds)).lower()}">{recipe_cell}<td>{_e(c.claim)}</td>'
            f'<td>{_e(c.expected)}</td><td>{_e(c.measured)}</td><td class="evidence">{_e(c.evidence or "—")}</td>'
            f'{_status_cell(bool(c.holds))}</tr>')


def _recipe_badges(rep: RecipeReport) -> str:
    badges = [f'<span class="badge">{_e(rep.paper)}</span>'] if rep.paper and rep.paper != "new" else []
    badges.append(f'<span class="badge">{_e(rep.scale)}</span>')
    if rep.new or rep.paper == "new":
        badges.append('<span class="badge new">new</span>')
    n_fail = sum(not c.holds for c in rep.claims)
    if rep.not_run:
        badges.append('<span class="badge">not run</span>')
    elif rep.error:
        badges.append('<span class="badge fail">error</span>')
    elif n_fail:
        badges.append(f'<span class="badge fail">{n_fail} failing</span>')
    elif rep.claims:
        badges.append('<span class="badge pass">all hold</span>')
    return "".join(badges)


def _header(reports: list[RecipeReport], meta: dict, n_claims: int, n_hold: int, seconds: float) -> str:
    title = meta.get("title") or "fourier-circuits — reproduction report"
    n_err = sum(bool(r.error) for r in reports)
    ok = n_hold == n_claims and n_err == 0
    verdict = f"{n_hold} of {n_claims} claims hold"
    if n_err:
        verdict += f" · {n_err} recipe{'s' if n_err != 1 else ''} crashed"
    keys = [k for k in META_ORDER if k in meta] + [k for k in meta if k not in META_ORDER and k != "title"]
    rows = [f"<tr><th>{_e(k)}</th><td>{_e(_fmt_seconds(meta[k]) if k == 'total_seconds' else _fmt(meta[k]))}"
            f"</td></tr>" for k in keys]
    if "total_seconds" not in meta:
        rows.append(f"<tr><th>total time</th><td>{_e(_fmt_seconds(seconds))}</td></tr>")
    rows.append(f"<tr><th>recipes</th><td>{len(reports)}</td></tr>")
    subtitle = " · ".join(_e(_fmt(meta[k])) for k in ("scale", "date", "version") if k in meta)
    return (f'<header><h1>{_e(title)}</h1>'
            + (f'<p class="subtitle">{subtitle}</p>' if subtitle else "")
            + f'<div class="verdict {"pass" if ok else "fail"}" id="verdict">{_e(verdict)}</div>'
            + f'<table class="meta">{"".join(rows)}</table></header>')


def _toc(reports: list[RecipeReport]) -> str:
    items = "".join(f'<li><a href="#{_e(r.name)}">{_e(r.title or r.name)}</a> {_recipe_badges(r)}</li>'
                    for r in reports)
    return f'<nav class="toc"><h3>Contents</h3><ol><li><a href="#summary">Summary of claims</a></li>{items}</ol></nav>'


def _summary_table(reports: list[RecipeReport]) -> str:
    rows = [_claim_row(r, c, "claim-row", with_recipe=True) for r in reports for c in r.claims]
    if not rows:
        rows = ['<tr><td colspan="5">no claims</td></tr>']
    return ('<section id="summary"><h3>Summary of claims</h3><table class="claims summary"><thead><tr>'
            '<th>recipe</th><th>claim</th><th>expected</th><th>measured</th><th>evidence</th><th>holds</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></section>')


def _figure_html(fig: _Figure) -> str:
    if fig.png is None:
        return (f'<figure class="missing-figure"><div class="missing">missing figure: '
                f'<code>{_e(fig.source)}</code></div></figure>')
    name = Path(fig.png).name
    target = fig.svg or fig.png
    links = [f'<a href="{_url(fig.png)}">PNG</a>'] + ([f'<a href="{_url(fig.svg)}">SVG</a>'] if fig.svg else [])
    return (f'<figure><a href="{_url(target)}"><img src="{_url(fig.png)}" alt="{_e(name)}"></a>'
            f'<figcaption><span class="mono">{_e(name)}</span> · {" · ".join(links)}</figcaption></figure>')


def _section(rep: RecipeReport, figs: list[_Figure]) -> str:
    parts = [f'<section class="recipe" id="{_e(rep.name)}"><h2>{_e(rep.title or rep.name)}</h2>',
             f'<div class="recipe-meta">{_recipe_badges(rep)} <span class="mono">{_e(rep.name)}</span>'
             f' · {_e(_fmt_seconds(rep.seconds))}</div>']
    if rep.not_run:
        parts.append(f'<h3>Not run here</h3><p class="not-run">{_e(rep.not_run)}</p>')
    if rep.error:
        parts.append(f'<h3>Error</h3><pre class="error">{_e(rep.error)}</pre>')
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", rep.description or "") if p.strip()]
    if paragraphs:
        parts.append('<div class="description">' + "".join(f"<p>{_e(p)}</p>" for p in paragraphs) + "</div>")
    if rep.settings:
        rows = "".join(f'<tr><td class="mono">{_e(k)}</td><td class="mono">{_e(_fmt(v))}</td></tr>'
                       for k, v in rep.settings.items())
        parts.append(f'<h3>Settings</h3><table class="settings"><thead><tr><th>setting</th><th>value</th></tr>'
                     f'</thead><tbody>{rows}</tbody></table>')
    if rep.claims:
        rows = "".join(_claim_row(rep, c, "section-claim", with_recipe=False) for c in rep.claims)
        parts.append('<h3>Claims</h3><table class="claims"><thead><tr><th>claim</th><th>expected</th>'
                     f'<th>measured</th><th>evidence</th><th>holds</th></tr></thead><tbody>{rows}</tbody></table>')
    if figs:
        parts.append('<h3>Figures</h3><div class="figures">' + "".join(_figure_html(f) for f in figs) + "</div>")
    if rep.runs:
        items = "".join(f"<li><code>{_e(r)}</code></li>" for r in rep.runs)
        parts.append(f'<h3>Runs</h3><ul class="runs">{items}</ul>')
    parts.append("</section>")
    return "".join(parts)


def _render_html(reports: list[RecipeReport], placed: list[list[_Figure]], meta: dict) -> str:
    """The whole index.html as a string (figures already placed by `_install_figures`)."""
    n_claims = sum(len(r.claims) for r in reports)
    n_hold = sum(bool(c.holds) for r in reports for c in r.claims)
    seconds = float(meta.get("total_seconds", sum(float(r.seconds or 0.0) for r in reports)) or 0.0)
    title = meta.get("title") or "fourier-circuits — reproduction report"
    body = (_header(reports, meta, n_claims, n_hold, seconds) + _toc(reports) + _summary_table(reports)
            + "".join(_section(r, f) for r, f in zip(reports, placed)))
    generated = time.strftime("%Y-%m-%d %H:%M:%S")
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)}</title><style>{CSS}</style></head>\n"
            f'<body><div class="container">{body}'
            f'<footer>Generated {_e(generated)} by fourier-circuits. Figures are in <code>figures/</code> '
            f"(PNG + SVG); machine-readable results in <code>summary.json</code>.</footer></div>"
            f"<script>{SCRIPT}</script></body></html>\n")


# ------------------------------------------------------------------------------------------------- JSON

def _summary_dict(reports: list[RecipeReport], placed: list[list[_Figure]], meta: dict) -> dict:
    """The content of summary.json (JSON-safe)."""
    claims = [dict(recipe=r.name, claim=c.claim, expected=c.expected, measured=c.measured, holds=bool(c.holds),
                   value=c.value, evidence=c.evidence, bounds=c.bounds) for r in reports for c in r.claims]
    recipes = [dict(name=r.name, title=r.title, paper=r.paper, scale=r.scale, new=bool(r.new),
                    seconds=float(r.seconds or 0.0), train_seconds=float(sum(r.run_seconds.values())), error=r.error,
                    not_run=r.not_run, settings=r.settings,
                    figures=[f.png for f in figs if f.png is not None],
                    missing_figures=[str(f.source) for f in figs if f.png is None], runs=list(r.runs))
               for r, figs in zip(reports, placed)]
    recipe_seconds = sum(float(r.seconds or 0.0) for r in reports)  # > the wall time when recipes ran concurrently
    run_seconds = {d: t for r in reports for d, t in r.run_seconds.items()}  # each run once
    return jsonable(dict(meta=meta, n_claims=len(claims), n_hold=sum(c["holds"] for c in claims),
                         n_recipes=len(reports), n_errors=sum(bool(r.error) for r in reports),
                         seconds=float(meta.get("total_seconds", recipe_seconds)), recipe_seconds=recipe_seconds,
                         train_seconds=float(sum(run_seconds.values())),
                         claims=claims, recipes=recipes))


REPORT_MARKER = ".fourier-circuits-report"   # written first into every report directory


def _is_old_report(out_dir: Path) -> bool:
    """A report directory written before the marker existed: its summary.json has a report's keys."""
    try:
        summary = json.loads((out_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(summary, dict) and {"n_claims", "claims", "recipes"} <= set(summary)


def check_out_dir(out_dir: str | Path) -> None:
    """Refuse (ConfigError) an output directory the report does not own: an existing file, or a non-empty
    directory that holds neither the report marker nor an earlier report's summary.json."""
    out_dir = Path(out_dir)
    if not out_dir.exists():
        if out_dir.is_symlink():
            raise ConfigError(f"--out {out_dir} is a broken symbolic link; choose another directory")
        return
    if not out_dir.is_dir():
        raise ConfigError(f"--out {out_dir} exists and is not a directory; choose a new or empty directory")
    if (out_dir / REPORT_MARKER).is_file() or _is_old_report(out_dir) or not any(out_dir.iterdir()):
        return
    raise ConfigError(f"--out {out_dir} is not empty and holds no report written by `reproduce` (no "
                      f"{REPORT_MARKER}); it would overwrite index.html, summary.json and figures/ there: "
                      "choose a new or empty directory")


def write_report(out_dir: str | Path, reports: list[RecipeReport], meta: dict) -> tuple[Path, Path]:
    """Write out_dir/index.html and out_dir/summary.json; returns their paths.

    out_dir is checked first (`check_out_dir`: ConfigError for a directory holding anything but a report) and
    marked as a report directory. Figures are copied to out_dir/figures/<recipe>/ first (missing ones are listed in the report, not
    raised), then summary.json, then index.html, each written atomically.

    meta is free-form (JSON-safe after `jsonable`); the header shows `title` (the page title), then
    `scale`, `date`, `version`, `machine`, `command`, `total_seconds` (default: the sum of the recipes'
    seconds) first and any other keys after them.
    """
    out_dir = Path(out_dir)
    check_out_dir(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out_dir / REPORT_MARKER, b"written by fourier-circuits reproduce; index.html, "
                       b"summary.json and figures/ here are replaced by the next report\n")
    reports = list(reports)
    meta = dict(meta or {})
    placed = _install_figures(out_dir, reports)
    html_path, json_path = out_dir / "index.html", out_dir / "summary.json"
    atomic_write_json(json_path, _summary_dict(reports, placed, meta))
    atomic_write_bytes(html_path, _render_html(reports, placed, meta).encode("utf-8"))
    return html_path, json_path
