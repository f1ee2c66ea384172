"""The task registry: every module of this package with a `KIND = TaskKind(...)` is a task kind.

`kind_of(cfg)` picks the kind of a configuration: the model's own kind when the model is not the default
polynomial net (the transformer), else the task's. Adding a task kind is one new module here.
"""
from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from types import SimpleNamespace

from fourier_circuits.errors import TaskError
from fourier_circuits.tasks.base import TaskKind

DEFAULT_MODEL = "polynet"
_NOT_KINDS = {"base", "registry", "split"}


@cache
def kinds() -> dict[str, TaskKind]:
    """name -> TaskKind, for every kind module of the package (found by name, imported once)."""
    import fourier_circuits.tasks as package
    found = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name not in _NOT_KINDS:
            kind = getattr(importlib.import_module(f"{package.__name__}.{info.name}"), "KIND", None)
            if isinstance(kind, TaskKind):
                found[kind.name] = kind
    return found


def task_names() -> tuple[str, ...]:
    """The values `task` can take (model kinds such as the transformer are chosen with `model`)."""
    chosen = sorted((k for k in kinds().values() if k.is_task), key=lambda k: (k.position, k.name))
    return tuple(k.name for k in chosen)


def task_kind(name: str) -> TaskKind:
    """The registered kind of a task: the hooks that build its population, model, γ* and analysis.

    Args:
        name: A task name: "modadd", "group" or "parity" (`task_names()`).

    Returns:
        The `TaskKind` (`tasks.base`), e.g. `task_kind("modadd").theory(task)`.

    Raises:
        TaskError: If the name is not a task.
    """
    if name not in task_names():
        raise TaskError(f"unknown task {name!r} (known: {', '.join(task_names())})")
    return kinds()[name]


def kind_of(cfg) -> TaskKind:
    """The kind that owns a run: cfg.model's when it is not the default polynomial net, else cfg.task's."""
    if cfg.model != DEFAULT_MODEL:
        return kinds()[cfg.model]
    return task_kind(cfg.task)


def task_values(p: int | None = None, k: int = 2, group: str | None = None, n: int | None = None,
                support: list[int] | None = None, confirm_large: bool = False) -> SimpleNamespace:
    """The task options of the CLI, as the object a kind's hooks read (like a TrainConfig's task section)."""
    return SimpleNamespace(p=p, k=k, group=group, n=n, support=support, confirm_large=confirm_large)


def make_task(name: str, **options):
    """Build a task from its CLI name and options, e.g. `make_task("group", group="S4")`.

    Args:
        name: "modadd", "group" or "parity".
        **options: The task's options, as the CLI's flags: p and k (modadd), group and k (group), n, k,
            support and confirm_large (parity).

    Returns:
        The population: a `ModularAddition`, `GroupComposition` or `SparseParity`.

    Raises:
        TaskError: If the name is not a task, an option it needs is missing, or a value is invalid.
    """
    return task_kind(name).make_task(task_values(**options))


def task_of(cfg):
    """The population of a TrainConfig."""
    return kind_of(cfg).make_task(cfg)
