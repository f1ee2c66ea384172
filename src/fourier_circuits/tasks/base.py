"""What a task kind declares, in one place: `TaskKind`, and `RunView`, the run a kind's analysis reads.

A task kind is one module of this package with a module-level `KIND = TaskKind(...)`; `registry` finds it.
Everything the rest of the package needs to know about the kind goes through these hooks, so that no other
layer compares task or model names. The hooks import torch and the heavy layers inside their bodies: the
quick CLI answers (`theory`, bad input) need only `make_task` and `theory`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator


@dataclass
class RunView:
    """A stored run as a kind's `analyze` hook sees it (built by `runs.analyze`).

    fig_dir is None when no figures are wanted. `figures` is None for a full analysis (every key, and every
    figure the kind draws when fig_dir is set), or names the figures wanted (their file stems, e.g. "neurons")
    for a lean one (`reproduce`): then a costly key that only a figure needs is left out unless that figure is
    named (the transformer's progress measures, modadd's margin → feature link). checkpoints() yields (step, model) for every saved
    parameter snapshot, oldest first; train_idx holds the training rows of the population.
    """

    cfg: Any
    task: Any
    model: Any
    init_model: Any | None
    metrics: list[dict]
    fig_dir: Path | None
    train_idx: Any
    checkpoints: Callable[[], Iterator[tuple[int, Any]]]
    figures: frozenset[str] | None = None

    def wants(self, name: str) -> bool:
        """Whether the analysis computes what the figure `name` shows."""
        return self.figures is None or name in self.figures

    def draws(self, name: str) -> bool:
        """Whether the figure `name` is drawn."""
        return self.fig_dir is not None and self.wants(name)


def _identity_inputs(cfg, task, inputs):
    return inputs


def _no_checks(cfg) -> None:
    return None


@dataclass(frozen=True)
class TaskKind:
    """Everything about one kind of task (or, for the transformer, one model on a task).

    name          the `task` value of the config (or the `model` value, for a non-default model)
    make_task     values (an object with the config's task attributes) -> the population object
    validate      cfg -> None; kind-specific checks, raising ConfigError / TaskError
    build_model   (cfg, task, device, dtype) -> the network
    gamma_star    (cfg, model) -> γ* of this task and model where the theory gives it, else None
    run_label     cfg -> the run-directory name before "-s<seed>-<hash>"
    estimate      (cfg, task) -> {component: bytes} for the resource guard
    analyze       RunView -> (JSON-ready summary, figure paths)
    theory        task -> the `theory` command's answer; None when the kind has no theory
    construct     task -> (model, γ*, inputs, labels, where): the explicit max-margin network, or None
    encode_inputs (cfg, task, inputs) -> what the model reads (the transformer tokenizes)
    describe      cfg -> a short name of the run (claims in the report); brief: the keys `analyze` prints
    default_recipe the training recipe of a config that names none
    solver_group  values -> (group spec, k): the group whose k-input composition `solve` certifies
    options       the CLI options the kind reads; is_task: chosen with `task` (False: with `model`);
    position      its place in listings
    """

    name: str
    make_task: Callable
    build_model: Callable
    gamma_star: Callable
    run_label: Callable
    estimate: Callable
    analyze: Callable
    theory: Callable | None = None
    construct: Callable | None = None
    validate: Callable = _no_checks
    encode_inputs: Callable = _identity_inputs
    describe: Callable = lambda cfg: cfg.task        # cfg -> a short name in claims ("p=23 k=2 m=88 poly")
    gamma_star_source: Callable = lambda cfg: "closed_form"  # cfg -> where γ* comes from: closed_form | solver
    solver_group: Callable | None = None  # values -> (group spec, k) for `solve` (docs/theory.md §8); None: not covered
    brief: tuple[str, ...] = ()   # the analysis keys `analyze` prints without --json
    default_recipe: str = "fast"  # the training recipe when none is named
    options: tuple[str, ...] = field(default=())   # the CLI options this kind reads (for messages)
    is_task: bool = True    # False for a model kind chosen with `model` (the transformer), not with `task`
    position: int = 99      # place in listings and messages


POLYNET_BRIEF = ("n_significant", "normalized_margin", "margin_ratio")


def polynet_description(task_part: str, cfg) -> str:
    """`<task> m=<width> <poly|ReLU>`."""
    return f"{task_part} m={cfg.width} {'ReLU' if cfg.activation == 'relu' else 'poly'}"


def polynet_label(task_part: str, cfg, default_degree: int) -> str:
    """`<task>-m<width>-<d<degree>|relu>-<recipe>`: the naming shared by every polynomial-net task."""
    model = "relu" if cfg.activation == "relu" else f"d{cfg.degree or default_degree}"
    return f"{task_part}-m{cfg.width}-{model}-{cfg.recipe}"


def top_neurons(model, count: int = 4) -> list[int]:
    """The `count` neurons of largest ‖θ_i‖ (the ones the neuron figures show)."""
    import torch
    return torch.argsort(model.neuron_sq_norms().detach(), descending=True)[:count].tolist()


def element_size(cfg) -> int:
    return 8 if cfg.dtype == "float64" else 4


def polynet_estimate(cfg, task, n_inputs: int) -> dict[str, int]:
    """Bytes a polynomial-net run holds at once (docs/theory.md §2 net, `Trainer`'s full-batch step).

    population   the int64 inputs and labels of all |D| rows
    logits       the (batch, classes) logits plus the softmin weights and their gradient
    activations  one chunk of (rows, m) activations (×3 buffers), at most the memory budget, at least one row
    parameters   θ, its gradient, Adam's two moments, and the float64 copy used to measure margins
    """
    elem = element_size(cfg)
    train_rows = max(1, round(cfg.train_fraction * task.size))
    batch = min(train_rows, cfg.batch_size or train_rows)
    row_bytes = 3 * cfg.width * elem
    n_params = cfg.width * (n_inputs * task.vocab_size + task.n_classes)
    return {
        "population": task.size * (n_inputs + 1) * 8,
        "logits": 3 * batch * task.n_classes * elem,
        "activations": max(row_bytes, min(cfg.memory_budget_mb * 2**20, batch * row_bytes)),
        "parameters": n_params * (4 * elem + 8),
    }
