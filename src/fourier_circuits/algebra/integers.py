"""Integer facts the tasks and the theory share: primality and the k-input modular-addition parameters."""
from __future__ import annotations

from fourier_circuits.errors import TaskError

MAX_POPULATION = 2**31  # rows of a population indexed by int32-safe arithmetic


def is_prime(n: int) -> bool:
    if n < 2:
        return False
    i = 2
    while i * i <= n:
        if n % i == 0:
            return False
        i += 1
    return True


def check_modadd(p, k) -> None:
    """k-input addition mod p needs an odd prime p ≥ 3, an integer k ≥ 2 and p^k ≤ 2^31 tuples."""
    if not isinstance(p, int) or p < 3:
        raise TaskError(f"p must be an odd prime >= 3, got p={p}")
    if not is_prime(p):
        raise TaskError(f"p must be prime, got p={p} (not prime)")
    if not isinstance(k, int) or k < 2:
        raise TaskError(f"k must be an integer >= 2, got k={k}")
    if p**k > MAX_POPULATION:
        raise TaskError(f"population p^k = {p}^{k} is too large (> 2^31 tuples)")
