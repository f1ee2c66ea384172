"""The HTML report rendered in a real headless Chromium: every image loads, every claim row is present.

Chromium is driven directly through `--dump-dom` (no selenium / playwright): the report's inline script sets
`<body data-images-loaded="ok/total">` on window load, and the dumped DOM is parsed with html.parser.
Without a Chromium binary the tests are skipped (Debian: `apt-get install -y chromium`).

Reusable helpers (for tests of the real `reproduce` report):
    render_dom(index_html) -> str          the DOM after load, as Chromium serializes it
    check_report_dom(dom, summary) -> None asserts all images loaded and one claim row per summary claim
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from fourier_circuits.reproduce.claims import Claim
from fourier_circuits.reproduce.report import RecipeReport, write_report

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--virtual-time-budget=5000", "--dump-dom"]


def find_chromium() -> str | None:
    """Path of a Chromium binary (chromium, chromium-browser or /usr/bin/chromium), or None."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


def render_dom(index_html: Path) -> str:
    """Load index_html in headless Chromium and return the DOM after the load event (skips without Chromium)."""
    binary = find_chromium()
    if binary is None:
        pytest.skip("no Chromium binary (chromium / chromium-browser); install it: apt-get install -y chromium")
    url = Path(index_html).resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        env = dict(os.environ, HOME=profile)
        proc = subprocess.run([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", url],
                              capture_output=True, text=True, timeout=180, env=env)
    assert proc.stdout.strip(), f"chromium printed no DOM (rc {proc.returncode}):\n{proc.stderr[-3000:]}"
    return proc.stdout


class _DomScan(HTMLParser):
    """Collects the body's data-images-loaded, every <img>, and every claim-row <tr>."""

    def __init__(self) -> None:
        super().__init__()
        self.images_loaded: str | None = None
        self.n_img = 0
        self.rows: list[dict] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "body":
            self.images_loaded = a.get("data-images-loaded")
        elif tag == "img":
            self.n_img += 1
        elif tag == "tr" and "claim-row" in a.get("class", "").split():
            self.rows.append(a)


def scan_dom(dom: str) -> _DomScan:
    scan = _DomScan()
    scan.feed(dom)
    scan.close()
    return scan


def check_report_dom(dom: str, summary: dict) -> None:
    """Assert that every image loaded and that there is exactly one claim row per claim of summary.json,
    with pass/fail class matching `holds`."""
    scan = scan_dom(dom)
    assert scan.images_loaded is not None, "body has no data-images-loaded: the load script did not run"
    ok, total = (int(x) for x in scan.images_loaded.split("/"))
    n_figures = sum(len(r["figures"]) for r in summary["recipes"])
    assert total == scan.n_img == n_figures, f"images counted {total}, <img> {scan.n_img}, figures {n_figures}"
    assert ok == total, f"only {ok} of {total} images loaded"
    found = Counter((r.get("data-recipe"), r.get("data-claim"), "pass" in r.get("class", "").split(),
                     "fail" in r.get("class", "").split()) for r in scan.rows)
    expected = Counter((c["recipe"], c["claim"], bool(c["holds"]), not c["holds"]) for c in summary["claims"])
    assert found == expected, f"claim rows differ: missing {expected - found}, unexpected {found - expected}"


# ------------------------------------------------------------------------------------------- hand-made report

def _figure(prefix: Path, color: str) -> Path:
    """A small PNG + SVG pair at prefix.png / prefix.svg; returns the PNG."""
    fig = Figure(figsize=(3, 2))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.plot([0, 1, 2, 3], [0, 1, 0, 1], color=color)
    ax.set_title(prefix.name)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(prefix.with_suffix(".png"), dpi=50)
    fig.savefig(prefix.with_suffix(".svg"))
    return prefix.with_suffix(".png")


def build_report(tmp_dir: Path) -> Path:
    """A hand-made two-recipe report (3 figures, two sharing a name, 3 claims) in tmp_dir/report."""
    src = Path(tmp_dir) / "src"
    a = _figure(src / "run-a" / "neurons", "tab:blue")
    b = _figure(src / "run-b" / "neurons", "tab:orange")
    c = _figure(src / "run-c" / "margin curve", "tab:green")
    reports = [
        RecipeReport(name="mo-fig1", title="[MO] Fig. 1 — neurons are single cosines; margin → γ*", paper="MO",
                     scale="ci", description="Neurons & margins <b>escaped</b>.",
                     settings={"p": 71, "betas": [0.9, 0.98]},
                     claims=[Claim("margin rises to γ*", "≥ 0.99 γ*", "0.9997 γ*", True, 0.9997),
                             Claim("single frequency <per neuron>", "power ≥ 0.9", "0.5", False, 0.5)],
                     figures=[a, b], runs=["runs/a", "runs/b"], seconds=3.5),
        RecipeReport(name="new-check", title="A new check", paper="new", scale="ci", description="",
                     settings={}, claims=[Claim("construction is exact", "= γ*", "γ*", True)],
                     figures=[c], seconds=0.2, new=True),
    ]
    index, _ = write_report(Path(tmp_dir) / "report", reports, {"scale": "ci", "version": "0.1.0"})
    return index


def test_report_renders_in_chromium(tmp_path: Path) -> None:
    index = build_report(tmp_path)
    summary = json.loads((index.parent / "summary.json").read_text())
    dom = render_dom(index)
    check_report_dom(dom, summary)
    assert scan_dom(dom).images_loaded == "3/3"


def test_check_fails_when_an_image_is_missing(tmp_path: Path) -> None:
    index = build_report(tmp_path)
    summary = json.loads((index.parent / "summary.json").read_text())
    (index.parent / summary["recipes"][0]["figures"][1]).unlink()
    dom = render_dom(index)
    assert scan_dom(dom).images_loaded == "2/3"
    assert "image failed to load" in dom
    with pytest.raises(AssertionError, match="2 of 3 images loaded"):
        check_report_dom(dom, summary)


def test_check_fails_when_a_claim_row_is_missing(tmp_path: Path) -> None:
    """check_report_dom also catches a summary claim with no row (no browser needed for this one)."""
    index = build_report(tmp_path)
    summary = json.loads((index.parent / "summary.json").read_text())
    dom = index.read_text().replace("<body>", '<body data-images-loaded="3/3">')
    check_report_dom(dom, summary)
    summary["claims"].append(dict(summary["claims"][0], claim="a claim the page does not show"))
    with pytest.raises(AssertionError, match="claim rows differ"):
        check_report_dom(dom, summary)


def test_ci_report_renders_in_chromium(tmp_path: Path) -> None:
    """End to end: `fourier-circuits reproduce` (every recipe, scale ci) on a fresh run store, then the report
    in headless Chromium: every image loads and every claim of summary.json has its row."""
    from click.testing import CliRunner

    from fourier_circuits.cli import main
    from fourier_circuits.reproduce.figures import FIGURE_RECIPES
    find_chromium() or pytest.skip("no chromium binary (apt-get install -y chromium)")
    out = tmp_path / "report"
    result = CliRunner().invoke(main, ["reproduce", "--scale", "ci", "--runs", str(tmp_path / "runs"),
                                       "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert [r["name"] for r in summary["recipes"]] == list(FIGURE_RECIPES)
    assert not [r["name"] for r in summary["recipes"] if r["error"]]
    assert all(r["figures"] for r in summary["recipes"]), "every recipe shows at least one figure"
    check_report_dom(render_dom(out / "index.html"), summary)
