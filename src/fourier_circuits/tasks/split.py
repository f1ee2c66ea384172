"""The train / test split of a population (seeded, stored with every run as split.npz)."""
from __future__ import annotations

from fourier_circuits.errors import TaskError


def train_test_split(n: int, train_fraction: float, seed: int):
    """Random split of range(n): (train indices, test indices), both sorted int64 tensors.

    train_fraction = 1 trains on the whole population (the theory's setting) and leaves the test set empty.

    Args:
        n: The population size |D| (e.g. p^k).
        train_fraction: The share in the training set, in (0, 1]; at least one row is kept.
        seed: The seed of the permutation.

    Returns:
        (train, test): sorted int64 index tensors partitioning range(n), len(train) = max(1, round(fraction·n)).

    Raises:
        TaskError: If train_fraction is not in (0, 1].
    """
    import torch
    if not 0.0 < train_fraction <= 1.0:
        raise TaskError(f"train_fraction must be in (0, 1], got {train_fraction}")
    n_train = max(1, round(train_fraction * n))
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=gen)
    return perm[:n_train].sort().values, perm[n_train:].sort().values
