"""The `solve` answer for k-input composition in G (docs/theory.md §8): the class LP's value and dual (upper bound,
class weights q, irreps and their mass) bracketed by an actual network built from the per-irrep construction
with the LP-optimal irrep masses (lower bound, float64 normalized margin of the network)."""
from __future__ import annotations

import time

from fourier_circuits.algebra.integers import is_prime
from fourier_circuits.algebra.representations import irreps
from fourier_circuits.errors import ResourceError
from fourier_circuits.theory.solver.lp import _group, class_lp

MEASURE_BUDGET = 2e11  # multiply-adds of one float64 margin pass (|G|^k rows × width × (k + |G|)) we measure
SPOT_CHECK_ROWS = 4096  # random rows that check a construction's left invariance (invariant_margin)


def _closed_form(group, k: int) -> float | None:
    """[LI] Thm 4.1 for C_p (p prime), [MO] Thm 9 at k = 2 where it applies; else None."""
    from fourier_circuits.theory.groups import theory_group
    from fourier_circuits.theory.modadd import gamma_star_modadd
    if group.family == "cyclic" and group.order >= 3 and is_prime(group.order):
        return gamma_star_modadd(group.order, k)
    if k == 2:
        return theory_group(group)["gamma_star"]
    return None


def li_formula(n: int, k: int) -> float:
    """2·k! / ((2k+2)^{(k+1)/2} (n−1) n^{(k−1)/2}): [LI] Thm 4.1's value, at any modulus n."""
    import math
    return 2 * math.factorial(k) / ((2 * k + 2) ** ((k + 1) / 2) * (n - 1) * n ** ((k - 1) / 2))


def network_bytes(group, k: int, masses: dict) -> int:
    """Peak bytes of building construct_group_k with `masses`: the float64 embedding (k, |G|, width), the
    matrix-element products it is expanded from, and the unembedding (width, |G|)."""
    from fourier_circuits.theory.groups import construct_group_k_width
    width = construct_group_k_width(group, k, masses)
    return 8 * width * group.order * (3 * k + 2)


def best_network(group, k: int, lp: dict, masses: dict):
    """The construction reaching the LP value: construct_group_k with the LP-optimal masses (any k, every
    irrep kind); at k = 2 with all irreps real, also the dual-weighted construct_group blocks (which may flip
    an irrep's sign); the one with the larger closed-form margin."""
    from fourier_circuits.theory.groups import construct_group_k, construction_margin_k
    candidates = [(construction_margin_k(group, k, masses), lambda: construct_group_k(group, k, masses))]
    if k == 2 and all(r.kind == "real" for r in irreps(group)):
        from fourier_circuits.theory.solver.certify import construct_from_duals
        candidates.append((None, lambda: construct_from_duals(group, lp)))
    return candidates


def invariant_margin(model, group, k: int, rows: int | None = None, seed: int = 0) -> float | None:
    """The float64 normalized margin of an irrep construction, measured on the |G|^{k−1} rows with x_1 = e.

    The constructions are left-invariant, f(h·x_1, x_2, ..)[h·c] = f(x_1, x_2, ..)[c], so every row's margin is
    the margin of a row with x_1 = e, and that subset's minimum is the whole population's. The invariance is
    checked, not assumed: `rows` random rows of G^k (default SPOT_CHECK_ROWS) must have no smaller margin
    (relative 1e−9); None when one does (the caller then falls back)."""
    import numpy as np
    import torch

    from fourier_circuits.models.margins import normalized_margin
    from fourier_circuits.theory.solver.certify import measured_margin
    from fourier_circuits.theory.solver.symmetric import products
    value = measured_margin(model, group, k, first_identity=True)
    rng = np.random.default_rng(seed)
    x = rng.integers(0, group.order, size=(rows or SPOT_CHECK_ROWS, k))
    y = products(group, x)
    sample = float(normalized_margin(model, torch.as_tensor(x), torch.as_tensor(y)))
    return value if sample >= value * (1 - 1e-9) else None


def solve_group(spec, k: int = 2, memory_limit: int | None = None) -> tuple[dict, object | None]:
    """γ* of k-input composition in any finite group G, bracketed by two bounds (docs/theory.md §8).

    The upper bound is the class LP's value (`class_lp`); the lower bound is the margin of an explicit network
    built from the irreps the LP uses, measured in float64. The answer is `certified` only when the two agree to
    1e−6 *and* the lower bound was measured: a closed-form margin of the construction certifies nothing.

    Args:
        spec: G, a spec string such as "A5" or "perm:(0 1 2 3 4),(1 2 4 3)" (see `parse_group`), or a `Group`.
        k: The number of inputs composed, k ≥ 2.
        memory_limit: Bytes the lower-bound network may take; None: no limit.

    Returns:
        (answer, network): the JSON-ready answer of `fourier-circuits solve` (`gamma_star`, `lower_bound`,
        `upper_bound`, `relative_gap`, `certified`, `lower_bound_kind`, `class_weights` q, `irreps_used`,
        `closed_form`, `width`, `seconds`, ...) and the lower-bound `PolyNet` (None if none could be evaluated).

    Raises:
        TaskError: If the spec does not parse or G is trivial.
        ResourceError: If the lower-bound network cannot be built within `memory_limit` (raised after the class
            LP, before the construction).
    """
    from fourier_circuits.theory.groups import optimal_masses_k
    from fourier_circuits.theory.solver.certify import measured_margin
    start = time.perf_counter()
    group = _group(spec)
    lp = class_lp(group, k)
    upper = lp["gamma_star"]
    masses = optimal_masses_k(group, k)
    if memory_limit is not None and (need := network_bytes(group, k, masses)) > memory_limit:
        raise ResourceError(
            f"solve {group.name}, k={k}: its lower-bound network needs about {need / 2**30:.1f} GB to build "
            f"but this machine has {memory_limit / 2**30:.1f} GB usable; lower k")
    best, best_model, kind = None, None, None
    for closed, build in best_network(group, k, lp, masses):
        model = build()
        cost = group.order ** k * model.width * (k + group.order)
        if cost <= MEASURE_BUDGET:
            value, how = measured_margin(model, group, k), "measured (float64, whole population)"
        elif cost / group.order <= MEASURE_BUDGET and (value := invariant_margin(model, group, k)) is not None:
            how = (f"measured (float64, the |G|^{k - 1} rows with x_1 = e: the construction is left-invariant; "
                   f"{SPOT_CHECK_ROWS} random rows of the whole population checked)")
        elif closed is not None:
            value, how = closed, "closed-form margin of the construction (population too large to measure)"
        else:
            continue
        if best is None or value > best:
            best, best_model, kind = value, model, how
    gap = None if best is None else (upper - best) / upper
    # a certificate needs a measured network: a closed-form margin of the construction certifies nothing by itself
    certified = gap is not None and gap <= 1e-6 and kind is not None and kind.startswith("measured")
    irrep_rows = [r for r in lp["irreps"] if r["dual"] > 1e-12]
    answer = {
        "task": "group", "group": group.name, "order": group.order, "k": k,
        "gamma_star": upper if certified else best, "lower_bound": best, "upper_bound": upper,
        "relative_gap": gap, "certified": certified, "lower_bound_kind": kind,
        "class_weights": lp["q"],
        "irreps_used": [{"name": r["name"], "mass": r["dual"], "kind": r["kind"], "real_dim": r["real_dim"],
                         "sign": "+" if r["dual_plus"] >= r["dual_minus"] else "-"} for r in irrep_rows],
        "closed_form": _closed_form(group, k),
        # [LI]'s formula evaluated at a composite modulus n (not a theorem there): does γ* still equal it?
        "li_formula_composite": (li_formula(group.order, k) if group.family == "cyclic" and not is_prime(group.order)
                                 else None),
        "width": None if best_model is None else best_model.width,
        "seconds": time.perf_counter() - start,
        "timing": lp["timing"],
    }
    return answer, best_model
