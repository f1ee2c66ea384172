"""k-input modular addition [LI] (docs/theory.md §1) on the polynomial net z^k: the population, the net, γ*,
the explicit construction and the Fourier analysis.

Odd prime p, inputs a = (a_1..a_k) in Z_p^k, label (a_1 + .. + a_k) mod p. The dataset is all p^k tuples
in lexicographic order (a_1 is the slowest index), so row r of `inputs()` is the base-p expansion of r.
"""
from __future__ import annotations

from dataclasses import dataclass

from fourier_circuits.algebra.integers import check_modadd, is_prime  # noqa: F401  (is_prime: public here)
from fourier_circuits.errors import TaskError
from fourier_circuits.tasks.base import (
    POLYNET_BRIEF,
    RunView,
    TaskKind,
    polynet_description,
    polynet_estimate,
    polynet_label,
    top_neurons,
)


@dataclass(frozen=True)
class ModularAddition:
    """k-input modular addition over Z_p: label(a) = (a_1 + .. + a_k) mod p, on all p^k tuples.

    Args:
        p: The modulus, an odd prime (vocabulary and number of classes).
        k: The number of summands (inputs), k ≥ 2.

    Raises:
        TaskError: If p is not an odd prime, k < 2, or p^k > 2^31.
    """

    p: int
    k: int = 2

    name = "modadd"

    def __post_init__(self) -> None:
        check_modadd(self.p, self.k)

    @property
    def vocab_size(self) -> int:
        """Size of each one-hot input block (p)."""
        return self.p

    @property
    def n_classes(self) -> int:
        return self.p

    @property
    def size(self) -> int:
        """|D| = p^k."""
        return self.p**self.k

    def inputs(self, device="cpu"):
        """The whole population D = Z_p^k.

        Args:
            device: The torch device of the result.

        Returns:
            All p^k tuples, shape (p^k, k), int64, lexicographic (a_1 slowest): row r is the base-p expansion of r.
        """
        import torch
        r = torch.arange(self.size, device=device)
        powers = self.p ** torch.arange(self.k - 1, -1, -1, device=device)
        return (r[:, None] // powers) % self.p

    def labels_of(self, inputs):
        """The labels of some tuples.

        Args:
            inputs: (N, k) integer tensor of residues in 0..p−1.

        Returns:
            (N,) int64, (a_1 + .. + a_k) mod p.
        """
        return inputs.sum(dim=1) % self.p

    def labels(self, device="cpu"):
        """The labels of the whole population, in the row order of `inputs()`.

        Args:
            device: The torch device of the result.

        Returns:
            (p^k,) int64.
        """
        return self.labels_of(self.inputs(device))

    def describe(self) -> str:
        """The task in words.

        Returns:
            A one-line description, e.g. "2-input addition mod 23".
        """
        return f"{self.k}-input addition mod {self.p}"


def make_task(values) -> ModularAddition:
    if values.p is None:
        raise TaskError("task modadd needs --p (an odd prime)")
    return ModularAddition(p=int(values.p), k=int(values.k))


def solver_group(values) -> tuple[str, int]:
    """k-input addition mod n is composition in C_n; `solve` takes any modulus n ≥ 2, prime or composite."""
    if values.p is None or isinstance(values.p, bool) or not isinstance(values.p, int) or values.p < 2:
        raise TaskError(f"solve --task modadd needs --p, an integer >= 2 (prime or composite), got p={values.p}")
    if not isinstance(values.k, int) or values.k < 2:
        raise TaskError(f"k must be an integer >= 2, got k={values.k}")
    return f"C{values.p}", values.k


def build_polynet(cfg, task, device, dtype):
    """The net of docs/theory.md §2 on a one-hot task: k untied embeddings, z^d (d = degree or k) or ReLU."""
    from fourier_circuits.models.polynet import PolyNet
    return PolyNet(task.vocab_size, task.k, cfg.width, task.n_classes, cfg.activation, cfg.degree,
                   cfg.init_scale, cfg.seed, dtype, device)


def gamma_star(cfg, model) -> float | None:
    """[LI] Thm 4.1 for the z^k net (activation poly with degree k), else None."""
    from fourier_circuits.theory.modadd import gamma_star_modadd
    if cfg.activation != "poly" or (cfg.degree or cfg.k) != cfg.k:
        return None
    return gamma_star_modadd(cfg.p, cfg.k)


def theory(task: ModularAddition) -> dict:
    from fourier_circuits.theory.modadd import theory_modadd
    return theory_modadd(task.p, task.k)


def construct(task: ModularAddition):
    from fourier_circuits.theory.modadd import construct_modadd, gamma_star_modadd
    return (construct_modadd(task.p, task.k), gamma_star_modadd(task.p, task.k), task.inputs(), task.labels(),
            {"p": task.p, "k": task.k})


def analyze(run: RunView) -> tuple[dict, list]:
    """Per-neuron Fourier statistics (`fourier.analyze_polynet`), the same at step 0, and the neuron figures."""
    from fourier_circuits.analysis.fourier import (
        analyze_polynet,
        median,
        neuron_dominant_frequency,
        neuron_max_power,
        significant_neurons,
        statistic,
    )
    model = run.model
    summary = analyze_polynet(model)
    init_power = neuron_max_power(run.init_model) if run.init_model is not None else None
    if init_power is not None:  # as max_power_median: the midpoint median over significant neurons
        summary["max_power_median_init"] = statistic(init_power[significant_neurons(run.init_model)], median)
    link = margin_feature_link(run) if run.wants("margin_feature_link") else []   # a margin pass per checkpoint
    if link:
        summary["margin_feature_link"] = link
    if run.fig_dir is None:
        return summary, []
    from fourier_circuits.analysis.plots import plot_dominant_frequency_hist, plot_margin_feature_link, plot_max_power_hist, plot_neurons
    mask, figures = significant_neurons(model), []
    if run.draws("neurons"):
        figures += plot_neurons(model, top_neurons(model), run.fig_dir / "neurons")
    if run.draws("max_power"):
        figures += plot_max_power_hist(neuron_max_power(model)[mask], init_power, run.fig_dir / "max_power")
    if run.draws("dominant_frequency"):
        figures += plot_dominant_frequency_hist(neuron_dominant_frequency(model)[mask], model.vocab_size,
                                                run.fig_dir / "dominant_frequency")
    if link and run.draws("margin_feature_link"):
        figures += plot_margin_feature_link(link, run.fig_dir / "margin_feature_link")
    return summary, figures


def margin_feature_link(run: RunView) -> list[dict]:
    """Per saved checkpoint (step > 0): 1 − normalized margin/γ* (float64, whole population) and the share of
    significant neurons with max Fourier power ≥ 0.95 — the margin → feature link of [LI]. Empty without γ*
    or for a run that does not train on the whole population."""
    from fourier_circuits.analysis.fourier import neuron_max_power, significant_neurons
    from fourier_circuits.models.margins import normalized_margin
    gs = gamma_star(run.cfg, run.model)
    if gs is None or run.cfg.train_fraction < 1:
        return []
    inputs, labels = run.task.inputs(), run.task.labels()
    rows = []
    for step, model in run.checkpoints():
        if step == 0:
            continue
        power = neuron_max_power(model)[significant_neurons(model)]
        rows.append({"step": step, "margin_gap": 1 - normalized_margin(model, inputs, labels) / gs,
                     "single_frequency_share": float((power >= 0.95).double().mean())})
    return rows


KIND = TaskKind(
    name="modadd", make_task=make_task, build_model=build_polynet, gamma_star=gamma_star,
    run_label=lambda cfg: polynet_label(f"modadd-p{cfg.p}-k{cfg.k}", cfg, cfg.k),
    estimate=lambda cfg, task: polynet_estimate(cfg, task, task.k),
    analyze=analyze, theory=theory, construct=construct, options=("p", "k"),
    describe=lambda cfg: polynet_description(f"p={cfg.p} k={cfg.k}", cfg),
    brief=("max_power_median", "max_power_min", "frac_neurons_power_ge_095", "frequency_coverage") + POLYNET_BRIEF,
    position=0, solver_group=solver_group,
)
