"""`reproduce`: runs recipes through the run store, writes the report, reuses finished runs, reports a
crashing recipe without failing, and rejects bad input before any work."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fourier_circuits.cli import main
from fourier_circuits.errors import ConfigError
from fourier_circuits.reproduce import figures as recipes
from fourier_circuits.reproduce import runner
from fourier_circuits.reproduce.runner import reproduce


def _result_mtimes(root: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime for p in root.glob("*/result.json")}


def test_reproduce_writes_report_and_reuses_runs(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "report"
    summary = reproduce(["mo-fig5"], "ci", out, runs, progress=False)
    assert (out / "index.html").exists() and (out / "summary.json").exists()
    assert summary["n_claims"] == len(summary["claims"]) >= 4
    assert all(c["recipe"] == "mo-fig5" for c in summary["claims"])
    # parity by [MO]'s GD (the paper's training) and by the fast recipe (the theorem: the margin reaches γ*)
    assert {c["evidence"] for c in summary["claims"]} == {"paper recipe", "max-margin recipe"}
    margin = next(c for c in summary["claims"] if c["claim"].startswith("normalized margin")
                  and c["evidence"] == "max-margin recipe")
    assert margin["holds"] and margin["value"] >= 0.99
    assert summary["recipes"][0]["figures"], "figures are copied into the report"
    before = _result_mtimes(runs)
    assert len(before) == 2
    again = reproduce(["mo-fig5", "new-lambda"], "ci", out, runs, workers=2, progress=False)  # concurrent recipes
    after = _result_mtimes(runs)
    assert {k: after[k] for k in before} == before, "a finished run is read back, not retrained"
    assert [r["name"] for r in again["recipes"]] == ["mo-fig5", "new-lambda"] and again["n_errors"] == 0
    assert ([c["measured"] for c in again["claims"] if c["recipe"] == "mo-fig5"]
            == [c["measured"] for c in summary["claims"]])


def test_a_crashing_recipe_is_reported_and_the_rest_go_on(tmp_path, monkeypatch):
    def boom(ctx):
        raise RuntimeError("kaboom")
    crashing = recipes.FigureRecipe("mo-fig7", "t", "MO", "d", boom)
    monkeypatch.setitem(recipes.FIGURE_RECIPES, "mo-fig7", crashing)
    result = CliRunner().invoke(main, ["reproduce", "mo-fig7", "new-gamma-beyond", "--workers", "1",  # the patch is in-process
                                       "--runs", str(tmp_path / "runs"),
                                       "--out", str(tmp_path / "r"), "--no-progress"])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    errors = {r["name"]: r["error"] for r in summary["recipes"]}
    assert "kaboom" in errors["mo-fig7"] and errors["new-gamma-beyond"] is None
    assert summary["n_claims"] > 0
    assert "ERROR  mo-fig7" in result.output


@pytest.mark.parametrize("args, message", [
    (["nope"], "unknown recipe 'nope'"),
    (["--scale", "huge"], "huge"),
    (["--workers", "0"], "--workers must be >= 1, got 0"),
    (["--seed-offset", "-1"], "--seed-offset must be an integer in [0, 2147483648), got -1"),
    (["--seed-offset", str(2**31)], "--seed-offset must be an integer in [0, 2147483648)"),
    (["--seed-offset", "x"], "'x' is not a valid integer"),
])
def test_bad_input_exits_2_before_any_work(tmp_path, args, message):
    runs = tmp_path / "runs"
    result = CliRunner().invoke(main, ["reproduce", *args, "--runs", str(runs), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert message in result.output
    assert not runs.exists() and not (tmp_path / "r").exists()


def test_a_seed_offset_shifts_the_seed_of_every_trained_run(tmp_path, monkeypatch):
    """--seed-offset N: a recipe's runs (default seed 0, its own seeds) and its planned runs get seed + N; the
    summary records N. Nothing is trained: run_configs is replaced by a recorder."""
    seen = []

    def recorded(configs, root, **kw):
        seen.extend(c.seed for c in configs)
        return [dict(run_dir=str(tmp_path / f"run{c.seed}")) for c in configs]
    monkeypatch.setattr(runner, "run_configs", recorded)

    def check(ctx):
        ctx.runs("g", [dict(p=5, width=8), dict(preset="mo-s3", seed=1)], analyze=False)
        return [], []
    monkeypatch.setitem(recipes.FIGURE_RECIPES, "mo-fig7", recipes.FigureRecipe("mo-fig7", "t", "MO", "d", check))
    result = CliRunner().invoke(main, ["reproduce", "mo-fig7", "--seed-offset", "3", "--workers", "1",
                                       "--out", str(tmp_path / "r"), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert seen == [3, 4]
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["meta"]["seed_offset"] == 3
    runner._train_planned(dict(p=5, width=8, seed=2), tmp_path, seed_offset=3)
    assert seen[-1] == 5
    assert runner.shifted_config(dict(p=5, width=8)).seed == 0


def test_unknown_recipe_in_the_api():
    with pytest.raises(ConfigError, match="unknown recipe 'x'"):
        reproduce(["x"], progress=False)
    with pytest.raises(ConfigError, match="unknown scale"):
        reproduce([], scale="big", progress=False)


def test_list(tmp_path):
    result = CliRunner().invoke(main, ["reproduce", "--list", "--json"])
    assert result.exit_code == 0
    listed = json.loads(result.output)
    assert set(listed) == set(recipes.FIGURE_RECIPES)


def test_every_after_names_a_recipe_and_none_is_in_a_cycle():
    names = set(recipes.FIGURE_RECIPES)
    for recipe in recipes.FIGURE_RECIPES.values():
        assert set(recipe.after) <= names - {recipe.name}, recipe.name
        seen, todo = set(), list(recipe.after)
        while todo:                                  # follow `after` transitively: never back to the recipe
            name = todo.pop()
            assert name != recipe.name, f"{recipe.name} is in an `after` cycle"
            if name not in seen:
                seen.add(name)
                todo += recipes.FIGURE_RECIPES[name].after


class _InlinePool:
    """A RunPool stand-in that runs each job at once and records the order of submission."""

    def __init__(self, workers: int) -> None:
        self.workers, self.submitted = workers, []

    def submit(self, fn, name, *args):
        from concurrent.futures import Future
        self.submitted.append(name)
        future = Future()
        future.set_result(runner.RecipeReport(name=name, title="", paper="new", scale="ci", description="",
                                              settings={}, claims=[], figures=[], runs=[], seconds=0.0))
        return future


def test_long_recipes_are_scheduled_first():
    """`long` recipes go before everything else (even those others read); the rest keep their order."""
    recipe = lambda name, after=(), long=False: recipes.FigureRecipe(name, "t", "new", "d", lambda ctx: ([], []),  # noqa: E731
                                                                      after, long)
    given = [recipe("a", after=("c",)), recipe("b"), recipe("c"), recipe("slow", long=True)]
    assert [r.name for r in runner.schedule_order(given)] == ["slow", "c", "a", "b"]
    assert {n for n, r in recipes.FIGURE_RECIPES.items() if r.long} == {"li-fig4", "mo-fig6"}


def test_concurrent_recipes_start_after_the_recipes_they_read(monkeypatch):
    """Recipes others read go first; a recipe is submitted only once its `after` are done; the reports come
    back in the order given, whatever the order of completion."""
    from tqdm import tqdm
    recipe = lambda name, after=(): recipes.FigureRecipe(name, "t", "new", "d", lambda ctx: ([], []), after)  # noqa: E731
    given = [recipe("a", after=("c",)), recipe("b"), recipe("c"), recipe("d", after=("a",))]
    assert [r.name for r in runner.schedule_order(given)] == ["a", "c", "d", "b"]
    pool = _InlinePool(workers=2)
    reports = runner._concurrent_reports(given, "ci", Path("."), pool, tqdm(disable=True))
    assert [r.name for r in reports] == ["a", "b", "c", "d"]
    assert pool.submitted.index("c") < pool.submitted.index("a") < pool.submitted.index("d")


def test_planned_runs_are_jobs_of_their_own_and_their_recipe_waits_for_them(monkeypatch):
    """A recipe's `planned` runs are submitted before it, run on both workers at once, and the recipe starts
    only when every one of them has finished; li-fig4 plans its 12 cpu runs."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from tqdm import tqdm
    log, lock = [], threading.Lock()

    def job(label):
        with lock:
            log.append(("start", label))
        time.sleep(0.05)
        with lock:
            log.append(("end", label))

    monkeypatch.setattr(runner, "_train_planned", lambda overrides, root, seed_offset: job(f"run{overrides['seed']}") or 1.5)
    monkeypatch.setattr(runner, "_run_recipe_named", lambda name, scale, root, seed_offset: job(name) or runner.RecipeReport(
        name=name, title="", paper="new", scale=scale, description="", settings={}, claims=[], figures=[],
        runs=[], seconds=0.0))

    class Pool:
        workers = 2

        def __init__(self):
            self.executor = ThreadPoolExecutor(2)

        def submit(self, fn, *args):
            return self.executor.submit(fn, *args)

    given = [recipes.FigureRecipe("g", "t", "new", "d", lambda ctx: ([], []), long=True,
                                  planned=lambda scale: [dict(seed=s) for s in range(3)]),
             recipes.FigureRecipe("b", "t", "new", "d", lambda ctx: ([], []))]
    reports = runner._concurrent_reports(given, "ci", Path("."), Pool(), tqdm(disable=True))
    assert [r.name for r in reports] == ["g", "b"]
    assert reports[0].seconds == 4.5, "a recipe's seconds count its planned runs' seconds"
    assert log.index(("start", "g")) > max(log.index(("end", f"run{s}")) for s in range(3))
    assert log.index(("start", "run1")) < log.index(("end", "run0")), "two planned runs run at once"
    assert log.index(("start", "run0")) < log.index(("start", "b"))
    assert len(recipes.FIGURE_RECIPES["li-fig4"].planned("cpu")) == 12


def test_a_worker_that_dies_is_reported_as_a_crashed_recipe():
    from concurrent.futures import Future
    future = Future()
    future.set_exception(RuntimeError("worker died"))
    report = runner._report_of(future, recipes.FIGURE_RECIPES["mo-fig8"], "ci")
    assert report.name == "mo-fig8" and "worker died" in report.error and report.claims == []


def test_gpu_recipes_at_paper_scale_are_not_started_without_cuda(tmp_path, monkeypatch):
    """[LI]'s transformers at paper scale need a GPU: without CUDA the recipe is reported as not run (why, the
    expected CPU hours, the command for a GPU), nothing is trained, and the other recipes still run."""
    monkeypatch.setattr(runner, "_cuda_available", lambda: False)
    summary = reproduce(["li-fig10"], "paper", tmp_path / "r", tmp_path / "runs", progress=False)
    (rec,) = summary["recipes"]
    assert rec["not_run"].startswith("needs a GPU at paper scale (li-tf-k5") and "~495 h" in rec["not_run"]
    assert "fourier-circuits reproduce li-fig10 --scale paper" in rec["not_run"]
    assert rec["error"] is None and summary["claims"] == [] and not (tmp_path / "runs").exists()
    assert all(recipes.FIGURE_RECIPES[n].gpu_presets for n in ("li-fig3", "li-fig4", "li-fig9", "li-fig10"))
    assert not any(r.gpu_presets for r in recipes.FIGURE_RECIPES.values() if r.name.startswith("mo-"))
