"""Fuzzing the CLI (issue 29): hostile arguments and damaged run-store files.

The property: exit 0, or exit 2 with exactly one stderr line ("error: ..."), never a traceback; nothing written
on exit 2; nothing already there changed (the damaged file aside). Training is stubbed in the argument fuzz
(exit 0 there means: validation passed and handed a config to training), so each example takes milliseconds;
the store fuzz runs the real `train` (a finished run: its stored result), `analyze --no-plots` and `runs`.
"""
import hashlib
import json
import shutil
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fourier_circuits.cli import main
from fourier_circuits.runs import store as runstore
from fourier_circuits.training.config import TrainConfig

HUGE = [2**31, 2**61 - 1, 2**63, 2**127 - 1, 10**40, -(2**63) - 1]
INTS = st.one_of(st.integers(-3, 12), st.sampled_from(HUGE))
FLOATS = st.sampled_from(["inf", "-inf", "nan", "0", "-1", "1e-3", "1e308", "1e-320", "0.5", "2"])
GROUPS = st.sampled_from(["C1", "A1", "S1", "perm:(0)", "S3", " S3 ", "C2xC2", "Q8", "perm:(0 1000000)", "S100",
                          "X9", "", "C0", "D2", "perm:", "perm:(0 1", "C2xperm:(0 1)", "perm:(0 1)(1 2)", "C5"])
WORDS = st.sampled_from(["", "x", "true", "[1, -2]", "[]", "{a=1}", "'s'", "1e999", "-0", "nan", "cuda", "é", ";"])
KEYS = st.sampled_from([f.name for f in TrainConfig.__dataclass_fields__.values()] + ["zzz", "", "p.q"])
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def tree(path: Path) -> dict[str, str]:
    return {p.relative_to(path).as_posix(): "dir" if p.is_dir() else hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*"))}


def check_outcome(res) -> None:
    assert res.exit_code in (0, 2), (res.exit_code, res.stderr, res.exception)
    assert "Traceback" not in res.stderr
    if res.exit_code == 2:
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr


@st.composite
def task_args(draw) -> list[str]:
    task = draw(st.sampled_from(["modadd", "group", "parity"]))
    args = ["--task", task]
    if task == "modadd" or draw(st.booleans()):
        args += ["--p", str(draw(st.one_of(st.sampled_from([3, 5, 7, 4, 9, 2, 1, 0, -5]), st.sampled_from(HUGE)))),]
    if task == "group" or draw(st.booleans()):
        args += ["--group", draw(GROUPS)]
    if task == "parity" or draw(st.booleans()):
        args += ["--n", str(draw(st.one_of(st.integers(-1, 8), st.sampled_from([21, 64] + HUGE))))]
    if draw(st.booleans()):
        args += ["--k", str(draw(st.one_of(st.integers(-1, 3), st.sampled_from([10**9] + HUGE))))]
    return args


@st.composite
def train_args(draw) -> list[str]:
    args = draw(task_args())
    for option in draw(st.lists(st.sampled_from(["--width", "--steps", "--seed", "--batch-size", "--degree"]),
                                max_size=3)):
        args += [option, str(draw(INTS))]
    for option in draw(st.lists(st.sampled_from(["--lr", "--lam", "--train-fraction"]), max_size=2)):
        args += [option, draw(FLOATS)]
    for _ in range(draw(st.integers(0, 3))):
        key = draw(KEYS)
        value = draw(st.one_of(WORDS, FLOATS, INTS.map(str)))
        args += ["--set", f"{key}={value}"]
    if draw(st.booleans()):
        args += ["--device", draw(st.sampled_from(["cpu", "cuda", "tpu"]))]
    return args


@SETTINGS
@given(args=st.one_of(st.tuples(st.sampled_from(["theory", "construct"]), task_args()),
                      st.tuples(st.just("train"), train_args())))
def test_arguments_are_accepted_or_refused_in_one_line(monkeypatch, args):
    import fourier_circuits.runs.train as runs_train

    def stub(cfg, run_dir, **kwargs):
        assert isinstance(cfg, TrainConfig)
        return {"status": "done", "margin_ratio": None}
    monkeypatch.setattr(runs_train, "train", stub)
    command, rest = args
    if command == "construct" and ("--p" in rest and rest[rest.index("--p") + 1] not in ("3", "5", "7")):
        rest = [a for a in rest if a != "--task"][:0] + ["--task", "group", "--group", "perm:(0)"]   # no big builds
    with tempfile.TemporaryDirectory() as tmp:
        before = tree(Path(tmp))
        res = CliRunner().invoke(main, [command, *rest, "--runs" if command == "train" else "--json",
                                        *([str(Path(tmp) / "runs")] if command == "train" else [])])
        check_outcome(res)
        assert tree(Path(tmp)) == before


@pytest.fixture(scope="module")
def finished_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz") / "runs"
    args = ["train", "--p", "5", "--width", "4", "--steps", "5", "--set", "polish_iters=0", "--set",
            "rebalance_rounds=0", "--no-progress", "--json", "--out", str(root / "r")]
    res = CliRunner().invoke(main, args, env={runstore.RUNS_ENV: str(root)})
    assert res.exit_code == 0, res.stderr
    return root, args


FILES = ["config.json", "result.json", "metrics.jsonl", "last.npz", "last.prev.npz", "split.npz",
         "checkpoints/step_00000000.npz", "../index.sqlite"]
CHANGES_ALLOWED = ("index.sqlite", "analysis.json", ".lock")   # rebuilt, written by analyze, a lock


@st.composite
def damage(draw) -> tuple[str, str, int, bytes]:
    """(file, how, position, bytes): truncate at a fraction, overwrite with bytes, or flip one byte."""
    return (draw(st.sampled_from(FILES)), draw(st.sampled_from(["truncate", "replace", "flip"])),
            draw(st.integers(0, 10**6)),
            draw(st.one_of(st.binary(max_size=64), st.sampled_from([b"{}", b"[]", b"null", b'{"status": 1}',
                                                                   b'{"status": "done", "margin_ratio": "x"}',
                                                                   b'{"p": "5"}', b"\xff\xfe"]))))


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(harm=damage(), command=st.sampled_from(["train", "analyze", "runs"]))
def test_a_damaged_store_heals_or_refuses_in_one_line(finished_store, harm, command):
    source, train_args = finished_store
    name, how, position, data = harm
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "runs"
        shutil.copytree(source, root)
        path = (root / "r" / name).resolve()
        original = path.read_bytes()
        if how == "truncate":
            path.write_bytes(original[:position % (len(original) + 1)])
        elif how == "replace":
            path.write_bytes(data)
        else:
            i = position % len(original)
            path.write_bytes(original[:i] + bytes([original[i] ^ 0xFF]) + original[i + 1:])
        before = tree(root)
        args = {"train": [a.replace(str(source), str(root)) for a in train_args],
                "analyze": ["analyze", str(root / "r"), "--no-plots", "--json"],
                "runs": ["runs", "--runs", str(root), "--json"]}[command]
        res = CliRunner().invoke(main, args, env={runstore.RUNS_ENV: str(root)})
        check_outcome(res)
        if res.exit_code == 0 and command != "runs":
            json.loads(res.stdout)
        after = tree(root)
        damaged = path.relative_to(root).as_posix()
        for file, digest in before.items():                      # nothing already there is lost or changed
            if file != damaged and not file.endswith(CHANGES_ALLOWED):
                assert after.get(file) == digest, (file, harm, command, res.stderr)
        if res.exit_code == 2:
            assert set(after) - set(before) <= {"r/.lock"}, (harm, command)
