"""Tasks: the whole population of an algebraic task as integer token tuples with labels.

k-input modular addition (THEORY.md §1): odd prime p, inputs a = (a_1..a_k) in Z_p^k,
label (a_1 + .. + a_k) mod p. The dataset is all p^k tuples in lexicographic order
(a_1 is the slowest index), so row r of `inputs()` is the base-p expansion of r.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from fourier_circuits.errors import TaskError


def is_prime(n: int) -> bool:
    if n < 2:
        return False
    i = 2
    while i * i <= n:
        if n % i == 0:
            return False
        i += 1
    return True


@dataclass(frozen=True)
class ModularAddition:
    """k-input modular addition over Z_p: label(a) = (a_1 + .. + a_k) mod p."""

    p: int
    k: int = 2

    name = "modadd"

    def __post_init__(self) -> None:
        if not isinstance(self.p, int) or self.p < 3:
            raise TaskError(f"p must be an odd prime >= 3, got p={self.p}")
        if not is_prime(self.p):
            raise TaskError(f"p must be prime, got p={self.p} (not prime)")
        if not isinstance(self.k, int) or self.k < 2:
            raise TaskError(f"k must be an integer >= 2, got k={self.k}")
        if self.p**self.k > 2**31:
            raise TaskError(f"population p^k = {self.p}^{self.k} is too large (> 2^31 tuples)")

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

    def inputs(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """All p^k tuples, shape (p^k, k), int64, lexicographic (a_1 slowest)."""
        r = torch.arange(self.size, device=device)
        powers = self.p ** torch.arange(self.k - 1, -1, -1, device=device)
        return (r[:, None] // powers) % self.p

    def labels_of(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs.sum(dim=1) % self.p

    def labels(self, device: torch.device | str = "cpu") -> torch.Tensor:
        return self.labels_of(self.inputs(device))

    def describe(self) -> str:
        return f"{self.k}-input addition mod {self.p}"


def make_task(name: str, p: int | None = None, k: int = 2, group: str | None = None, n: int | None = None,
              support: list[int] | None = None, confirm_large: bool = False):
    """Build a task from its CLI name: modadd (p, k), group (spec), parity (n, k, support)."""
    if name == "modadd":
        if p is None:
            raise TaskError("task modadd needs --p (an odd prime)")
        return ModularAddition(p=int(p), k=int(k))
    if name == "group":
        from fourier_circuits.tasks.group import GroupComposition
        if group is None:
            raise TaskError("task group needs --group (e.g. S4, D5, C2xS3)")
        return GroupComposition(group)
    if name == "parity":
        from fourier_circuits.tasks.group import SparseParity
        if n is None:
            raise TaskError("task parity needs --n (number of bits)")
        return SparseParity(int(n), int(k), support=support, confirm_large=confirm_large)
    raise TaskError(f"unknown task {name!r} (known: modadd, group, parity)")


def task_of(cfg) -> "ModularAddition":
    """The task described by a TrainConfig."""
    return make_task(cfg.task, p=cfg.p, k=cfg.k, group=cfg.group, n=cfg.n, support=cfg.support,
                     confirm_large=cfg.confirm_large)


def train_test_split(n: int, train_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random split of range(n): (train indices, test indices), both sorted.

    train_fraction = 1 trains on the whole population (the theory's setting) and leaves the test set empty.
    """
    if not 0.0 < train_fraction <= 1.0:
        raise TaskError(f"train_fraction must be in (0, 1], got {train_fraction}")
    n_train = max(1, round(train_fraction * n))
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=gen)
    return perm[:n_train].sort().values, perm[n_train:].sort().values
