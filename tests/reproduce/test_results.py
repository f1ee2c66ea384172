"""reproduce.results and `fourier-circuits results`: the results page and the README table from summaries."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from fourier_circuits.cli import main
from fourier_circuits.errors import ConfigError
from fourier_circuits.reproduce.claims import Claim
from fourier_circuits.reproduce.report import RecipeReport, write_report
from fourier_circuits.reproduce.results import (
    RESULTS_BEGIN,
    RESULTS_END,
    first_sentence,
    recipe_descriptions,
    split_claim,
    write_results,
)

README = f"# title\n\nbefore\n\n{RESULTS_BEGIN}\nold table\n{RESULTS_END}\n\nafter\n"


def png(path: Path) -> Path:
    fig = Figure(figsize=(1, 1))
    FigureCanvasAgg(fig)
    fig.subplots().plot([0, 1], [1, 0])
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=20)
    return path


def report(tmp: Path, scale: str, margin_holds: bool, seconds: float = 12.0, train_seconds: float = 0.0) -> Path:
    """A real reproduce report (write_report) with mo-fig1 (two claims, one figure; its runs trained in
    `train_seconds`) and mo-fig8."""
    fig = png(tmp / f"src-{scale}" / "margin.png")
    reports = [
        RecipeReport("mo-fig1", "t1", "MO", scale, "d", {}, [
            Claim("margin → γ*", "≥ 0.99 γ*", "0.995 γ*" if margin_holds else "0.946 γ*", margin_holds, 0.99),
            Claim("single cosines", "≥ 95%", "100%", True, 1.0)], [fig], seconds=seconds,
            run_seconds={'run-a': train_seconds / 2, 'run-b': train_seconds / 2} if train_seconds else {}),
        RecipeReport("mo-fig8", "t8", "MO", scale, "d", {}, [Claim("S3 margin", "≥ 0.99 γ*", "1.0 γ*", True)], []),
    ]
    out = tmp / f"report-{scale}"
    write_report(out, reports, dict(scale=scale, date="2026-12-04", total_seconds=seconds))
    return out


def test_page_table_and_figures(tmp_path):
    ci, cpu = report(tmp_path, "ci", True), report(tmp_path, "cpu", False, seconds=900)
    readme = tmp_path / "README.md"
    readme.write_text(README)
    docs = tmp_path / "docs"
    out = write_results({"ci": ci / "summary.json", "cpu": cpu}, docs, readme)
    assert out["claims"] == {"ci": dict(hold=3, total=3), "cpu": dict(hold=2, total=3)}

    page = (docs / "results.md").read_text()
    assert "## mo-fig1" in page and "## mo-fig8" in page
    assert page.index("## mo-fig1") < page.index("## mo-fig8")       # FIGURE_RECIPES order
    row = next(line for line in page.splitlines() if line.startswith("| margin → γ*"))
    assert row.split(" | ")[2:] == ["✅ holds: 0.995 γ*", "❌ fails: 0.946 γ*", "not run |"]
    assert "What the paper shows: " + recipe_descriptions()["mo-fig1"][1] in page
    assert "Time: ci 12 s · cpu 15.0 min · paper not run" in page
    assert "- **paper**: not run" in page
    # figures: the largest scale inline, the others linked; both copied
    assert "![mo-fig1 margin](results/cpu/mo-fig1/margin.png)" in page
    assert "At ci scale: [margin](results/ci/mo-fig1/margin.png)" in page
    assert (docs / "results/ci/mo-fig1/margin.png").is_file() and (docs / "results/cpu/mo-fig1/margin.png").is_file()

    text = readme.read_text()
    assert text.startswith("# title\n\nbefore\n\n" + RESULTS_BEGIN) and text.endswith(RESULTS_END + "\n\nafter\n")
    assert "old table" not in text
    assert "| [mo-fig1](docs/results.md#mo-fig1) |" in text
    fig1 = next(line for line in text.splitlines() if line.startswith("| [mo-fig1]"))
    assert fig1.endswith("| ✅ 2/2 | ❌ 1/2 | not run |")
    assert "| **all** | claims holding, wall time | 3/3 in 12 s | 2/3 in 15.0 min | not run |" in text


def test_rewrite_drops_stale_scales(tmp_path):
    docs = tmp_path / "docs"
    write_results({"ci": report(tmp_path, "ci", True), "cpu": report(tmp_path, "cpu", True)}, docs, None)
    write_results({"ci": report(tmp_path, "ci", True)}, docs, None)
    assert not (docs / "results/cpu").exists() and (docs / "results/ci/mo-fig1/margin.png").is_file()
    assert "| ✅ holds: 0.995 γ* | not run | not run |" in (docs / "results.md").read_text()


def test_evidence_column(tmp_path):
    ci = report(tmp_path, "ci", True)
    summary = json.loads((ci / "summary.json").read_text())
    summary["claims"][0]["evidence"] = "construction"
    (ci / "summary.json").write_text(json.dumps(summary))
    write_results({"ci": ci}, tmp_path / "docs", None)
    page = (tmp_path / "docs/results.md").read_text()
    assert "| claim | check | evidence | ci | cpu | paper |" in page
    assert "| margin → γ* | ≥ 0.99 γ* | construction | ✅ holds" in page
    assert "| claim | check | ci | cpu | paper |" not in page.split("## mo-fig1")[1].split("## mo-fig8")[0]


def test_missing_markers_write_nothing(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# no markers\n")
    with pytest.raises(ConfigError, match="results:begin"):
        write_results({"ci": report(tmp_path, "ci", True)}, tmp_path / "docs", readme)
    assert not (tmp_path / "docs").exists() and readme.read_text() == "# no markers\n"


def test_bad_inputs(tmp_path):
    with pytest.raises(ConfigError, match="unknown scale"):
        write_results({"huge": tmp_path}, tmp_path / "docs", None)
    with pytest.raises(FileNotFoundError):
        write_results({"ci": tmp_path / "nowhere"}, tmp_path / "docs", None)
    (tmp_path / "summary.json").write_text("{}")
    with pytest.raises(ConfigError, match="not a reproduce summary"):
        write_results({"ci": tmp_path}, tmp_path / "docs", None)


def test_a_claim_matches_across_scales_without_its_run_label(tmp_path):
    ci, cpu = report(tmp_path, "ci", True), report(tmp_path, "cpu", True)
    summary = json.loads((cpu / "summary.json").read_text())
    summary["claims"][0]["claim"] = "margin → γ* (p=71 k=2 m=500 poly)"
    (cpu / "summary.json").write_text(json.dumps(summary))
    write_results({"ci": ci, "cpu": cpu}, tmp_path / "docs", None)
    row = next(line for line in (tmp_path / "docs/results.md").read_text().splitlines() if line.startswith("| margin"))
    assert row.endswith("| ✅ holds: 0.995 γ* | ✅ holds: 0.995 γ* · p=71 k=2 m=500 poly | not run |")
    assert split_claim("a (x (y)) b (z)") == ("a b", "y; x; z")


def test_first_sentence():
    assert first_sentence("As Fig. 6 for S3, γ* = 0.02360.") == "As Fig. 6 for S3, γ* = 0.02360."
    assert first_sentence("One cosine (e.g. ζ = 1). At ci scale it differs.") == "One cosine (e.g. ζ = 1)."
    assert all(s for _, s in recipe_descriptions().values())


def test_cli(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(README)
    args = ["results", "--ci", str(report(tmp_path, "ci", True)), "--docs", str(tmp_path / "docs"),
            "--readme", str(readme)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "claims holding: ci 3/3" in result.output
    result = CliRunner().invoke(main, ["results", "--ci", str(tmp_path / "nowhere"), "--no-readme"])
    assert result.exit_code == 2 and "no reproduce summary" in result.output


def test_a_recipe_that_read_back_its_runs_shows_their_training_time(tmp_path):
    """A paper-scale recipe reads back runs trained over days: its wall time is seconds, its runs' hours."""
    paper = report(tmp_path, "paper", True, seconds=6.0, train_seconds=3 * 3600 + 600)
    out = write_results({"paper": paper}, tmp_path / "docs", None)
    page = (tmp_path / "docs" / "results.md").read_text()
    assert "Time: ci not run · cpu not run · paper 6 s (its runs trained in 3.2 h)" in page, out
    summary = json.loads((paper / "summary.json").read_text())
    assert summary["recipes"][0]["train_seconds"] == summary["train_seconds"] == 3 * 3600 + 600
    assert "- **paper**: 3 of 3 claims hold, wall time 6 s (its runs trained in 3.2 h)" in page
