"""Group composition and sparse parity tasks (THEORY.md §1), mirroring `tasks.ModularAddition`.

Finite group composition [MO]: G finite (a `groups.parse_group` spec), inputs (a, b) ∈ G×G as element
indices, label a·b = table[a, b]. The dataset is all |G|² pairs in lexicographic order (a slowest), so
row r is (r // |G|, r % |G|). Same interface as ModularAddition: vocab_size = n_classes = |G|, k = 2.

(n,k) sparse parity [MO]: all 2^n points x ∈ {±1}^n, hidden support S ⊂ {0..n−1} with |S| = k, target
χ_S(x) = Π_{j∈S} x_j. The network has 2 outputs and **output 0 is class +1**, so the integer label is
0 when χ_S(x) = +1 and 1 when χ_S(x) = −1. Row r of `inputs()` is the binary expansion of r with
coordinate 0 the most significant bit, bit 0 ↦ +1 and bit 1 ↦ −1 (row 0 is all +1).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch

from fourier_circuits.algebra.groups import Group, parse_group
from fourier_circuits.errors import TaskError

MAX_PARITY_N = 20  # 2^20 points; larger n needs confirm_large=True


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

    def inputs(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """All |G|² pairs (a, b), shape (|G|², 2), int64, lexicographic (a slowest)."""
        n = self.group.order
        r = torch.arange(n * n, device=device)
        return torch.stack([r // n, r % n], dim=1)

    def labels_of(self, inputs: torch.Tensor) -> torch.Tensor:
        table = torch.as_tensor(self.group.table, device=inputs.device)
        return table[inputs[:, 0], inputs[:, 1]]

    def labels(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """table[a, b] for every row of inputs(), shape (|G|²,), int64."""
        return torch.as_tensor(self.group.table, device=device).reshape(-1).clone()

    def describe(self) -> str:
        return f"composition in {self.group.name} (order {self.group.order})"


def choose_support(n: int, k: int, seed: int = 0) -> tuple[int, ...]:
    """A seeded random k-subset of {0..n−1}, sorted."""
    gen = torch.Generator().manual_seed(seed)
    return tuple(sorted(int(j) for j in torch.randperm(n, generator=gen)[:k]))


class SparseParity:
    """(n,k) sparse parity on all of {±1}^n; label 0 ⇔ Π_{j∈S} x_j = +1 (output 0 is class +1).

    support: the hidden set S (k distinct indices in 0..n−1); None draws it with `choose_support(n, k, seed)`.
    n > 20 (more than 2^20 points) raises TaskError unless confirm_large=True.
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
        if support is None:
            support = choose_support(n, k, seed)
        else:
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
        self.n, self.k, self.seed, self.support = n, k, seed, support

    @property
    def vocab_size(self) -> int:
        """Input dimension n (there is no one-hot vocabulary; kept for interface symmetry)."""
        return self.n

    @property
    def size(self) -> int:
        """|D| = 2^n."""
        return 2 ** self.n

    def inputs(self, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """All 2^n points of {±1}^n, shape (2^n, n); coordinate 0 is the most significant bit, bit 1 ↦ −1."""
        r = torch.arange(self.size, device=device)
        shifts = torch.arange(self.n - 1, -1, -1, device=device)
        bits = (r[:, None] >> shifts) & 1
        return (1 - 2 * bits).to(dtype)

    def parity_of(self, inputs: torch.Tensor) -> torch.Tensor:
        """χ_S(x) = Π_{j∈S} x_j ∈ {±1}, shape (N,)."""
        return inputs[:, list(self.support)].prod(dim=1)

    def labels_of(self, inputs: torch.Tensor) -> torch.Tensor:
        """0 where χ_S(x) = +1, 1 where χ_S(x) = −1 (int64)."""
        return (self.parity_of(inputs) < 0).to(torch.int64)

    def labels(self, device: torch.device | str = "cpu") -> torch.Tensor:
        return self.labels_of(self.inputs(device))

    def describe(self) -> str:
        return f"({self.n},{self.k}) sparse parity on support {list(self.support)}"

    def __repr__(self) -> str:
        return f"SparseParity(n={self.n}, k={self.k}, support={self.support})"
