"""Finite group composition [MO] (docs/theory.md §1, §8) on the polynomial net z^k: the population, γ* (Theorem 9
at k = 2), the per-irrep construction and the irrep analysis.

G finite (an `algebra.groups.parse_group` spec), k ≥ 2 inputs (g_1..g_k) ∈ G^k as element indices, label
g_1·g_2·…·g_k (the Cayley table folded left to right; k = 2: table[a, b]). The dataset is all |G|^k tuples
in lexicographic order (g_1 slowest), so row r is the base-|G| expansion of r (k = 2: (r // |G|, r % |G|)),
as for ModularAddition's digits. Same interface as ModularAddition: vocab_size = n_classes = |G|.
For G = C_n (element i is the residue i, table (a+b) mod n) the population is ModularAddition(n, k)'s.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cached_property

from fourier_circuits.algebra.groups import Group, parse_group
from fourier_circuits.algebra.integers import population_exceeds
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
from fourier_circuits.tasks.solver_cache import remembered

MAX_K = 6  # the largest number of inputs a run may compose (validate); larger k is refused by name


@dataclass(frozen=True)
class GroupComposition:
    """Composition of k elements of a finite group G: label(g_1..g_k) = g_1·…·g_k, on all |G|^k tuples.

    Inputs are element indices (one-hot of length |G| in the network); vocab_size = n_classes = |G|.

    Args:
        spec: The group G as a spec string, e.g. "S4", "D5", "C2xS3", "perm:(0 1 2),(0 1)" (see `parse_group`).
        k: The number of inputs composed, k ≥ 2.

    Raises:
        TaskError: If the spec is not a string or does not parse, G is trivial, k < 2, or |G|^k > 2^63.
    """

    spec: str
    k: int = 2  # number of inputs

    name = "group"

    def __post_init__(self) -> None:
        if not isinstance(self.spec, str):
            raise TaskError(f"group spec must be a string, got {self.spec!r}")
        if not isinstance(self.k, int) or isinstance(self.k, bool) or self.k < 2:
            raise TaskError(f"task group composes k >= 2 elements, got k={self.k!r}")
        if self.group.order < 2:  # parses (TaskError on a bad spec) and caches the group
            raise TaskError(f"group {self.spec!r} is trivial (order 1): composition needs a group of order >= 2")
        if population_exceeds(self.group.order, self.k, 2**63):   # before |G|^k is ever computed
            raise TaskError(f"population |G|^k = {self.group.order}^{self.k} is too large (> 2^63 tuples)")

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
        """|D| = |G|^k."""
        return self.group.order ** self.k

    def inputs(self, device="cpu"):
        """The whole population D = G^k.

        Args:
            device: The torch device of the result.

        Returns:
            All |G|^k tuples of element indices (g_1..g_k), shape (|G|^k, k), int64, lexicographic (g_1 slowest).
        """
        import torch
        n = self.group.order
        r = torch.arange(self.size, device=device)
        powers = n ** torch.arange(self.k - 1, -1, -1, device=device)
        return (r[:, None] // powers) % n

    def labels_of(self, inputs):
        """The labels of some tuples, folding the Cayley table left to right.

        Args:
            inputs: (N, j) integer tensor of element indices (any number j ≥ 1 of positions).

        Returns:
            (N,) int64, the index of g_1·…·g_j for each row.
        """
        import torch
        table = torch.as_tensor(self.group.table, device=inputs.device)
        out = inputs[:, 0]
        for j in range(1, inputs.shape[1]):     # over the k positions, each step vectorized over the rows
            out = table[out, inputs[:, j]]
        return out

    def labels(self, device="cpu"):
        """g_1·…·g_k for every row of inputs(), shape (|G|^k,), int64 (k = 2: table.reshape(-1)).

        Built position by position without the inputs: the labels of the first j+1 positions, in
        lexicographic order, are table[L_j].reshape(-1) with L_1 = 0..|G|−1.

        Args:
            device: The torch device of the result.

        Returns:
            (|G|^k,) int64, in the row order of `inputs()`.
        """
        import torch
        table = torch.as_tensor(self.group.table, device=device)
        out = torch.arange(self.group.order, device=device)
        for _ in range(1, self.k):
            out = table[out].reshape(-1)
        return out

    def describe(self) -> str:
        """The task in words.

        Returns:
            A one-line description, e.g. "composition in S4 (order 24)".
        """
        inputs = "" if self.k == 2 else f"{self.k}-input "
        return f"{inputs}composition in {self.group.name} (order {self.group.order})"


def make_task(values) -> GroupComposition:
    if values.group is None:
        raise TaskError("task group needs --group (e.g. S4, D5, C2xS3)")
    return GroupComposition(values.group, int(values.k))


def solver_group(values) -> tuple[str, int]:
    """`solve` certifies γ* of this very task: (spec, k), validated."""
    task = make_task(values)
    return task.spec, task.k


def validate(cfg) -> None:
    if not 2 <= cfg.k <= MAX_K:
        raise ConfigError(f"task group composes 2 to {MAX_K} elements: k must be in [2, {MAX_K}], got k={cfg.k}")


def gamma_star_k(spec: str, k: int) -> float:
    """γ*(G, k) of the z^k net from the class LP of docs/theory.md §8 (`theory.solver.class_lp`; its agreement with
    the generic certificate and with a constructed network is tested in tests/theory/test_solver.py), solved
    once per run store (`tasks.solver_cache`)."""
    from fourier_circuits.theory.solver import class_lp
    return remembered(solver_key("group", spec, k), lambda: class_lp(spec, k)["gamma_star"])


def solver_key(kind: str, spec: str, k: int) -> str:
    """A file-name-safe cache key; a spec with other characters gets a hash of itself appended."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", spec)
    if safe != spec:
        safe += "-" + hashlib.sha1(spec.encode()).hexdigest()[:8]
    return f"{kind}-{safe}-k{k}"


def _closed_form(cfg) -> float | None:
    from fourier_circuits.theory.groups import theory_group
    return theory_group(cfg.group)["gamma_star"] if cfg.k == 2 else None


def gamma_star(cfg, model) -> float | None:
    """γ* of the z^k net (activation poly, degree k): [MO] Theorem 9 at k = 2 where it applies, else the
    §8 solver's value (S6, Q8, A4, every k ≥ 3); None for another activation or degree."""
    if cfg.activation != "poly" or (cfg.degree or cfg.k) != cfg.k:
        return None
    closed = _closed_form(cfg)
    return closed if closed is not None else gamma_star_k(cfg.group, cfg.k)


def gamma_star_source(cfg) -> str:
    return "closed_form" if _closed_form(cfg) is not None else "solver"


def theory(task: GroupComposition) -> dict:
    """theory_group (Theorem 9, k = 2); for k ≥ 3 also k and ν = k+1, γ* is `gamma_star_k` and min_width the
    width of `construct_group_k` (any irrep kind); the character-condition keys stay those of k = 2."""
    from fourier_circuits.theory.groups import construct_group_k_width, theory_group
    info = {"task": "group", "group": task.spec, **theory_group(task.group)}
    if task.k == 2:
        return info
    reason = (f"[MO] Theorem 9 covers k = 2; γ* of {task.k}-input composition is the class LP of docs/theory.md §8 "
              "(a conjecture, certified per group by `fourier-circuits solve`)")
    return {**info, "k": task.k, "nu": task.k + 1, "applies": False, "reason": reason,
            "gamma_star": gamma_star_k(task.spec, task.k), "gamma_star_source": "solver",
            "min_width": construct_group_k_width(task.group, task.k)}


def construct(task: GroupComposition):
    from fourier_circuits.theory.groups import construct_group, construct_group_k, optimal_masses_k, theory_group
    if task.k != 2:   # the per-irrep network with the LP-optimal irrep masses (docs/theory.md §8)
        gamma = gamma_star_k(task.spec, task.k)
        return (construct_group_k(task.group, task.k, optimal_masses_k(task.group, task.k)), gamma,
                task.inputs(), task.labels(), {"group": task.spec, "k": task.k})
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
    mask, figures = significant_neurons(run.model).numpy(), []
    if run.draws("max_irrep_power"):
        trained = [v for v, keep in zip(summary["max_irrep_power"], mask) if keep]
        figures += plot_max_power_hist(trained, init["max_irrep_power"] if init else None,
                                       run.fig_dir / "max_irrep_power", what="irrep")
    if run.draws("neurons_per_irrep"):
        names = summary["irrep_names"]
        figures += plot_neurons_per_irrep(names, [summary["observed_fraction_per_irrep"][n] for n in names],
                                          [summary["expected_fraction_per_irrep"][n] for n in names],
                                          run.fig_dir / "neurons_per_irrep")
    return summary, figures


KIND = TaskKind(
    name="group", make_task=make_task, build_model=build_polynet, gamma_star=gamma_star,
    run_label=lambda cfg: polynet_label(f"group-{cfg.group}" + ("" if cfg.k == 2 else f"-k{cfg.k}"), cfg, cfg.k),
    estimate=lambda cfg, task: polynet_estimate(cfg, task, task.k),
    analyze=analyze, theory=theory, construct=construct, validate=validate, options=("group", "k"),
    describe=lambda cfg: polynet_description(cfg.group if cfg.k == 2 else f"{cfg.group} k={cfg.k}", cfg),
    brief=("irrep_power_median", "irrep_power_min", "irreps_used", "trivial_irrep_neurons") + POLYNET_BRIEF,
    position=1, gamma_star_source=gamma_star_source, solver_group=solver_group,
)
