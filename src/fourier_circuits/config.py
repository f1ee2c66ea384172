"""Training configuration: one flat dataclass, named recipes, paper presets, config files.

Resolution order (later wins): dataclass defaults < recipe < preset < config file < command-line overrides.

Recipes (how to train):
  fast  (default) normalized-margin ascent: parameters kept on the unit ‖θ‖_{2,ν} sphere, Adam on the
        smoothed margin −(s/τ)·log Σ_{x, c≠y} exp(−τ (F_y − F_c)/s) of the normalized logits F = f(θ)/‖θ‖^ν
        (s = RMS of F from the previous step), τ annealed geometrically, lr decayed linearly; stops when the
        normalized margin has converged. See README "The fast recipe".
  mo    [MO]: full-batch GD on cross-entropy + λ‖θ‖_{2,ν}^ν, λ = 1e−4, lr 0.05 doubled at steps 1k, 2k, .., 10k;
        init scale 10 (unstated in [MO]; at scale 1 GD barely moves in 3000 steps).
  li    [LI]: AdamW lr 5e−3, betas (0.9, 0.98), 10 warm-up steps, batch 1024, λ = 0.005 on ‖θ‖_{2,ν}^ν,
        50/50 train/test split.
"""
from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .tasks import TaskError, task_of


class ConfigError(ValueError):
    """Invalid configuration value; the CLI reports it on one line with exit code 2."""


@dataclass
class TrainConfig:
    # task
    task: str = "modadd"                 # modadd, group, parity
    p: int | None = 23                   # modadd: odd prime
    k: int = 2                           # modadd: number of inputs; parity: |S|
    group: str | None = None             # group: spec such as S4, D5, C2xS3
    n: int | None = None                 # parity: number of bits
    support: list[int] | None = None     # parity: S (None: seeded choice)
    confirm_large: bool = False          # parity: allow n > 20
    train_fraction: float = 1.0          # 1.0 = the whole population (the theory's setting)
    split_seed: int = 0
    # model
    model: str = "polynet"
    width: int = 88
    activation: str = "poly"             # poly (z^d) or relu
    degree: int | None = None            # d; None = k
    init_scale: float = 1.0
    dtype: str = "float32"               # float32 or float64 (margins are always evaluated in float64)
    device: str = "auto"                 # auto, cpu, cuda
    # optimization
    recipe: str = "fast"
    objective: str = "softmin"           # softmin (smoothed normalized margin) or ce (cross-entropy)
    optimizer: str = "adam"              # adam, adamw, gd
    lr: float = 0.03                     # fast recipe: relative to the RMS parameter entry at unit norm
    lr_schedule: str = "linear"          # constant, doubling, warmup, linear (warm-up then linear decay to 0)
    lr_doubling_steps: list[int] = field(default_factory=list)
    warmup_steps: int = 0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.99])
    weight_decay: float = 0.0            # AdamW decoupled weight decay
    regularizer: str = "none"            # none, l2nu (λ‖θ‖_{2,ν}^r), l2 (λ‖θ‖_2²)
    lam: float = 0.0
    reg_power: float | None = None       # r; None = ν
    normalize: bool = True               # project θ back to the unit ‖θ‖_{2,ν} sphere after every step
    tau_start: float = 1.0               # softmin inverse temperature, in units of the RMS logit s
    tau_end: float = 300.0
    batch_size: int | None = None        # None = full batch
    steps: int = 2000
    seed: int = 0
    # bookkeeping
    n_evals: int = 60                    # log-spaced metric rows
    n_checkpoints: int = 12              # log-spaced parameter snapshots
    early_stop: bool = True              # stop when the normalized margin has converged
    converge_tol: float = 1e-4
    memory_budget_mb: int = 512

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


RECIPES: dict[str, dict] = {
    "fast": {},
    "mo": dict(objective="ce", optimizer="gd", lr=0.05, lr_schedule="doubling",
               lr_doubling_steps=[1000 * i for i in range(1, 11)], regularizer="l2nu", lam=1e-4,
               normalize=False, steps=40000, early_stop=False, init_scale=10.0),
    "li": dict(objective="ce", optimizer="adamw", lr=5e-3, betas=[0.9, 0.98], lr_schedule="warmup",
               warmup_steps=10, batch_size=1024, regularizer="l2nu", lam=0.005, normalize=False,
               train_fraction=0.5, steps=20000, early_stop=False),
}

PRESETS: dict[str, dict] = {
    "mo-modadd-quadratic": dict(recipe="mo", p=71, k=2, width=500),
    "mo-modadd-relu": dict(recipe="mo", p=71, k=2, width=500, activation="relu", regularizer="l2"),
    "mo-parity-10-4": dict(recipe="mo", task="parity", n=10, k=4, p=None, width=40, lr=0.1, lr_schedule="constant",
                           lr_doubling_steps=[], lam=1e-3, steps=30000),
    "mo-s3": dict(recipe="mo", task="group", group="S3", p=None, width=30, lam=1e-7, steps=50000,
                  lr_doubling_steps=[200 * i for i in range(1, 14)] + [5000, 10000]),
    "mo-s4": dict(recipe="mo", task="group", group="S4", p=None, width=200, lam=1e-7, steps=50000,
                  lr_doubling_steps=[200 * i for i in range(1, 14)] + [5000, 10000]),  # [MO]: unstated; as S3
    "mo-s5": dict(recipe="mo", task="group", group="S5", p=None, width=2000, lam=1e-5, steps=75000, batch_size=1000,
                  lr_doubling_steps=[3000 * i for i in range(1, 9)]),
    "li-nn-k3": dict(recipe="li", p=97, k=3, width=1536),
    "li-nn-k4": dict(recipe="li", p=47, k=4, width=2944),
    "li-nn-k5": dict(recipe="li", p=23, k=5, width=5632),
}

CHOICES = dict(task=("modadd", "group", "parity"), model=("polynet",), activation=("poly", "relu"), dtype=("float32", "float64"),
               device=("auto", "cpu", "cuda"), recipe=tuple(RECIPES), objective=("softmin", "ce"),
               optimizer=("adam", "adamw", "gd"), lr_schedule=("constant", "doubling", "warmup", "linear"),
               regularizer=("none", "l2nu", "l2"))


def load_config_file(path: str | Path) -> dict:
    """Read a TOML config file (flat keys of TrainConfig, or a [train] table)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"malformed config file {path}: {e}") from None
    flat = {}
    for key, value in data.items():
        flat.update(value if isinstance(value, dict) else {key: value})
    return flat


def resolve_config(preset: str | None = None, config_file: str | Path | None = None, **overrides) -> TrainConfig:
    """defaults < recipe < preset < file < overrides (None overrides are ignored); validated."""
    values: dict = {}
    if preset is not None:
        if preset not in PRESETS:
            raise ConfigError(f"unknown preset {preset!r} (known: {', '.join(PRESETS)})")
        values.update(PRESETS[preset])
    if config_file is not None:
        values.update(load_config_file(config_file))
    values.update({k: v for k, v in overrides.items() if v is not None})
    recipe = values.get("recipe", "fast")
    if recipe not in RECIPES:
        raise ConfigError(f"unknown recipe {recipe!r} (known: {', '.join(RECIPES)})")
    merged = {**RECIPES[recipe], **(PRESETS.get(preset, {}) if preset else {}), **values}
    if merged.get("task", "modadd") != "modadd":
        merged.setdefault("p", None)  # the modadd default p is meaningless for other tasks
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(merged) - known)
    if unknown:
        raise ConfigError(f"unknown config key {unknown[0]!r}")
    for key, value in merged.items():
        check_type(key, value)
    cfg = TrainConfig(**merged)
    validate(cfg)
    return cfg


def check_type(key: str, value) -> None:
    """Check a value against the annotation of TrainConfig.<key> ("int", "float | None", "list[int]", ..)."""
    annotation = {f.name: f.type for f in dataclasses.fields(TrainConfig)}[key]
    options = [a.strip() for a in str(annotation).split("|")]
    checks = {
        "None": lambda v: v is None,
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "bool": lambda v: isinstance(v, bool),
        "str": lambda v: isinstance(v, str),
        "list[int]": lambda v: isinstance(v, list) and all(checks["int"](x) for x in v),
        "list[float]": lambda v: isinstance(v, list) and all(checks["float"](x) for x in v),
    }
    if not any(checks[o](value) for o in options):
        raise ConfigError(f"{key} must be of type {annotation}, got {key}={value!r}")


def validate(cfg: TrainConfig) -> None:
    """Check every value before any work starts; raise ConfigError naming the bad value."""
    for key, allowed in CHOICES.items():
        if getattr(cfg, key) not in allowed:
            raise ConfigError(f"{key} must be one of {', '.join(allowed)}, got {getattr(cfg, key)!r}")
    try:
        task_of(cfg)
    except TaskError as e:
        raise ConfigError(str(e)) from None
    checks = [
        ("width", cfg.width >= 1, "must be >= 1"),
        ("lam", cfg.lam >= 0, "must be >= 0"),
        ("lr", cfg.lr > 0, "must be > 0"),
        ("steps", cfg.steps >= 1, "must be >= 1"),
        ("weight_decay", cfg.weight_decay >= 0, "must be >= 0"),
        ("train_fraction", 0 < cfg.train_fraction <= 1, "must be in (0, 1]"),
        ("batch_size", cfg.batch_size is None or cfg.batch_size >= 1, "must be >= 1"),
        ("degree", cfg.degree is None or cfg.degree >= 1, "must be >= 1"),
        ("tau_start", cfg.tau_start > 0, "must be > 0"),
        ("tau_end", cfg.tau_end > 0, "must be > 0"),
        ("reg_power", cfg.reg_power is None or cfg.reg_power > 0, "must be > 0"),
        ("warmup_steps", cfg.warmup_steps >= 0, "must be >= 0"),
        ("n_evals", cfg.n_evals >= 1, "must be >= 1"),
        ("memory_budget_mb", cfg.memory_budget_mb >= 1, "must be >= 1"),
    ]
    for key, ok, why in checks:
        if not ok:
            raise ConfigError(f"{key} {why}, got {key}={getattr(cfg, key)}")
    if cfg.task == "group" and cfg.k != 2:
        raise ConfigError(f"task group composes two elements: k must be 2, got k={cfg.k}")
    if cfg.task == "parity" and cfg.activation != "poly":
        raise ConfigError(f"task parity uses the x^k net: activation must be poly, got {cfg.activation!r}")
    if len(cfg.betas) != 2 or not all(0 <= b < 1 for b in cfg.betas):
        raise ConfigError(f"betas must be two numbers in [0, 1), got betas={cfg.betas}")
