"""fourier-circuits: margin maximization and Fourier / irrep features of networks on algebraic tasks.

The layers, from the bottom up (imports point only downward; `lint-imports` enforces it):
errors → algebra → models → theory → analysis → tasks → training → runs → reproduce → cli.
The names below are loaded on first use, so `import fourier_circuits` (and every quick CLI answer) does not
import torch until a network is needed.
"""
from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("fourier-circuits")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

# public name -> module that defines it
_EXPORTS = {
    # errors
    "TaskError": "errors", "ConfigError": "errors", "ResourceError": "errors", "DivergedError": "errors",
    "RunBusyError": "errors",
    # algebra
    "Group": "algebra.groups", "parse_group": "algebra.groups",
    "Representation": "algebra.representations", "irreps": "algebra.representations",
    "character_table": "algebra.representations",
    # tasks
    "ModularAddition": "tasks.modadd", "GroupComposition": "tasks.group", "SparseParity": "tasks.parity",
    "make_task": "tasks.registry", "task_kind": "tasks.registry", "train_test_split": "tasks.split",
    # models
    "PolyNet": "models.polynet", "ParityNet": "models.parity", "Transformer": "models.transformer",
    "TransformerConfig": "models.transformer",
    "evaluate_margins": "models.margins", "l2nu_norm": "models.margins", "normalized_margin": "models.margins",
    # theory
    "gamma_star_modadd": "theory.modadd", "min_width_modadd": "theory.modadd", "theory_modadd": "theory.modadd",
    "construct_modadd": "theory.modadd", "theory_group": "theory.groups", "construct_group": "theory.groups",
    "theory_parity": "theory.parity", "gamma_star_parity": "theory.parity", "construct_parity": "theory.parity",
    # analysis
    "analyze_polynet": "analysis.fourier", "analyze_group_net": "analysis.irreps",
    "analyze_parity_net": "analysis.parity", "heads_sparsity": "analysis.attention",
    "progress_measures": "analysis.progress_measures",
    # training
    "TrainConfig": "training.config", "resolve_config": "training.config", "PRESETS": "training.presets",
    "RECIPES": "training.presets", "Trainer": "training.trainer",
    # runs
    "train": "runs.train", "load_run": "runs.checkpoints", "analyze_run": "runs.analyze",
}
__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'fourier_circuits' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"fourier_circuits.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
