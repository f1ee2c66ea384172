"""The scripts in examples/ run at their tiny size (FOURIER_CIRCUITS_TINY=1), each writing its figure.

Like the docs of equinox, the examples are executed in CI, so an API change that breaks one fails the build.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = sorted(p for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))


def test_the_five_examples_are_there():
    assert [p.stem for p in SCRIPTS] == ["analyze_your_own_arrays", "certify_your_group", "features_emerge",
                                         "grokking", "seed_sweep"]


@pytest.fixture(scope="module")
def example_runs(tmp_path_factory):
    """Run the five scripts at once, each in its own folder and process: on 2 cores the whole set takes about half
    its CPU time (about 2 s of each script is importing torch and matplotlib), instead of the sum of the five.
    Returns {name: (folder, exit code, stdout, stderr)}."""
    # one torch thread, as reproduce's workers use: on a busy 2-core machine two spinning threads made the tiny
    # grokking run 17x slower in CPU time (144 s against 8 s), with the same numbers
    env = dict(os.environ, FOURIER_CIRCUITS_TINY="1", OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(EXAMPLES), os.environ.get("PYTHONPATH", "")]))
    started = {}
    for script in SCRIPTS:
        folder = tmp_path_factory.mktemp(script.stem)
        out, err = open(folder / "stdout.txt", "w"), open(folder / "stderr.txt", "w")   # files: no pipe to fill
        proc = subprocess.Popen([sys.executable, str(script)], cwd=folder, stdout=out, stderr=err, text=True,
                                env=dict(env, FOURIER_CIRCUITS_OUT=str(folder / "out")))
        started[script.stem] = (folder, proc, out, err)
    runs = {}
    try:
        for name, (folder, proc, out, err) in started.items():
            code = proc.wait(timeout=600)
            out.close(), err.close()
            runs[name] = (folder, code, (folder / "stdout.txt").read_text(), (folder / "stderr.txt").read_text())
    finally:
        for _, proc, out, err in started.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            out.close(), err.close()
    return runs


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_example_runs_and_writes_its_figure(script, example_runs):
    assert script.read_text().startswith("# %% [markdown]"), "examples are jupytext percent scripts"
    folder, code, stdout, stderr = example_runs[script.stem]
    assert code == 0, stdout + stderr
    figures = [line.split("figure: ", 1)[1] for line in stdout.splitlines() if line.startswith("figure: ")]
    assert figures and all(Path(f if Path(f).is_absolute() else folder / f).is_file() for f in figures)


def test_docs_site_builds_strictly(tmp_path):
    """The docs site (which embeds these examples) builds with `mkdocs build --strict`: a broken link, a missing
    figure or an API name that no longer exists fails. Needs the docs extra (`pip install -e ".[docs]"`)."""
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    pytest.importorskip("mkdocs_click")
    root = EXAMPLES.parent
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "site" / "theory" / "index.html").is_file()
