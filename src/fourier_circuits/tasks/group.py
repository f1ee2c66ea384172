"""Finite group composition [MO] (THEORY.md §1) on the quadratic net: the population, γ* (Theorem 9), the
per-irrep construction and the irrep analysis.

G finite (an `algebra.groups.parse_group` spec), inputs (a, b) ∈ G×G as element indices, label
a·b = table[a, b]. The dataset is all |G|² pairs in lexicographic order (a slowest), so row r is
(r // |G|, r % |G|). Same interface as ModularAddition: vocab_size = n_classes = |G|, k = 2.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from fourier_circuits.algebra.groups import Group, parse_group
from fourier_circuits.errors import ConfigError, TaskError
from fourier_circuits.tasks.base import (
    POLYNET_BRIEF,
    RunView,
    TaskKind,
    polynet_description,
    polynet_estimate,
    polynet_label,
)
from fourier_circuits.tasks.modadd import build_polynet


@dataclass(frozen=True)
class GroupComposition:
    """Composition in a finite group G: label(a, b) = a·b, inputs one-hot of length |G| each."""

    spec: str

    name = "group"
    k = 2  # number of inputs

    def __post_init__(self) -> None:
        if not isinstance(self.spec, str):
            raise TaskError(f"group spec must be a string, got {self.spec!r}")
        self.group  # parse (raises TaskError on a bad spec) and cache  # noqa: B018

    @cached_property
    def group(self) -> Group:
        return parse_group(self.spec)

    @property
    def order(self) -> int:
        """|G|."""
        return self.group.order

    @property
    def vocab_size(self) -> int:
        """Size of each one-hot input block (|G|)."""
        return self.group.order

    @property
    def n_classes(self) -> int:
        return self.group.order

    @property
    def size(self) -> int:
        """|D| = |G|²."""
        return self.group.order ** 2

    def inputs(self, device="cpu"):
        """All |G|² pairs (a, b), shape (|G|², 2), int64, lexicographic (a slowest)."""
        import torch
        n = self.group.order
        r = torch.arange(n * n, device=device)
        return torch.stack([r // n, r % n], dim=1)

    def labels_of(self, inputs):
        import torch
        table = torch.as_tensor(self.group.table, device=inputs.device)
        return table[inputs[:, 0], inputs[:, 1]]

    def labels(self, device="cpu"):
        """table[a, b] for every row of inputs(), shape (|G|²,), int64."""
        import torch
        return torch.as_tensor(self.group.table, device=device).reshape(-1).clone()

    def describe(self) -> str:
        return f"composition in {self.group.name} (order {self.group.order})"


def make_task(values) -> GroupComposition:
    if values.group is None:
        raise TaskError("task group needs --group (e.g. S4, D5, C2xS3)")
    return GroupComposition(values.group)


def validate(cfg) -> None:
    if cfg.k != 2:
        raise ConfigError(f"task group composes two elements: k must be 2, got k={cfg.k}")


def gamma_star(cfg, model) -> float | None:
    """[MO] Theorem 9 for the quadratic net, where it applies (None otherwise, e.g. S6)."""
    from fourier_circuits.theory.groups import theory_group
    if cfg.activation != "poly" or (cfg.degree or 2) != 2:
        return None
    return theory_group(cfg.group)["gamma_star"]


def theory(task: GroupComposition) -> dict:
    from fourier_circuits.theory.groups import theory_group
    return {"task": "group", "group": task.spec, **theory_group(task.group)}


def construct(task: GroupComposition):
    from fourier_circuits.theory.groups import construct_group, theory_group
    info = theory_group(task.group)
    if not info["applies"]:
        raise TaskError(f"no explicit max-margin construction for {task.spec}: {info['reason']}")
    return construct_group(task.group), info["gamma_star"], task.inputs(), task.labels(), {"group": task.spec}


def analyze(run: RunView) -> tuple[dict, list]:
    """Irrep power of every neuron (`irreps.analyze_group_net`), the same at step 0, and the figures."""
    from fourier_circuits.analysis.fourier import significant_neurons
    from fourier_circuits.analysis.irreps import analyze_group_net
    summary = analyze_group_net(run.model, run.cfg.group)
    init = analyze_group_net(run.init_model, run.cfg.group) if run.init_model is not None else None
    if init is not None:
        summary["irrep_power_median_init"] = init["irrep_power_median"]
    if run.fig_dir is None:
        return summary, []
    from fourier_circuits.analysis.plots import plot_max_power_hist, plot_neurons_per_irrep
    mask = significant_neurons(run.model).numpy()
    trained = [v for v, keep in zip(summary["max_irrep_power"], mask) if keep]
    figures = list(plot_max_power_hist(trained, init["max_irrep_power"] if init else None,
                                       run.fig_dir / "max_irrep_power", what="irrep"))
    names = summary["irrep_names"]
    figures += plot_neurons_per_irrep(names, [summary["observed_fraction_per_irrep"][n] for n in names],
                                      [summary["expected_fraction_per_irrep"][n] for n in names],
                                      run.fig_dir / "neurons_per_irrep")
    return summary, figures


KIND = TaskKind(
    name="group", make_task=make_task, build_model=build_polynet, gamma_star=gamma_star,
    run_label=lambda cfg: polynet_label(f"group-{cfg.group}", cfg, 2),
    estimate=lambda cfg, task: polynet_estimate(cfg, task, task.k),
    analyze=analyze, theory=theory, construct=construct, validate=validate, options=("group",),
    describe=lambda cfg: polynet_description(cfg.group, cfg),
    brief=("irrep_power_median", "irrep_power_min", "irreps_used", "trivial_irrep_neurons") + POLYNET_BRIEF,
    position=1,
)
