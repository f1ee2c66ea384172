"""(n,k) sparse parity [MO] (docs/theory.md §1) on the parity net (u·x)^k w: the population, γ* (Theorem 8), the
explicit construction and the support analysis.

All 2^n points x ∈ {±1}^n, hidden support S ⊂ {0..n−1} with |S| = k, target χ_S(x) = Π_{j∈S} x_j. The
network has 2 outputs and **output 0 is class +1**, so the integer label is 0 when χ_S(x) = +1 and 1 when
χ_S(x) = −1. Row r of `inputs()` is the binary expansion of r with coordinate 0 the most significant bit,
bit 0 ↦ +1 and bit 1 ↦ −1 (row 0 is all +1).
"""
from __future__ import annotations

from fourier_circuits.errors import ConfigError, TaskError
from fourier_circuits.tasks.base import (
    POLYNET_BRIEF,
    RunView,
    TaskKind,
    element_size,
    polynet_description,
    polynet_label,
    top_neurons,
)
from fourier_circuits.theory.parity import choose_support

MAX_PARITY_N = 20  # 2^20 points; larger n needs confirm_large=True


class SparseParity:
    """(n,k) sparse parity on all of {±1}^n; label 0 ⇔ χ_S(x) = Π_{j∈S} x_j = +1 (output 0 is class +1).

    Args:
        n: The number of ±1 input bits, n ≥ 1.
        k: The size of the hidden support S, 1 ≤ k ≤ n.
        support: The hidden set S, k distinct indices in 0..n−1; None draws it with
            `choose_support(n, k, seed)` (on first use of `support`).
        seed: The seed of that draw.
        confirm_large: Allow n > 20 (more than 2^20 points).

    Raises:
        TaskError: If n or k is not a positive integer, k > n, n > 20 without `confirm_large`, or `support`
            is not k distinct integers in 0..n−1.
    """

    name = "parity"
    n_classes = 2

    def __init__(self, n: int, k: int, support=None, seed: int = 0, confirm_large: bool = False) -> None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise TaskError(f"n must be an integer >= 1, got n={n!r}")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise TaskError(f"k must be an integer >= 1, got k={k!r}")
        if k > n:
            raise TaskError(f"k must be <= n, got k={k} > n={n}")
        if n > MAX_PARITY_N and not confirm_large:
            raise TaskError(f"n={n} gives 2^{n} points (> 2^{MAX_PARITY_N}); pass confirm_large=True to allow it")
        if support is not None:
            try:
                support = tuple(int(j) for j in support)
            except (TypeError, ValueError):
                raise TaskError(f"support must be a sequence of integers, got {support!r}") from None
            if len(set(support)) != len(support):
                raise TaskError(f"support must not repeat indices, got support={support}")
            if len(support) != k:
                raise TaskError(f"support must have k={k} indices, got {len(support)}: support={support}")
            bad = [j for j in support if not 0 <= j < n]
            if bad:
                raise TaskError(f"support indices must lie in 0..{n - 1}, got {bad}")
            support = tuple(sorted(support))
        self.n, self.k, self.seed, self._support = n, k, seed, support

    @property
    def support(self) -> tuple[int, ...]:
        """S; drawn on first use when not given (the draw needs torch, the `theory` answer does not)."""
        if self._support is None:
            self._support = choose_support(self.n, self.k, self.seed)
        return self._support

    @property
    def vocab_size(self) -> int:
        """Input dimension n (there is no one-hot vocabulary; kept for interface symmetry)."""
        return self.n

    @property
    def size(self) -> int:
        """|D| = 2^n."""
        return 2 ** self.n

    def inputs(self, device="cpu", dtype=None):
        """The whole population {±1}^n.

        Args:
            device: The torch device of the result.
            dtype: The torch dtype of the result (default float32).

        Returns:
            All 2^n points, shape (2^n, n): row r is the binary expansion of r, coordinate 0 the most significant
            bit, bit 0 ↦ +1 and bit 1 ↦ −1.
        """
        import torch
        dtype = torch.float32 if dtype is None else dtype
        r = torch.arange(self.size, device=device)
        shifts = torch.arange(self.n - 1, -1, -1, device=device)
        bits = (r[:, None] >> shifts) & 1
        return (1 - 2 * bits).to(dtype)

    def parity_of(self, inputs):
        """The parity of some points.

        Args:
            inputs: (N, n) tensor of ±1 values.

        Returns:
            (N,) χ_S(x) = Π_{j∈S} x_j ∈ {±1}, in the dtype of `inputs`.
        """
        return inputs[:, list(self.support)].prod(dim=1)

    def labels_of(self, inputs):
        """The integer labels of some points.

        Args:
            inputs: (N, n) tensor of ±1 values.

        Returns:
            (N,) int64: 0 where χ_S(x) = +1, 1 where χ_S(x) = −1.
        """
        import torch
        return (self.parity_of(inputs) < 0).to(torch.int64)

    def labels(self, device="cpu"):
        """The labels of the whole population, in the row order of `inputs()`.

        Args:
            device: The torch device of the result.

        Returns:
            (2^n,) int64.
        """
        return self.labels_of(self.inputs(device))

    def describe(self) -> str:
        """The task in words.

        Returns:
            A one-line description, e.g. "(10,4) sparse parity on support [1, 4, 5, 7]".
        """
        return f"({self.n},{self.k}) sparse parity on support {list(self.support)}"

    def __repr__(self) -> str:
        return f"SparseParity(n={self.n}, k={self.k}, support={self.support})"


def make_task(values) -> SparseParity:
    if values.n is None:
        raise TaskError("task parity needs --n (number of bits)")
    return SparseParity(int(values.n), int(values.k), support=values.support, confirm_large=values.confirm_large)


def validate(cfg) -> None:
    if cfg.activation != "poly":
        raise ConfigError(f"task parity uses the x^k net: activation must be poly, got {cfg.activation!r}")


def build_model(cfg, task, device, dtype):
    from fourier_circuits.models.parity import ParityNet
    return ParityNet(task.n, cfg.width, task.k, cfg.init_scale, cfg.seed, dtype, device)


def gamma_star(cfg, model) -> float:
    from fourier_circuits.theory.parity import gamma_star_parity
    return gamma_star_parity(cfg.n, cfg.k)


def estimate(cfg, task: SparseParity) -> dict[str, int]:
    """As `base.polynet_estimate`, with float inputs of length n and a (2^n, m) activation."""
    elem = element_size(cfg)
    rows = max(1, round(cfg.train_fraction * task.size))
    batch = min(rows, cfg.batch_size or rows)
    return {"population": task.size * (task.n * 4 + 8), "logits": 3 * batch * 2 * elem,
            "activations": 3 * batch * cfg.width * elem, "parameters": cfg.width * (task.n + 2) * (4 * elem + 8)}


def theory(task: SparseParity) -> dict:
    from fourier_circuits.theory.parity import theory_parity
    return {"task": "parity", "n": task.n, "k": task.k, **theory_parity(task.n, task.k)}


def construct(task: SparseParity):
    import torch

    from fourier_circuits.theory.parity import construct_parity, gamma_star_parity
    return (construct_parity(task.n, task.k, task.support), gamma_star_parity(task.n, task.k),
            task.inputs(dtype=torch.float64), task.labels(), {"n": task.n, "k": task.k, "support": list(task.support)})


def analyze(run: RunView) -> tuple[dict, list]:
    """Support fraction, balance and sign rule of every neuron (`analysis.parity`), and the neuron figure."""
    from fourier_circuits.analysis.parity import analyze_parity_net
    summary = analyze_parity_net(run.model, run.task)
    if run.init_model is not None:
        summary["support_fraction_median_init"] = analyze_parity_net(run.init_model, run.task)["support_fraction_median"]
    if not run.draws("parity_neurons"):
        return summary, []
    from fourier_circuits.analysis.plots import plot_parity_neurons
    top = top_neurons(run.model)
    figures = list(plot_parity_neurons(run.model.embed.detach().T[top], run.model.unembed.detach()[top],
                                       run.task.support, run.fig_dir / "parity_neurons"))
    return summary, figures


KIND = TaskKind(
    name="parity", make_task=make_task, build_model=build_model, gamma_star=gamma_star,
    run_label=lambda cfg: polynet_label(f"parity-n{cfg.n}-k{cfg.k}", cfg, cfg.k),
    estimate=estimate, analyze=analyze, theory=theory, construct=construct, validate=validate,
    options=("n", "k"), describe=lambda cfg: polynet_description(f"n={cfg.n} k={cfg.k}", cfg),
    brief=("support_fraction_median", "sign_rule_fraction", "balance_median") + POLYNET_BRIEF,
    position=2,
)
