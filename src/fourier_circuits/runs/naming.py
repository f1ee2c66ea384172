"""Run-directory names: the task kind's label, the seed and a hash of the resolved config (torch-free, so a
sweep can name its runs before anything is imported)."""
from __future__ import annotations

import hashlib
import json
import re

from fourier_circuits.tasks.registry import kind_of
from fourier_circuits.training.config import TrainConfig


def config_hash(cfg: TrainConfig) -> str:
    """Short hash of the resolved config: the same command maps to the same run directory."""
    return hashlib.sha256(json.dumps(cfg.hashed_dict(), sort_keys=True).encode()).hexdigest()[:8]


def default_run_name(cfg: TrainConfig) -> str:
    """<the task kind's label>-s<seed>-<config hash>, with every character outside [A-Za-z0-9._+-] of the label
    (the ':', '(', ' ' of a perm: group spec) replaced by '_': one safe path component (the hash keeps names
    distinct; names that were safe already are unchanged)."""
    label = re.sub(r"[^A-Za-z0-9._+-]", "_", kind_of(cfg).run_label(cfg)).strip("._") or "run"
    return f"{label}-s{cfg.seed}-{config_hash(cfg)}"
