"""report.write_report: summary.json, claim rows, escaping, figure copies, missing figures, errors, rewrites."""
from __future__ import annotations

import json
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from fourier_circuits.errors import ConfigError
from fourier_circuits.reproduce.claims import Claim
from fourier_circuits.reproduce.report import RecipeReport, jsonable, write_report

EVIL = '<script>alert("x")</script> & γ*'


def make_figure(prefix: Path, svg: bool = True) -> Path:
    """A small PNG (+ SVG) at prefix.png / prefix.svg made with the Agg canvas; returns the PNG."""
    fig = Figure(figsize=(2, 1.5))
    FigureCanvasAgg(fig)
    fig.subplots().plot([0, 1, 2], [1, 0, 1])
    prefix.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(prefix.with_suffix(".png"), dpi=40)
    if svg:
        fig.savefig(prefix.with_suffix(".svg"))
    return prefix.with_suffix(".png")


class Page(HTMLParser):
    """Claim rows (by class), img srcs, a hrefs, and element ids of an HTML page."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.rows: list[dict] = []
        self.section_rows: list[dict] = []
        self.imgs: list[str] = []
        self.hrefs: list[str] = []
        self.ids: set[str] = set()
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        classes = a.get("class", "").split()
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "tr" and "claim-row" in classes:
            self.rows.append(a)
        if tag == "tr" and "section-claim" in classes:
            self.section_rows.append(a)
        if tag == "img":
            self.imgs.append(a["src"])
        if tag == "a":
            self.hrefs.append(a["href"])


@pytest.fixture
def reports(tmp_path: Path) -> list[RecipeReport]:
    src = tmp_path / "src"
    n1 = make_figure(src / "run-a" / "figures" / "neurons")
    n2 = make_figure(src / "run-b" / "figures" / "neurons")          # same name: disambiguated
    m = make_figure(src / "run-a" / "figures" / "margin", svg=False)  # PNG only
    return [
        RecipeReport(
            name="mo-fig1", title="[MO] Fig. 1 — single cosines; margin → γ*", paper="MO", scale="ci",
            description="What it shows.\n\nHow it is checked.",
            settings={"p": np.int64(71), "lr": np.float32(0.5), "betas": (0.9, 0.98), "out": Path("runs/x"),
                      "nan": float("nan")},
            claims=[Claim("margin rises to γ*", "≥ 0.99 γ*", "0.99975 γ*", True, np.float64(0.99975)),
                    Claim(EVIL, "no <b>tags</b>", "1 < 2", False, None)],
            figures=[n1, n2, m], runs=["runs/a", "runs/b"], seconds=12.5),
        RecipeReport(name="li-crash", title="[LI] crashed", paper="LI", scale="ci", description="",
                     settings={}, claims=[], figures=[], error="RuntimeError: boom <in> step 3", seconds=0.1),
        RecipeReport(name="new-thing", title="Beyond the papers", paper="new", scale="ci", description="d",
                     settings={"k": 2}, claims=[Claim("holds", "yes", "yes", np.bool_(True), 1.0)],
                     figures=[src / "nowhere" / "gone.png"], new=True),
    ]


@pytest.fixture
def written(tmp_path: Path, reports: list[RecipeReport]) -> tuple[Path, str, dict]:
    index, summary = write_report(tmp_path / "out", reports, {"scale": "ci", "date": "2025-01-01",
                                                              "version": "0.1.0", "machine": {"cpus": 2}})
    assert index == tmp_path / "out" / "index.html" and summary == tmp_path / "out" / "summary.json"
    return tmp_path / "out", index.read_text(encoding="utf-8"), json.loads(summary.read_text())


def test_summary_counts_and_claims(written, reports) -> None:
    _, _, summary = written
    assert summary["n_claims"] == 3 and summary["n_hold"] == 2 and summary["n_errors"] == 1
    got = [(c["recipe"], c["claim"], c["holds"], c["value"]) for c in summary["claims"]]
    assert got == [("mo-fig1", "margin rises to γ*", True, 0.99975), ("mo-fig1", EVIL, False, None),
                   ("new-thing", "holds", True, 1.0)]
    assert [r["name"] for r in summary["recipes"]] == ["mo-fig1", "li-crash", "new-thing"]
    fig1 = summary["recipes"][0]
    assert fig1["settings"] == {"p": 71, "lr": 0.5, "betas": [0.9, 0.98], "out": "runs/x", "nan": None}
    assert fig1["runs"] == ["runs/a", "runs/b"] and fig1["seconds"] == 12.5 and fig1["new"] is False
    assert summary["recipes"][2]["new"] is True and summary["meta"]["machine"] == {"cpus": 2}
    assert summary["recipes"][1]["error"] == "RuntimeError: boom <in> step 3"
    assert summary["seconds"] == summary["recipe_seconds"] == 12.6, "no total_seconds: the recipes' sum"


def test_summary_seconds_is_the_wall_time_when_given(tmp_path, reports) -> None:
    """Recipes run concurrently: their seconds add up to more than the run's wall time, which is `seconds`."""
    _, path = write_report(tmp_path / "out", reports, {"scale": "ci", "total_seconds": 7.0})
    summary = json.loads(path.read_text())
    assert summary["seconds"] == 7.0 and summary["recipe_seconds"] == 12.6


def test_claim_rows_carry_data_and_class(written) -> None:
    _, text, summary = written
    page = Page(text)
    got = Counter((r["data-recipe"], r["data-claim"], r["data-holds"], "pass" in r["class"].split(),
                   "fail" in r["class"].split()) for r in page.rows)
    want = Counter((c["recipe"], c["claim"], str(c["holds"]).lower(), c["holds"], not c["holds"])
                   for c in summary["claims"])
    assert got == want
    assert len(page.section_rows) == 3                       # repeated in the sections, not as claim-row
    assert {"mo-fig1", "li-crash", "new-thing", "summary"} <= page.ids
    assert "2 of 3 claims hold · 1 recipe crashed" in text


def test_text_is_escaped(written) -> None:
    _, text, _ = written
    assert '<script>alert("x")' not in text and "<b>tags</b>" not in text and "<in>" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; γ*" in text
    assert text.count("<script") == 1                        # only the report's own load script


def test_figures_copied_and_relative(written, reports) -> None:
    out, text, summary = written
    page = Page(text)
    assert len(page.imgs) == 3
    for src in page.imgs + [h for h in page.hrefs if not h.startswith("#")]:
        assert not Path(src).is_absolute() and ":" not in src and (out / unquote(src)).is_file(), src
    fig1 = summary["recipes"][0]["figures"]
    assert fig1 == ["figures/mo-fig1/neurons.png", "figures/mo-fig1/neurons-2.png", "figures/mo-fig1/margin.png"]
    for rel, source in zip(fig1, reports[0].figures):
        assert (out / rel).read_bytes() == Path(source).read_bytes()
    svg_source = reports[0].figures[1].with_suffix(".svg")
    assert (out / "figures/mo-fig1/neurons-2.svg").read_bytes() == svg_source.read_bytes()
    assert not (out / "figures/mo-fig1/margin.svg").exists()
    assert "figures/mo-fig1/neurons-2.svg" in page.hrefs and "figures/mo-fig1/margin.svg" not in page.hrefs
    assert "http://" not in text and "https://" not in text and "<link" not in text


def test_missing_figure_is_listed(written) -> None:
    _, text, summary = written
    new = summary["recipes"][2]
    assert new["figures"] == [] and new["missing_figures"][0].endswith("gone.png")
    assert "missing figure" in text and "gone.png" in text


def test_error_is_shown(written) -> None:
    _, text, _ = written
    assert '<pre class="error">RuntimeError: boom &lt;in&gt; step 3</pre>' in text


def test_new_badge(written) -> None:
    _, text, _ = written
    section = text[text.index('id="new-thing"'):]
    assert '<span class="badge new">new</span>' in section[:600]


def test_rewrite_replaces_cleanly(written, tmp_path) -> None:
    out, _, summary = written
    # The second report takes one figure from the first report's own folder, which it replaces.
    reused = out / summary["recipes"][0]["figures"][0]
    fresh = RecipeReport(name="only", title="Only", paper="MO", scale="cpu", description="", settings={},
                         claims=[Claim("c", "e", "m", True)], figures=[reused])
    index, summary_path = write_report(out, [fresh], {"scale": "cpu"})
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        ".fourier-circuits-report", "figures", "figures/only", "figures/only/neurons.png",
        "figures/only/neurons.svg", "index.html", "summary.json"]
    summary2 = json.loads(summary_path.read_text())
    assert summary2["n_claims"] == 1 and summary2["recipes"][0]["figures"] == ["figures/only/neurons.png"]
    assert "mo-fig1" not in index.read_text()


def test_empty_report(tmp_path) -> None:
    index, summary = write_report(tmp_path / "empty", [], {})
    assert json.loads(summary.read_text())["n_claims"] == 0
    assert "0 of 0 claims hold" in index.read_text()


def test_jsonable() -> None:
    assert jsonable({1: (np.int32(3), np.array([1.5, np.inf])), "p": Path("a/b"), "b": np.bool_(False)}) == {
        "1": [3, [1.5, None]], "p": "a/b", "b": False}
    json.dumps(jsonable({"x": object()}))


def _tree(path: Path) -> dict[str, bytes]:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_a_directory_of_the_users_files_is_refused_untouched(tmp_path) -> None:
    """Issue 29: `reproduce --out DIR` deleted the user's figures/mine.png and overwrote their index.html."""
    out = tmp_path / "mine"
    (out / "figures").mkdir(parents=True)
    (out / "figures" / "mine.png").write_bytes(b"my own figure")
    (out / "index.html").write_text("<p>my page</p>")
    (out / "summary.json").write_text('{"mine": 1}')
    before = _tree(out)
    with pytest.raises(ConfigError, match=r"--out .*mine is not empty and holds no report"):
        write_report(out, [], {})
    assert _tree(out) == before
    with pytest.raises(ConfigError, match="is not a directory"):
        write_report(out / "index.html", [], {})
    assert _tree(out) == before


def test_a_report_directory_is_rewritten_and_other_files_survive(tmp_path) -> None:
    out = tmp_path / "r"
    write_report(out, [], {})
    (out / "notes.txt").write_text("mine")
    write_report(out, [], {"scale": "cpu"})      # the marker says the directory is a report: rewritten
    assert (out / "notes.txt").read_text() == "mine" and (out / ".fourier-circuits-report").is_file()
    (out / ".fourier-circuits-report").unlink()   # a report written before the marker: its summary.json says so
    write_report(out, [], {"scale": "paper"})
    assert json.loads((out / "summary.json").read_text())["n_claims"] == 0
    empty = tmp_path / "empty"
    empty.mkdir()
    write_report(empty, [], {})                   # an empty directory is fine
    assert (empty / "index.html").is_file()
