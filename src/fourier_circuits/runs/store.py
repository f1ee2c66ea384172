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

A file damaged from outside is never taken for good data: reading it raises RunStoreError naming the file;
a garbage metrics line is skipped, never the good rows after it. The SQLite index is a cache of the run
directories: a corrupt one is moved aside and rebuilt from them.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import shutil
import sqlite3
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

from fourier_circuits.errors import RunBusyError, RunStoreError

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


def keep_previous(path: str | Path, previous: str | Path) -> None:
    """Make `previous` the current content of `path` (a hard link, else a copy, swapped in atomically), with
    `path` itself never absent: a reader or a kill at any moment finds both complete."""
    path, previous = Path(path), Path(previous)
    tmp = previous.with_name(f".{previous.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(path, tmp)
    except OSError:
        shutil.copyfile(path, tmp)
    os.replace(tmp, previous)


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
    """(arrays, metadata) of a file written by `save_arrays`; RunStoreError naming the file when it is damaged
    (truncated, empty, not an .npz, unreadable metadata)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files if key != "__meta__"}
            meta = json.loads(str(data["__meta__"])) if "__meta__" in data.files else {}
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
        raise RunStoreError(f"{path} is corrupt ({type(e).__name__}: {e})") from None
    if not isinstance(meta, dict):
        raise RunStoreError(f"{path} is corrupt (its metadata is not a JSON object)")
    return arrays, meta


def read_json(path: str | Path, advice: str) -> dict:
    """A JSON object from a run-store file; RunStoreError naming the file (and `advice`) when it is not one."""
    try:
        data = json.loads(Path(path).read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise RunStoreError(f"{path} is corrupt ({e}): {advice}") from None
    if not isinstance(data, dict):
        raise RunStoreError(f"{path} is corrupt (not a JSON object): {advice}")
    return data


def read_metrics(run_dir: str | Path) -> list[dict]:
    """The metric rows of a run; a line that is not a row (torn by a kill, damaged) is skipped, never the
    good rows after it."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and isinstance(row.get("step"), int):
            rows.append(row)
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


def lock_held(run_dir: str | Path, name: str = ".lock") -> bool:
    """Whether a live process holds `run_lock` on run_dir (flock probe; the lock file is not touched)."""
    path = Path(run_dir) / name
    if not path.is_file():
        return False
    with open(path) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


RECORD_KEYS = ("task", "model", "p", "k", "width", "recipe", "seed")   # the index columns a config.json gives


class RunIndex:
    """SQLite index of runs (root/index.sqlite): one row per run directory, upserted as runs progress.

    The index is a cache of the run directories under root: when it is damaged (not a database, a wrong
    schema, a directory in its place) it is moved aside to index.sqlite.corrupt-<time> (nothing is deleted)
    and rebuilt from root/*/config.json and result.json, with one warning line on stderr. One that cannot be
    written is a RunStoreError naming it."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = runs_root(root)
        self.path = self.root / "index.sqlite"

    def _open(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=30)
        try:
            cols = ", ".join(f"{c} {'TEXT PRIMARY KEY' if c == 'run_dir' else ''}" for c in INDEX_COLUMNS)
            con.execute(f"CREATE TABLE IF NOT EXISTS runs ({cols}, config TEXT)")
            con.execute(f"SELECT {', '.join(INDEX_COLUMNS)}, config FROM runs LIMIT 1").fetchall()  # the schema
        except BaseException:
            con.close()
            raise
        return con

    def _connect(self) -> sqlite3.Connection:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RunStoreError(f"cannot create the run store {self.root} ({e.strerror})") from None
        self.check_writable()
        try:
            return self._open()
        except sqlite3.DatabaseError as e:
            if "locked" in str(e) or "readonly" in str(e):
                raise RunStoreError(f"run index {self.path} cannot be written ({e})") from None
            self._rebuild(str(e))
            return self._open()

    def check_writable(self) -> None:
        """RunStoreError when the index (or the store's folder, for a new one) cannot be written."""
        target = self.path if self.path.exists() else self.root
        if target.exists() and not (os.access(target, os.W_OK) and os.access(self.root, os.W_OK)):
            raise RunStoreError(f"run index {self.path} cannot be written (permission denied): make {target} "
                                "writable or choose another store with --runs")

    def _rebuild(self, reason: str) -> None:
        """Move the damaged index aside and index every run directory under root again."""
        aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}")
        with contextlib.suppress(FileNotFoundError):
            os.replace(self.path, aside)
        con = self._open()
        count = 0
        with con:
            for run_dir in sorted(p for p in self.root.iterdir() if (p / "config.json").is_file()):
                record = self._record_of(run_dir)
                if record is not None:
                    self._insert(con, record, record.pop("config"))
                    count += 1
        con.close()
        print(f"warning: run index {self.path} was damaged ({reason}); moved to {aside.name} and rebuilt from "
              f"{count} run directories", file=sys.stderr)

    @staticmethod
    def _record_of(run_dir: Path) -> dict | None:
        """The index row of a run directory (None when its config.json is unreadable)."""
        try:
            config = json.loads((run_dir / "config.json").read_text())
            result = json.loads((run_dir / "result.json").read_text()) if (run_dir / "result.json").exists() else {}
        except (OSError, ValueError):
            return None
        if not isinstance(config, dict) or not isinstance(result, dict):
            return None
        return {"status": "unfinished", **{k: config.get(k) for k in RECORD_KEYS}, **result,
                "run_dir": str(run_dir), "config": config}

    @staticmethod
    def _insert(con: sqlite3.Connection, record: dict, config: dict | None) -> None:
        row = {c: record.get(c) for c in INDEX_COLUMNS}
        row = {c: v if v is None or isinstance(v, (int, float, str)) else json.dumps(v) for c, v in row.items()}
        row["run_dir"] = str(Path(record["run_dir"]).resolve())
        row["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        names = list(row) + ["config"]
        values = list(row.values()) + [json.dumps(config) if config is not None else None]
        con.execute(f"INSERT OR REPLACE INTO runs ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                    values)

    def upsert(self, record: dict, config: dict | None = None) -> None:
        con = self._connect()
        with con:
            self._insert(con, record, config)
        con.close()

    def status(self, run_dir: str | Path) -> str | None:
        """The status the index holds for a run directory (None: no row, or no index)."""
        if not self.path.exists():
            return None
        con = self._connect()
        with con:
            row = con.execute("SELECT status FROM runs WHERE run_dir = ?", (str(Path(run_dir).resolve()),)).fetchone()
        con.close()
        return row[0] if row else None

    def list(self) -> list[dict]:
        if not self.path.exists():
            return []
        con = self._connect()
        with con:
            con.row_factory = sqlite3.Row
            rows = [dict(r) for r in con.execute("SELECT * FROM runs ORDER BY updated")]
        con.close()
        for r in rows:
            r.pop("config", None)
            # "running" is written when training starts; a process killed since (kill -9, a closed session)
            # leaves it: such a run is stopped, and resumes when trained again
            if r["status"] == "running" and not lock_held(r["run_dir"]):
                r["status"] = "stopped"
        return rows
