"""Solver values kept across processes: γ* of a task without a closed form is solved once per run store.

The class LP of docs/theory.md §8 takes seconds for S5 and about a minute for S6, so every run and every `analyze`
of a large group would otherwise solve it again. `remembered(key, compute)` returns the value of `key`: from
this process's memory, else from `<directory>/<key>.json`, else by calling `compute()` and writing that file
(atomically). The run store chooses the directory (`runs.train.train` and `runs.analyze.analyze_run` use
`<runs root>/solver` through `solver_cache_at`); without one, values live in memory only. A file written by
another SOLVER_VERSION, or one that cannot be read, is solved again and replaced.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

SOLVER_VERSION = 1   # bump when the solver's value for a key may change
_memory: dict[str, float] = {}
_directory: list[Path] = []   # a stack: the innermost solver_cache_at wins


@contextlib.contextmanager
def solver_cache_at(directory: str | Path) -> Iterator[None]:
    """Within the block, solver values are read from and written to `directory` (created on first write)."""
    _directory.append(Path(directory))
    try:
        yield
    finally:
        _directory.pop()


def _read(path: Path) -> float | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("solver_version") != SOLVER_VERSION:
        return None
    value = record.get("value")
    return float(value) if isinstance(value, (int, float)) else None


def _write(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(record, f, indent=1)
    os.replace(tmp, path)


def remembered(key: str, compute: Callable[[], float]) -> float:
    """The value of `key` (a file-name-safe string such as "group-S6-k2"), computed at most once per store."""
    path = _directory[-1] / f"{key}.json" if _directory else None
    if key in _memory:
        if path is not None and not path.exists():   # solved before this store was chosen: share it
            _write(path, {"key": key, "value": _memory[key], "solver_version": SOLVER_VERSION})
        return _memory[key]
    value = _read(path) if path is not None else None
    if value is None:
        start = time.perf_counter()
        value = float(compute())
        if path is not None:
            _write(path, {"key": key, "value": value, "solver_version": SOLVER_VERSION,
                          "seconds": time.perf_counter() - start})
    _memory[key] = value
    return value


def forget() -> None:
    """Clear this process's memory of solver values (the files stay)."""
    _memory.clear()
