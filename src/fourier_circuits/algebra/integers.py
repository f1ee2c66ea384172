"""Integer facts the tasks and the theory share: primality and the k-input modular-addition parameters."""
from __future__ import annotations

from fourier_circuits.errors import TaskError

MAX_POPULATION = 2**31  # rows of a population indexed by int32-safe arithmetic

# Miller–Rabin with these bases is exact below 3.3e24 (Sorenson & Webster 2015); beyond, sympy's BPSW test.
_BASES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41)
_DETERMINISTIC_BELOW = 3_317_044_064_679_887_385_961_981


def is_prime(n: int) -> bool:
    """Primality in microseconds for any size: deterministic Miller–Rabin below 3.3e24, sympy.isprime above."""
    if n < 2:
        return False
    for q in _BASES:
        if n % q == 0:
            return n == q
    if n >= _DETERMINISTIC_BELOW:
        from sympy import isprime
        return bool(isprime(n))
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for a in _BASES:
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def population_exceeds(base: int, k: int, limit: int = MAX_POPULATION) -> bool:
    """base^k > limit, decided without computing a huge power (base >= 2, k >= 1)."""
    if k * (base.bit_length() - 1) > limit.bit_length():
        return True
    return base**k > limit


def check_modadd(p, k) -> None:
    """k-input addition mod p needs an odd prime p ≥ 3, an integer k ≥ 2 and p^k ≤ 2^31 tuples; the sizes
    are checked before primality, so a huge p is refused at once."""
    if isinstance(p, bool) or not isinstance(p, int) or p < 3:
        raise TaskError(f"p must be an odd prime >= 3, got p={p}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise TaskError(f"k must be an integer >= 2, got k={k}")
    if population_exceeds(p, k):
        raise TaskError(f"population p^k = {p}^{k} is too large (> 2^31 tuples): choose a smaller p or k")
    if not is_prime(p):
        raise TaskError(f"p must be prime, got p={p} (not prime)")
