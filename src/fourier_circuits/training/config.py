"""Training configuration: one flat dataclass in sections, validated section by section, and config files.

Resolution order (later wins): dataclass defaults < recipe < preset < config file < command-line overrides
(recipes and presets: `training.presets`). The stored form is the flat dict of `TrainConfig.to_dict()`
(config.json, the config hash and the run-directory names depend on it and do not change).
"""
from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: tomli is the package tomllib was taken from, with the same API
    import tomli as tomllib

from fourier_circuits.algebra.integers import MAX_POPULATION
from fourier_circuits.errors import ConfigError, TaskError
from fourier_circuits.tasks.registry import DEFAULT_MODEL, kind_of, kinds, task_names, task_of
from fourier_circuits.training.presets import PRESETS, RECIPE_DEFAULTS_BY_DEGREE, RECIPES
from fourier_circuits.training.resources import check_resources


@dataclass
class TrainConfig:
    """Everything that defines one training run: task, model, optimization and bookkeeping, in one flat record.

    Build it with `resolve_config` (defaults < recipe < preset < config file < overrides, validated) rather
    than directly: the recipe fills the optimization keys. Its `to_dict()` is the run's config.json, and its
    hash names the run directory. The symbols: p the modulus, k the number of inputs, m = `width`, ν the
    homogeneity degree (d + 1 for z^d), θ_i neuron i's parameters, γ* the maximum normalized margin.

    Args:
        task: The task kind: "modadd" (addition mod p), "group" (composition in a finite group) or "parity".
        p: modadd: the modulus, an odd prime (None for the other tasks).
        k: modadd and group: the number of inputs; parity: the support size |S|.
        group: group: the group's spec string, e.g. "S4", "D5", "C2xS3" (see `parse_group`).
        n: parity: the number of bits.
        support: parity: the hidden support S (None: a seeded choice).
        confirm_large: parity: allow n > 20; any task: allow a run above the resource guard's memory estimate.
        train_fraction: The share of the population trained on, in (0, 1]; 1.0 = the whole population (the
            theory's setting, no test set).
        split_seed: The seed of the train/test split (`train_test_split`).
        model: "polynet" (the one-hidden-layer net of the theory: PolyNet, or ParityNet for parity) or
            "transformer".
        width: The number of neurons m.
        activation: "poly" (z^d) or "relu".
        degree: The degree d of "poly" (None: k, the theorems' setting).
        init_scale: The scale of the Gaussian init (transformer: init std = init_scale / sqrt(d_model)).
        dtype: "float32" or "float64" for training (margins are always evaluated in float64).
        device: "auto" (CUDA when available), "cpu" or "cuda".
        n_layers: transformer: the number of blocks.
        n_heads: transformer: the heads per block.
        d_model: transformer: the residual-stream width.
        d_head: transformer: the width of each head.
        d_mlp: transformer: the MLP's hidden width (0 = attention-only).
        layer_norm: transformer: pre-LN LayerNorm.
        op_token: transformer: tokens [a_1, op, .., a_k, =]; False: [a_1, .., a_k, =] (Nanda et al.).
        recipe: The training recipe whose values fill the optimization keys: "fast" (default for the
            polynomial nets), "mo", "li", "tf" (default for transformers) or "tl" (`RECIPES`).
        objective: "softmin" (the smoothed normalized margin, ascended) or "ce" (cross-entropy).
        optimizer: "adam", "adamw" or "gd".
        lr: The learning rate (fast recipe: relative to the RMS parameter entry at unit norm).
        lr_schedule: "constant", "doubling" (doubled at each of `lr_doubling_steps`), "warmup" (linear warm-up
            over `warmup_steps`, then constant) or "linear" (warm-up then linear decay to 0).
        lr_doubling_steps: The steps at which the "doubling" schedule doubles the lr.
        warmup_steps: The length of the warm-up.
        betas: Adam's (β1, β2), each in [0, 1).
        weight_decay: AdamW's decoupled weight decay.
        regularizer: "none", "l2nu" (λ‖θ‖_{2,ν}^r added to the loss) or "l2" (λ‖θ‖_2²).
        lam: λ, the regularizer's weight.
        reg_power: r in λ‖θ‖_{2,ν}^r (None: ν).
        normalize: Project θ back to the unit ‖θ‖_{2,ν} sphere after every step (the fast recipe).
        tau_start: The softmin inverse temperature τ at the start, in units of the RMS logit s.
        tau_end: τ at the end: τ_t = τ_start (τ_end/τ_start)^{t/steps}.
        batch_size: Rows per step (None: the full batch).
        steps: The step cap.
        seed: The seed of the init (and of the batches).
        n_evals: The number of log-spaced metric rows (margin, accuracy, loss) recorded.
        n_checkpoints: The number of log-spaced parameter snapshots kept (for figures and progress measures).
        early_stop: Stop when the normalized margin has converged: positive and changed by at most
            converge_tol (relative) over the last quarter of the steps run (checked after a quarter of `steps`).
        converge_tol: The relative tolerance of `early_stop`.
        memory_budget_mb: The memory budget of one chunk of a pass, in MiB.
        reseed_below: fast recipe: re-seed neurons with ‖θ_i‖² < reseed_below × mean at 1/2 and 3/4 of the steps.
        polish_iters: fast recipe: L-BFGS iterations per polish stage after the Adam phase (0 = none).
        rebalance_rounds: fast recipe, modular addition: rounds of evening out neurons over the frequencies
            and training again.
    """

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
    model: str = "polynet"              # polynet (the two-layer net of the theory) or transformer
    width: int = 88
    activation: str = "poly"             # poly (z^d) or relu
    degree: int | None = None            # d; None = k
    init_scale: float = 1.0
    dtype: str = "float32"               # float32 or float64 (margins are always evaluated in float64)
    device: str = "auto"                 # auto, cpu, cuda
    # transformer (model = transformer; transformer.py): init std = init_scale / sqrt(d_model)
    n_layers: int = 1
    n_heads: int = 4
    d_model: int = 128
    d_head: int = 32
    d_mlp: int = 512                     # 0 = attention-only
    layer_norm: bool = False
    op_token: bool = True                # tokens [a_1, op, .., a_k, =]; False: [a_1, .., a_k, =] (Nanda et al.)
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
    # the fast recipe's end (training/refine.py); added after 0.1: hashed only when not at their default
    reseed_below: float = 0.0            # re-seed neurons with ‖θ_i‖² < this × mean, at 1/2 and 3/4 of steps
    polish_iters: int = 0                # L-BFGS iterations per polish stage after the Adam phase (0 = none)
    rebalance_rounds: int = 0            # modular addition: even out neurons over frequencies, train again (refine.py)

    def to_dict(self) -> dict:
        """The configuration as a plain dict.

        Returns:
            The flat dict of every field, as stored in a run's config.json (`TrainConfig(**d)` rebuilds it).
        """
        return dataclasses.asdict(self)

    def hashed_dict(self) -> dict:
        """to_dict() without the keys added after 0.1 that are at their defaults: the config hash (and so the
        run-directory name) of every configuration that existed before stays what it was.

        Returns:
            The dict the config hash is computed from.
        """
        defaults = {f.name: f.default for f in dataclasses.fields(self) if f.name in LATER_KEYS}
        return {k: v for k, v in self.to_dict().items() if k not in LATER_KEYS or v != defaults[k]}


LATER_KEYS = ("reseed_below", "polish_iters", "rebalance_rounds")


def choices() -> dict[str, tuple[str, ...]]:
    """The allowed values of every enumerated key (task and model kinds come from the task registry)."""
    model_kinds = tuple(name for name, kind in kinds().items() if not kind.is_task)
    return dict(task=task_names(), model=(DEFAULT_MODEL, *model_kinds), activation=("poly", "relu"),
                dtype=("float32", "float64"), device=("auto", "cpu", "cuda"), recipe=tuple(RECIPES),
                objective=("softmin", "ce"), optimizer=("adam", "adamw", "gd"),
                lr_schedule=("constant", "doubling", "warmup", "linear"), regularizer=("none", "l2nu", "l2"))


def read_toml(path: str | Path, what: str = "config file") -> dict:
    """Parse a TOML file; a missing or malformed one is a ConfigError naming the path."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} not found: {path}")
    try:
        return tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"malformed {what} {path}: {e}") from None


def load_config_file(path: str | Path) -> dict:
    """Read a TOML config file (flat keys of TrainConfig, or a [train] table); any other table is refused,
    so that its keys cannot silently override the run's (an [other] table's `width` once did)."""
    data = read_toml(path)
    flat = {}
    for key, value in data.items():
        if isinstance(value, dict) and key != "train":
            raise ConfigError(f"config file {path}: unknown table [{key}] (keys go at the top level or in [train])")
        flat.update(value if isinstance(value, dict) else {key: value})
    return flat


def resolve_config(preset: str | None = None, config_file: str | Path | None = None, **overrides) -> TrainConfig:
    """Build a validated `TrainConfig`: defaults < recipe < preset < config file < overrides (later wins).

    The recipe is the one named (in the preset, the file or the overrides), else the task's default (`fast`
    for the polynomial nets, `tf` for transformers); its values (`RECIPES`) fill the optimization keys that
    nothing later sets. Every value is checked before any work starts, including a memory estimate.

    Args:
        preset: A named paper run, e.g. "mo-modadd-quadratic" or "li-nn-k3" (`PRESETS`; `fourier-circuits
            presets` lists them).
        config_file: A TOML file of TrainConfig keys (flat, or in a [train] table).
        **overrides: TrainConfig fields, e.g. p=23, k=2, width=88; None values are ignored.

    Returns:
        The validated `TrainConfig`.

    Raises:
        ConfigError: On an unknown preset, recipe or key, a value of the wrong type or range, an invalid task
            (e.g. p not prime), a missing or malformed config file, or `device="cuda"` without CUDA.
        ResourceError: If the run cannot fit in memory (and `confirm_large` is not set).
    """
    values: dict = {}
    if preset is not None:
        if preset not in PRESETS:
            raise ConfigError(f"unknown preset {preset!r} (known: {', '.join(PRESETS)})")
        values.update(PRESETS[preset])
    if config_file is not None:
        values.update(load_config_file(config_file))
    values.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    for key in sorted(values, key=str):   # names and types first: the lookups below read these values
        if key not in known:
            raise ConfigError(f"unknown config key {key!r}")
        check_type(key, values[key])
    model = values.get("model", DEFAULT_MODEL)
    default_kind = kinds().get(model if model != DEFAULT_MODEL else values.get("task", "modadd"))
    recipe = values.get("recipe", default_kind.default_recipe if default_kind else "fast")
    if recipe not in RECIPES:
        raise ConfigError(f"unknown recipe {recipe!r} (known: {', '.join(RECIPES)})")
    merged = {"recipe": recipe, **RECIPES[recipe], **(PRESETS.get(preset, {}) if preset else {}), **values}
    if recipe in RECIPE_DEFAULTS_BY_DEGREE:  # the recipe's own step cap (and τ_end) for this degree
        given = {**(PRESETS.get(preset, {}) if preset else {}), **values}
        by_degree = RECIPE_DEFAULTS_BY_DEGREE[recipe](merged.get("degree") or merged.get("k", 2))
        merged.update({key: v for key, v in by_degree.items() if key not in given})
    task_kind = kinds().get(merged.get("task", "modadd"))
    if task_kind is not None and "p" not in task_kind.options:
        merged.setdefault("p", None)  # the modadd default p is meaningless for tasks that do not read it
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
    numbers = value if isinstance(value, list) else [value]
    for x in numbers:
        if isinstance(x, float) and not math.isfinite(x):
            raise ConfigError(f"{key} must be a finite number, got {key}={value!r}")
        if isinstance(x, int) and not isinstance(x, bool) and not -INT_LIMIT <= x < INT_LIMIT:
            raise ConfigError(f"{key} must fit in 64 bits (|{key}| < 2^63), got {key}={value!r}")


INT_LIMIT = 2**63   # every integer key is stored in 64 bits (SQLite index, torch, numpy)


# Each section's checks: (key, holds, what it must be). A failing one is reported as "<key> <why>, got ...".
def _task_checks(cfg: TrainConfig) -> list:
    return [("train_fraction", 0 < cfg.train_fraction <= 1, "must be in (0, 1]"),
            ("split_seed", cfg.split_seed >= 0, "must be >= 0")]


def _model_checks(cfg: TrainConfig) -> list:
    return [("width", cfg.width >= 1, "must be >= 1"),
            ("degree", cfg.degree is None or cfg.degree >= 1, "must be >= 1"),
            ("init_scale", cfg.init_scale > 0, "must be > 0"),
            ("n_layers", cfg.n_layers >= 1, "must be >= 1"), ("n_heads", cfg.n_heads >= 1, "must be >= 1"),
            ("d_model", cfg.d_model >= 1, "must be >= 1"), ("d_head", cfg.d_head >= 1, "must be >= 1"),
            ("d_mlp", cfg.d_mlp >= 0, "must be >= 0")]


def _optimization_checks(cfg: TrainConfig) -> list:
    return [
        ("lam", cfg.lam >= 0, "must be >= 0"),
        ("lr", cfg.lr > 0, "must be > 0"),
        ("steps", cfg.steps >= 1, "must be >= 1"),
        ("weight_decay", cfg.weight_decay >= 0, "must be >= 0"),
        ("batch_size", cfg.batch_size is None or cfg.batch_size >= 1, "must be >= 1"),
        ("tau_start", cfg.tau_start > 0, "must be > 0"),
        ("tau_end", cfg.tau_end > 0, "must be > 0"),
        ("reg_power", cfg.reg_power is None or cfg.reg_power > 0, "must be > 0"),
        ("warmup_steps", cfg.warmup_steps >= 0, "must be >= 0"),
        ("lr_doubling_steps", all(s >= 1 for s in cfg.lr_doubling_steps), "must be steps >= 1"),
        ("seed", cfg.seed >= 0, "must be >= 0 (and < 2^63)"),
    ]


def _bookkeeping_checks(cfg: TrainConfig) -> list:
    return [("n_evals", cfg.n_evals >= 1, "must be >= 1"),
            ("n_checkpoints", cfg.n_checkpoints >= 0, "must be >= 0"),
            ("converge_tol", cfg.converge_tol >= 0, "must be >= 0"),
            ("memory_budget_mb", cfg.memory_budget_mb >= 1, "must be >= 1"),
            ("reseed_below", 0 <= cfg.reseed_below < 1, "must be in [0, 1)"),
            ("polish_iters", cfg.polish_iters >= 0, "must be >= 0"),
            ("rebalance_rounds", cfg.rebalance_rounds >= 0, "must be >= 0")]


SECTIONS = (_task_checks, _model_checks, _optimization_checks, _bookkeeping_checks)


def validate(cfg: TrainConfig) -> None:
    """Check every value before any work starts; raise ConfigError naming the bad value.

    Order: enumerated keys, the task (its population), each section's ranges, the kind's own checks
    (`TaskKind.validate`), the optimizer's betas, the device, and last the resource guard (a run that cannot
    fit in memory is refused here, before any directory is written, unless confirm_large).
    """
    for key, allowed in choices().items():
        if getattr(cfg, key) not in allowed:
            raise ConfigError(f"{key} must be one of {', '.join(allowed)}, got {getattr(cfg, key)!r}")
    try:
        task = task_of(cfg)
    except TaskError as e:
        raise ConfigError(str(e)) from None
    for section in SECTIONS:
        for key, ok, why in section(cfg):
            if not ok:
                raise ConfigError(f"{key} {why}, got {key}={getattr(cfg, key)}")
    kind_of(cfg).validate(cfg)
    if len(cfg.betas) != 2 or not all(0 <= b < 1 for b in cfg.betas):
        raise ConfigError(f"betas must be two numbers in [0, 1), got betas={cfg.betas}")
    check_device(cfg.device)
    check_resources(cfg)
    if task.size > MAX_POPULATION:   # even with confirm_large: splits and indices are int32-safe
        raise ConfigError(f"the task has {task.size} examples (> 2^31): choose a smaller task")


def check_device(name: str) -> None:
    """--device cuda on a machine without CUDA is bad input (checked before anything is written)."""
    if name == "cuda":
        try:
            import torch
            available = torch.cuda.is_available()
        except ImportError:
            available = False
        if not available:
            raise ConfigError("device cuda requested but CUDA is not available on this machine "
                              "(use --device cpu or auto)")
