"""The `solve` answer for k-input composition in G (THEORY.md §8): the class LP's value and dual (upper bound,
class weights q, irreps and their mass) bracketed by an actual network built from the per-irrep construction
with the LP-optimal irrep masses (lower bound, float64 normalized margin of the network)."""
from __future__ import annotations

import time

from fourier_circuits.algebra.integers import is_prime
from fourier_circuits.algebra.representations import irreps
from fourier_circuits.theory.solver.lp import _group, class_lp

MEASURE_BUDGET = 2e11  # multiply-adds of one float64 margin pass (|G|^k rows × width × (k + |G|)) we measure


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


def best_network(group, k: int, lp: dict):
    """The construction reaching the LP value: construct_group_k with the LP-optimal masses (any k, every
    irrep kind); at k = 2 with all irreps real, also the dual-weighted construct_group blocks (which may flip
    an irrep's sign); the one with the larger closed-form margin."""
    from fourier_circuits.theory.groups import construct_group_k, construction_margin_k, optimal_masses_k
    masses = optimal_masses_k(group, k)
    candidates = [(construction_margin_k(group, k, masses), lambda: construct_group_k(group, k, masses))]
    if k == 2 and all(r.kind == "real" for r in irreps(group)):
        from fourier_circuits.theory.solver.certify import construct_from_duals
        candidates.append((None, lambda: construct_from_duals(group, lp)))
    return candidates


def solve_group(spec, k: int = 2) -> tuple[dict, object | None]:
    """(answer, network): the JSON-ready answer of `fourier-circuits solve` and the lower-bound network."""
    from fourier_circuits.theory.solver.certify import measured_margin
    start = time.perf_counter()
    group = _group(spec)
    lp = class_lp(group, k)
    upper = lp["gamma_star"]
    best, best_model, kind = None, None, None
    for closed, build in best_network(group, k, lp):
        model = build()
        cost = group.order ** k * model.width * (k + group.order)
        if cost <= MEASURE_BUDGET:
            value, how = measured_margin(model, group, k), "measured (float64, whole population)"
        elif closed is not None:
            value, how = closed, "closed-form margin of the construction (population too large to measure)"
        else:
            continue
        if best is None or value > best:
            best, best_model, kind = value, model, how
    gap = None if best is None else (upper - best) / upper
    certified = gap is not None and gap <= 1e-6
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
