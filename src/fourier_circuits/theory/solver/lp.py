"""The class linear program of docs/theory.md §8: γ*(G, k) from the character table alone.

    γ*(G, k) = k! ((k+1)|G|)^{-(k+1)/2} · min_q max_{R ≠ 1} c_R |λ_R(q)|,
    λ_R(q) = 1 − Σ_C q_C Re χ_R(C) / d_R,   c_R = D_R^{(1−k)/2},

q a distribution over the non-identity classes, invariant under C ↦ C⁻¹ (each class is pooled with its
inverse class into one variable; Re χ_R is the same on both), R over the complex irreps (one constraint
per real irrep: a complex pair R, R̄ gives the same row), d_R the complex dimension and D_R = d_R for
Frobenius–Schur indicator +1, 2 d_R otherwise. As an LP:

    minimize t   s.t.   ±c_R (1 − Σ_P q_P Re χ_R(P)/d_R) ≤ t  (every non-trivial R),  Σ q = 1,  q ≥ 0.

Its dual is a signed measure on the irreps (ρ_R^± ≥ 0, Σ = 1): the mass the optimal network puts on
neurons living in irrep R, with the sign of their output (max_ρ min_C Σ_R (ρ_R^+ − ρ_R^-) c_R λ_R(C)).
"""
from __future__ import annotations

import math
import time

import numpy as np
from scipy.optimize import linprog

from fourier_circuits.algebra.groups import Group, parse_group
from fourier_circuits.algebra.representations import character_table, irreps
from fourier_circuits.errors import TaskError

__all__ = ["class_lp", "class_lp_modadd", "lp_bound_for_q", "prefactor"]


def _group(spec) -> Group:
    if isinstance(spec, Group):
        return spec
    if isinstance(spec, str):
        return parse_group(spec)
    raise TaskError(f"group spec must be a string or a Group, got {spec!r}")


def prefactor(order: int, k: int) -> float:
    """k! ((k+1)|G|)^{-(k+1)/2}."""
    return math.factorial(k) * ((k + 1) * order) ** (-(k + 1) / 2)


def _lp_data(group: Group, k: int) -> dict:
    """The LP's coefficients: one row per non-trivial real irrep, one column per inverse-closed class pair."""
    if not isinstance(k, int) or k < 2:
        raise TaskError(f"k must be an integer >= 2, got k={k!r}")
    if group.order < 2:
        raise TaskError(f"{group.name}: the trivial group has no wrong class")
    t0 = time.perf_counter()
    ct = character_table(group)
    reps = irreps(group)
    t_chars = time.perf_counter() - t0
    classes = group.conjugacy_classes
    inv_class = group.class_of[group.inverses[group.class_representatives]]
    pools, seen = [], set()                       # pooled non-identity classes, each [C] or [C, C⁻¹]
    for c in range(1, len(classes)):
        if c in seen:
            continue
        pool = sorted({c, int(inv_class[c])})
        seen.update(pool)
        pools.append(pool)
    rows, names, real_idx = [], [], []
    for i in range(len(ct.values)):
        q = int(ct.real_index[i])
        if q in real_idx or reps[q].is_trivial:
            continue                                 # trivial, or the conjugate of a complex irrep already listed
        real_idx.append(q)
        rows.append(i)
        names.append(reps[q].name)
    d = ct.dims[rows].astype(float)
    ind = ct.indicators[rows]
    D = np.where(ind == 1, d, 2 * d)
    # Re χ is equal on C and C⁻¹, so the pooled coefficient is the representative's
    chi = ct.values[rows][:, [p[0] for p in pools]].real / d[:, None]     # (n_R, n_P): Re χ_R(P)/d_R
    return dict(group=group, k=k, pools=pools, names=names, dims=d.astype(int), real_dims=D.astype(int),
                kinds=[reps[q].kind for q in real_idx], c=D ** ((1 - k) / 2), chi=chi, t_chars=t_chars)


def lp_bound_for_q(group, k: int, q_classes) -> float:
    """The upper bound k!((k+1)|G|)^{-(k+1)/2} max_R c_R |λ_R(q)| on γ* for a given q (valid for any q).

    Args:
        group: G, a `Group` or a spec string.
        k: The number of inputs.
        q_classes: A distribution over all classes in `group.conjugacy_classes` order (entry 0, the identity
            class, must be 0), or a dict {representative label: weight}. q is symmetrized under C ↦ C⁻¹ first
            and normalized to sum 1.

    Returns:
        The upper bound as a float; `class_lp`'s q gives the smallest one, γ*.

    Raises:
        ValueError: If q is not a non-negative vector over the classes with q[identity] = 0.
    """
    group = _group(group)
    data = _lp_data(group, k)
    classes = group.conjugacy_classes
    if isinstance(q_classes, dict):
        full = np.zeros(len(classes))
        lab = {group.labels[c[0]]: i for i, c in enumerate(classes)}
        for key, v in q_classes.items():
            full[lab[key]] = v
    else:
        full = np.asarray(q_classes, dtype=float)
    if full.shape != (len(classes),) or abs(full[0]) > 1e-15 or (full < 0).any():
        raise ValueError("q must be a non-negative vector over the classes with q[identity] = 0")
    full = full / full.sum()
    qp = np.array([full[p].sum() for p in data["pools"]])
    lam = 1.0 - data["chi"] @ qp
    return prefactor(group.order, k) * float(np.max(data["c"] * np.abs(lam)))


def class_lp(group, k: int = 2, tight_tol: float = 1e-9) -> dict:
    """Solve the class LP of docs/theory.md §8 with HiGHS.

    Returns a dict with keys
      group, order, k, gamma_star (the LP value, prefactor included), min_max (the value without the
      prefactor), prefactor,
      q: {class representative label: q_C} over the non-identity classes (inverse-symmetric, sums to 1),
      q_pools: [(labels of the pooled classes, pooled weight)],
      irreps: [{name, dim (complex), real_dim (D_R), kind, c, lambda (λ_R(q*)), value (c|λ| with the
               prefactor), tight, dual (mass, normalized), dual_plus, dual_minus}],
      tight: names of the irreps attaining the max, duals: {name: mass} (nonzero dual weights, sum 1),
      status, timing: {characters_s, lp_s, total_s}.

    Args:
        group: G, a `Group` or a spec string.
        k: The number of inputs.
        tight_tol: The relative tolerance within which an irrep's term counts as attaining the max (`tight`).

    Returns:
        The dict described above; `gamma_star` is the upper bound on γ* that `solve_group` certifies.
    """
    t_start = time.perf_counter()
    group = _group(group)
    data = _lp_data(group, k)
    c, chi = data["c"], data["chi"]
    nR, nP = chi.shape
    pre = prefactor(group.order, k)
    t1 = time.perf_counter()
    # variables x = (q_1..q_nP, t); minimize t
    obj = np.zeros(nP + 1)
    obj[-1] = 1.0
    cq = c[:, None] * chi                                          # c_R Re χ_R(P)/d_R
    A_plus = np.hstack([-cq, -np.ones((nR, 1))])                   #  c_R λ_R ≤ t
    A_minus = np.hstack([cq, -np.ones((nR, 1))])                   # −c_R λ_R ≤ t
    A_ub = np.vstack([A_plus, A_minus])
    b_ub = np.concatenate([-c, c])
    A_eq = np.hstack([np.ones((1, nP)), np.zeros((1, 1))])
    res = linprog(obj, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=[1.0],
                  bounds=[(0, None)] * nP + [(None, None)], method="highs")
    if res.status != 0:
        raise RuntimeError(f"class LP for {group.name}, k={k} failed: {res.message}")
    t_lp = time.perf_counter() - t1
    qp = np.clip(res.x[:nP], 0.0, None)
    qp = qp / qp.sum()
    lam = 1.0 - chi @ qp
    vals = c * np.abs(lam)
    t_val = float(vals.max())                                     # = res.fun up to round-off
    mu = -np.asarray(res.ineqlin.marginals)                       # ≥ 0 for a minimization with ≤ rows
    mu_plus, mu_minus = np.clip(mu[:nR], 0, None), np.clip(mu[nR:], 0, None)
    total = (mu_plus + mu_minus).sum()
    mu_plus, mu_minus = mu_plus / total, mu_minus / total
    labels = group.labels
    classes = group.conjugacy_classes
    q = {}
    for pool, w in zip(data["pools"], qp):
        for cl in pool:
            q[labels[classes[cl][0]]] = float(w / len(pool))
    tight = vals >= t_val * (1 - tight_tol)
    rows = [dict(name=n, dim=int(dd), real_dim=int(DD), kind=kd, c=float(cc), **{"lambda": float(lm)},
                 value=float(pre * v), tight=bool(tt), dual=float(mp + mm), dual_plus=float(mp),
                 dual_minus=float(mm))
            for n, dd, DD, kd, cc, lm, v, tt, mp, mm in zip(
                data["names"], data["dims"], data["real_dims"], data["kinds"], c, lam, vals, tight,
                mu_plus, mu_minus)]
    return {
        "group": group.name, "order": group.order, "k": k, "gamma_star": pre * t_val, "min_max": t_val,
        "lp_objective": float(res.fun), "prefactor": pre, "q": q,
        "q_pools": [([labels[classes[cl][0]] for cl in pool], float(w)) for pool, w in zip(data["pools"], qp)],
        "irreps": rows, "tight": [r["name"] for r in rows if r["tight"]],
        "duals": {r["name"]: r["dual"] for r in rows if r["dual"] > 1e-12},
        "status": res.message,
        "timing": {"characters_s": data["t_chars"], "lp_s": t_lp, "total_s": time.perf_counter() - t_start},
    }


def class_lp_modadd(n: int, k: int = 2) -> dict:
    """class_lp for k-input addition mod n = the cyclic group C_n (any n ≥ 2, prime or composite)."""
    if not isinstance(n, int) or n < 2:
        raise TaskError(f"n must be an integer >= 2, got n={n!r}")
    return class_lp(parse_group(f"C{n}"), k)
