"""Run store: one directory per run plus an embedded SQLite index of all runs.

A run directory holds
    config.json      the resolved configuration (everything needed to rerun it)
    split.npz        train / test indices into the task's population
    metrics.jsonl    one JSON row per logged (log-spaced) step
    checkpoints/     log-spaced parameter snapshots  step_00000100.npz
    last.npz         full training state for resuming (parameters, optimizer, step)
    result.json      the final summary, written when the run ends
Every file is written atomically (temporary file + fsync + rename), so a run killed at any moment,
even by SIGKILL, leaves only complete files behind. Checkpoints are .npz read with allow_pickle=False.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import sqlite3
import tempfile
import time
from pathlib import Path

import numpy as np

from fourier_circuits.errors import RunBusyError

RUNS_ENV = "FOURIER_CIRCUITS_RUNS"


SOLVER_DIR = "solver"   # <root>/solver/<key>.json: solver values shared by the runs of a store (tasks.solver_cache)


def runs_root(root: str | Path | None = None) -> Path:
    """Root of the run store: the argument, else $FOURIER_CIRCUITS_RUNS, else ./runs."""
    return Path(root or os.environ.get(RUNS_ENV) or "runs")


def jsonable(obj):
    """A JSON-safe copy of obj: numpy/torch scalars → Python numbers, arrays/tuples/sets → lists,
    Paths → str, dict keys → str, non-finite floats → None; anything else unknown → str."""
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in obj]
    if hasattr(obj, "tolist"):            # numpy scalars and arrays, torch tensors
        return jsonable(obj.tolist())
    if hasattr(obj, "item"):
        return jsonable(obj.item())
    return str(obj)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: str | Path, obj) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def save_arrays(path: str | Path, arrays: dict[str, np.ndarray], meta: dict | None = None) -> None:
    """Atomically write named arrays (+ JSON metadata) as .npz; no pickled objects."""
    import io

    buf = io.BytesIO()
    payload = dict(arrays)
    payload["__meta__"] = np.array(json.dumps(meta or {}))
    np.savez(buf, **payload)
    atomic_write_bytes(path, buf.getvalue())


def load_arrays(path: str | Path) -> tuple[dict[str, np.ndarray], dict]:
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files if key != "__meta__"}
        meta = json.loads(str(data["__meta__"])) if "__meta__" in data.files else {}
    return arrays, meta


def read_metrics(run_dir: str | Path) -> list[dict]:
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:  # a torn last line from a kill: ignore it
            break
    return rows


def append_metrics(run_dir: str | Path, row: dict) -> None:
    with open(Path(run_dir) / "metrics.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n")
        f.flush()


def truncate_metrics(run_dir: str | Path, last_step: int) -> None:
    """Keep only rows with step <= last_step (used when resuming from a checkpoint)."""
    rows = [r for r in read_metrics(run_dir) if r["step"] <= last_step]
    atomic_write_bytes(Path(run_dir) / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in rows).encode())


INDEX_COLUMNS = ("run_dir", "task", "model", "p", "k", "width", "recipe", "seed", "status", "steps",
                 "normalized_margin", "gamma_star", "margin_ratio", "train_accuracy", "test_accuracy",
                 "seconds", "updated")


@contextlib.contextmanager
def run_lock(run_dir: str | Path, wait: bool = False, name: str = ".lock"):
    """Exclusive lock on a run directory (flock on run_dir/<name>, released when the process dies): two processes
    training the same run would interleave metrics rows and checkpoints. When it is held elsewhere: wait for
    it (`wait`), or raise RunBusyError naming the holder's pid."""
    path = Path(run_dir) / name
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            handle.seek(0)
            raise RunBusyError(f"run directory {run_dir} is being trained by another process "
                               f"(pid {handle.read().strip() or '?'})") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class RunIndex:
    """SQLite index of runs (root/index.sqlite): one row per run directory, upserted as runs progress."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = runs_root(root)
        self.path = self.root / "index.sqlite"

    def _connect(self) -> sqlite3.Connection:
        self.root.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, timeout=30)
        cols = ", ".join(f"{c} {'TEXT PRIMARY KEY' if c == 'run_dir' else ''}" for c in INDEX_COLUMNS)
        con.execute(f"CREATE TABLE IF NOT EXISTS runs ({cols}, config TEXT)")
        return con

    def upsert(self, record: dict, config: dict | None = None) -> None:
        row = {c: record.get(c) for c in INDEX_COLUMNS}
        row["run_dir"] = str(Path(record["run_dir"]).resolve())
        row["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        names = list(row) + ["config"]
        values = list(row.values()) + [json.dumps(config) if config is not None else None]
        with self._connect() as con:
            con.execute(f"INSERT OR REPLACE INTO runs ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                        values)
        con.close()

    def list(self) -> list[dict]:
        if not self.path.exists():
            return []
        with self._connect() as con:
            con.row_factory = sqlite3.Row
            rows = [dict(r) for r in con.execute("SELECT * FROM runs ORDER BY updated")]
        con.close()
        for r in rows:
            r.pop("config", None)
        return rows
