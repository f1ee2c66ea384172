"""cached_analysis: a stored analysis.json is reused only when it is of the current ANALYSIS_VERSION (an old
one would report the keys added since as missing, "n/a" in the report)."""
import json
import shutil
from pathlib import Path

from fourier_circuits.reproduce.runner import cached_analysis
from fourier_circuits.runs.analyze import ANALYSIS_VERSION


def test_cached_analysis_reuses_current_and_recomputes_old_versions(trained_run, tmp_path):
    run_dir = tmp_path / "p7"
    shutil.copytree(trained_run["run_dir"], run_dir)
    (run_dir / "analysis.json").unlink(missing_ok=True)
    first = cached_analysis(run_dir)
    assert first["analysis_version"] == ANALYSIS_VERSION
    path = run_dir / "analysis.json"

    marked = dict(first, marker="cached")          # a current analysis.json is read back as it is
    path.write_text(json.dumps(marked))
    assert cached_analysis(run_dir)["marker"] == "cached"

    old = dict(marked, analysis_version=ANALYSIS_VERSION - 1)   # an old one is recomputed
    path.write_text(json.dumps(old))
    again = cached_analysis(run_dir)
    assert "marker" not in again and again["analysis_version"] == ANALYSIS_VERSION
    del old["analysis_version"]                    # as are those written before versions existed
    path.write_text(json.dumps(old))
    assert "marker" not in cached_analysis(run_dir)
    assert json.loads(path.read_text())["analysis_version"] == ANALYSIS_VERSION


def test_an_analysis_without_figures_is_drawn_when_figures_are_asked_for(trained_run, tmp_path):
    run_dir = tmp_path / "p7"
    shutil.copytree(trained_run["run_dir"], run_dir)
    (run_dir / "analysis.json").unlink(missing_ok=True)
    shutil.rmtree(run_dir / "figures", ignore_errors=True)
    bare = cached_analysis(run_dir, plots=False)
    assert not bare.get("figures") and not (run_dir / "figures").exists()
    path = run_dir / "analysis.json"
    path.write_text(json.dumps(dict(bare, marker="cached")))
    assert cached_analysis(run_dir, plots=False)["marker"] == "cached"   # read back, still without figures
    drawn = cached_analysis(run_dir)                              # figures asked for: analyzed again, drawn
    assert "marker" not in drawn and drawn["figures"] and all(Path(f).exists() for f in drawn["figures"])
    assert cached_analysis(run_dir, plots=False)["figures"] == drawn["figures"]   # a drawn one serves both
