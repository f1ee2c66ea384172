"""Shared fixtures: one short CLI-trained run reused by the CLI and analysis tests.

Paper-scale tests are marked `slow`; with no `-m` expression they are skipped (so a plain `pytest` stays
within a few minutes on 2 CPU cores). Run them with `pytest -m slow` (CI uses `-m "not slow"`).
"""
import json
import os

import pytest
from click.testing import CliRunner

from fourier_circuits.cli import main
from fourier_circuits.runs import store as runstore

TRAINED_ARGS = ["--p", "7", "--k", "2", "--width", "24", "--steps", "40", "--no-progress", "--json"]


@pytest.fixture(scope="session", autouse=True)
def private_default_run_store(tmp_path_factory):
    """The default run store ($FOURIER_CIRCUITS_RUNS, else ./runs) is a temporary one for the whole session: a test
    that trains with `--out DIR` indexes the run in the default store, which was the developer's ./runs/index.sqlite.
    Tests of the ./runs fallback unset the variable themselves (monkeypatch)."""
    before = os.environ.get(runstore.RUNS_ENV)
    os.environ[runstore.RUNS_ENV] = str(tmp_path_factory.mktemp("default-store") / "runs")
    yield
    if before is None:
        os.environ.pop(runstore.RUNS_ENV, None)
    else:
        os.environ[runstore.RUNS_ENV] = before


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """`fourier-circuits train --p 7 --k 2 --width 24 --steps 40 --out ROOT/p7 --json` inside a fresh run store.

    Returns dict(root, run_dir, result (parsed stdout), stdout, stderr).
    """
    root = tmp_path_factory.mktemp("store") / "runs"
    run_dir = root / "p7"
    res = CliRunner().invoke(main, ["train", *TRAINED_ARGS, "--out", str(run_dir)],
                             env={runstore.RUNS_ENV: str(root)})
    assert res.exit_code == 0, (res.stdout, res.stderr, res.exception)
    return dict(root=root, run_dir=run_dir, result=json.loads(res.stdout), stdout=res.stdout, stderr=res.stderr)


def pytest_collection_modifyitems(config, items):
    if config.getoption("markexpr", ""):
        return
    skip = pytest.mark.skip(reason="paper-scale: run with -m slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
