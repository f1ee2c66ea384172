"""fourier-circuits: margin maximization and Fourier / irrep features of networks on algebraic tasks."""
from .config import PRESETS, RECIPES, ConfigError, TrainConfig, resolve_config
from .fourier import analyze_polynet
from .margins import evaluate_margins, l2nu_norm, normalized_margin
from .models import PolyNet
from .tasks import ModularAddition, TaskError
from .theory import construct_modadd, gamma_star_modadd, min_width_modadd, theory_modadd
from .train import DivergedError, load_run, train

__all__ = [
    "PRESETS", "RECIPES", "ConfigError", "TrainConfig", "resolve_config", "analyze_polynet", "evaluate_margins",
    "l2nu_norm", "normalized_margin", "PolyNet", "ModularAddition", "TaskError", "construct_modadd",
    "gamma_star_modadd", "min_width_modadd", "theory_modadd", "DivergedError", "load_run", "train",
]
__version__ = "0.1.0"
