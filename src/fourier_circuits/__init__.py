"""fourier-circuits: margin maximization and Fourier / irrep features of networks on algebraic tasks."""
from fourier_circuits.training.config import PRESETS, RECIPES, ConfigError, TrainConfig, resolve_config
from fourier_circuits.analysis.fourier import analyze_polynet
from fourier_circuits.models.margins import evaluate_margins, l2nu_norm, normalized_margin
from fourier_circuits.models.polynet import PolyNet
from fourier_circuits.tasks.modadd import ModularAddition, TaskError
from fourier_circuits.theory.modadd import construct_modadd, gamma_star_modadd, min_width_modadd, theory_modadd
from fourier_circuits.training.trainer import DivergedError, load_run, train

__all__ = [
    "PRESETS", "RECIPES", "ConfigError", "TrainConfig", "resolve_config", "analyze_polynet", "evaluate_margins",
    "l2nu_norm", "normalized_margin", "PolyNet", "ModularAddition", "TaskError", "construct_modadd",
    "gamma_star_modadd", "min_width_modadd", "theory_modadd", "DivergedError", "load_run", "train",
]
__version__ = "0.1.0"
