"""Shared by the examples: the size switch and the output folder.

`FOURIER_CIRCUITS_TINY=1` runs every example at the tiny size CI uses (seconds on 2 CPU cores);
`FOURIER_CIRCUITS_OUT` is where runs and figures go (default `runs/examples`).
"""
from __future__ import annotations

import os
from pathlib import Path

TINY = os.environ.get("FOURIER_CIRCUITS_TINY") == "1"
OUT = Path(os.environ.get("FOURIER_CIRCUITS_OUT", "runs/examples"))


def out_dir(name: str) -> Path:
    """A fresh-or-reused folder for one example's runs and figure."""
    path = OUT / name
    path.mkdir(parents=True, exist_ok=True)
    return path
