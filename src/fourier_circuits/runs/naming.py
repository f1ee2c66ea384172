"""Run-directory names: the task kind's label, the seed and a hash of the resolved config (torch-free, so a
sweep can name its runs before anything is imported)."""
from __future__ import annotations

import hashlib
import json

from fourier_circuits.tasks.registry import kind_of
from fourier_circuits.training.config import TrainConfig


def config_hash(cfg: TrainConfig) -> str:
    """Short hash of the resolved config: the same command maps to the same run directory."""
    return hashlib.sha256(json.dumps(cfg.hashed_dict(), sort_keys=True).encode()).hexdigest()[:8]


def default_run_name(cfg: TrainConfig) -> str:
    """<the task kind's label>-s<seed>-<config hash>."""
    return f"{kind_of(cfg).run_label(cfg)}-s{cfg.seed}-{config_hash(cfg)}"
