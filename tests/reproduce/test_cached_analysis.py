"""cached_analysis: a stored analysis.json is reused only when it is of the current ANALYSIS_VERSION (an old
one would report the keys added since as missing, "n/a" in the report) and has drawn the figures asked for;
missing figures are drawn alone and added, without redrawing the others."""
import json
import shutil
from pathlib import Path

import pytest

from fourier_circuits.reproduce.runner import cached_analysis
from fourier_circuits.runs.analyze import ANALYSIS_VERSION


@pytest.fixture
def run_dir(trained_run, tmp_path) -> Path:
    """A copy of the trained p = 7 run with no analysis and no figures."""
    run_dir = tmp_path / "p7"
    shutil.copytree(trained_run["run_dir"], run_dir)
    (run_dir / "analysis.json").unlink(missing_ok=True)
    shutil.rmtree(run_dir / "figures", ignore_errors=True)
    return run_dir


def names(summary: dict) -> set[str]:
    return {Path(f).name for f in summary.get("figures", [])}


def test_cached_analysis_reuses_current_and_recomputes_old_versions(run_dir):
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


def test_only_the_figures_asked_for_are_drawn_and_missing_ones_are_added(run_dir, monkeypatch):
    bare = cached_analysis(run_dir)               # no figures asked for: none drawn
    assert not bare.get("figures") and not (run_dir / "figures").exists()
    assert "max_power_median" in bare              # the analysis itself is all there

    neurons = cached_analysis(run_dir, ["neurons"])
    assert names(neurons) == {"neurons.png", "neurons.svg"} and neurons["figures_drawn"] == ["neurons"]
    png = run_dir / "figures" / "neurons.png"
    drawn_at = png.stat().st_mtime_ns

    path = run_dir / "analysis.json"
    path.write_text(json.dumps(dict(neurons, marker="cached")))
    assert cached_analysis(run_dir, ["neurons"])["marker"] == "cached"   # drawn already: read back
    assert cached_analysis(run_dir)["marker"] == "cached"                # fewer figures: read back

    import fourier_circuits.reproduce.runner as runner
    import fourier_circuits.runs.store as store
    written = []
    for module in (runner, store):
        monkeypatch.setattr(module, "atomic_write_json", lambda p, d, w=module.atomic_write_json: (written.append(p), w(p, d)))
    both = cached_analysis(run_dir, ["neurons", "max_power"])            # one more: drawn alone and added
    assert written == [path]                                             # analysis.json written once, merged
    assert "marker" not in both
    assert names(both) == {"neurons.png", "neurons.svg", "max_power.png", "max_power.svg"}
    assert both["figures_drawn"] == ["max_power", "neurons"] and png.stat().st_mtime_ns == drawn_at
    stored = json.loads(path.read_text())
    assert (stored["figures"], stored["figures_drawn"]) == (both["figures"], both["figures_drawn"])


def test_a_full_analysis_serves_every_request_and_a_deleted_figure_is_redrawn(run_dir):
    full = cached_analysis(run_dir, True)
    assert full["figures_drawn"] is None and {"neurons.png", "margin.png", "max_power.png"} <= names(full)
    path = run_dir / "analysis.json"
    path.write_text(json.dumps(dict(full, marker="cached")))
    assert cached_analysis(run_dir, ["neurons", "dominant_frequency"])["marker"] == "cached"
    assert cached_analysis(run_dir, True)["marker"] == "cached"

    (run_dir / "figures" / "margin.png").unlink()          # a figure gone: the analysis is drawn again
    again = cached_analysis(run_dir, ["margin"])
    assert "marker" not in again and (run_dir / "figures" / "margin.png").exists()


def test_a_lean_analysis_leaves_out_what_only_an_unnamed_figure_needs(run_dir):
    """The margin → feature link (a margin pass per checkpoint) is computed for its figure or a full analysis."""
    lean = cached_analysis(run_dir, ["neurons"])
    assert "margin_feature_link" not in lean
    assert cached_analysis(run_dir, ["margin_feature_link"])["margin_feature_link"]
    assert cached_analysis(run_dir, True)["margin_feature_link"]
