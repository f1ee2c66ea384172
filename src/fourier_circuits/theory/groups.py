"""Finite-group theory (docs/theory.md §4, §6, §8): [MO] Theorem 9, the explicit per-irrep construction, and its
k-input generalization (`construct_group_k`, its closed-form margin and the LP-optimal irrep masses).

Finite group G [MO Thm 9], quadratic net (u[a] + v[b])² w[c], ν = 3, m ≥ 2 Σ_{n≥2} d_n³, provided every
irrep is of real type and Σ_{n≥2} d_n^{1.5} χ_n(C) < 0 for every non-identity conjugacy class C:
    γ* = 2 / (3 sqrt(3|G|)) · 1 / Σ_{n≥2} d_n^{2.5}      (sums over the non-trivial irreps).
Where the hypotheses fail the formula is not reported (gamma_star None, with the reason).
"""
from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING

import numpy as np

from fourier_circuits.algebra.groups import Group, parse_group
from fourier_circuits.algebra.representations import character_condition, irreps
from fourier_circuits.errors import TaskError

if TYPE_CHECKING:  # torch is imported where a network is built: the formulas answer without it
    import torch

    from fourier_circuits.models.polynet import PolyNet


def _group(spec: str | Group) -> Group:
    if not isinstance(spec, (str, Group)):
        raise TaskError(f"group spec must be a string, got {spec!r}")
    group = parse_group(spec) if isinstance(spec, str) else spec
    if group.order < 2:
        raise TaskError(f"group {group.name} is trivial (order 1): its composition task has no margin to maximize")
    return group


def theory_group(spec) -> dict:
    """[MO] Theorem 9 for the quadratic group net on G (a spec string or a Group).

    Keys: task, group, order, irrep_names, irrep_dims (real dims, trivial first), irrep_kinds, nu (3),
    applies, reason (None when it applies), gamma_star (None unless applies), min_width
    (2 Σ_{non-trivial} d³, the width of `construct_group`; None unless all irreps are real),
    character_sums (S(C) = Σ_{n≥2} d_n^{1.5} χ_n(C) per class, identity class first), failing_classes
    (representatives of the non-identity classes with S(C) ≥ 0, as readable labels).

    Args:
        spec: The group G, a spec string such as "S4", "D7", "C3xC3" (see `parse_group`) or a `Group`.

    Returns:
        The dict described above; `gamma_star` = 2 / (3 sqrt(3|G|)) / Σ_{n≥2} d_n^{2.5} when `applies`.
        For γ* where the theorem does not apply, use `fourier_circuits.theory.solver.answer.solve_group`.

    Raises:
        TaskError: If the spec is not a string or Group, names no known group, or G is trivial.
    """
    group = _group(spec)
    reps = irreps(group)
    cond = character_condition(group)
    nontrivial = [r for r in reps if not r.is_trivial]
    non_real = [r for r in reps if r.kind != "real"]
    failing = [group.labels[group.conjugacy_classes[c][0]] for c in cond.failing_classes]
    reasons = []
    if non_real:
        reasons.append("not all irreps are of real type: " + ", ".join(
            f"{r.name} (dim {r.dim}, {r.kind})" for r in non_real))
    if cond.failing_classes:
        reasons.append("character condition Σ_{n≥2} d_n^1.5 χ_n(C) < 0 fails for conjugacy class(es) " + ", ".join(
            f"of {group.labels[group.conjugacy_classes[c][0]]} (size {len(group.conjugacy_classes[c])}, "
            f"sum {cond.sums[c]:+.6g})" for c in cond.failing_classes))
    applies = not reasons
    all_real = not non_real
    gamma = None
    if applies:
        total = sum(r.dim ** 2.5 for r in nontrivial)
        gamma = 2.0 / (3.0 * math.sqrt(3.0 * group.order)) / total
    return {
        "task": "group", "group": group.name, "order": group.order,
        "irrep_names": [r.name for r in reps], "irrep_dims": [r.dim for r in reps],
        "irrep_kinds": [r.kind for r in reps], "nu": 3, "applies": applies,
        "reason": None if applies else "[MO] Theorem 9 does not apply to " + group.name + ": " + "; ".join(reasons),
        "gamma_star": gamma,
        "min_width": 2 * sum(r.dim ** 3 for r in nontrivial) if all_real else None,
        "character_sums": [float(s) for s in cond.sums], "failing_classes": failing,
    }


def gamma_star_group(spec) -> float | None:
    return theory_group(spec)["gamma_star"]


def construct_group(spec, dtype: torch.dtype | None = None) -> PolyNet:
    """The group net of docs/theory.md §6 as a PolyNet (k = 2 inputs, degree 2), m = 2 Σ_{R≠1} d_R³.

    For each non-trivial real irrep R (d = d_R) and (i, j, l) ∈ [d]³ two neurons
        u = s R(·)_ij,  v = ±s R(·)_jl,  w = ±s R(·)_il,   s = d^{1/3},
    whose sum is (u+v)² w − (u−v)² w = 4 s³ R_ij(a) R_jl(b) R_il(c). Summed over i, j, l this is
    4 d tr(R(a)R(b)R(c)^T) = 4 d χ_R(a b c^{-1}) (R orthogonal), and over R ≠ 1 (Σ_R d_R χ_R = |G| δ_e)
        f(a, b)[c] = 4 (|G| 1[c = ab] − 1):
    every wrong class ties, every point has margin 4|G|. Schur orthogonality gives ‖R_ij‖² = |G|/d, so
    ‖u‖ = ‖v‖ = ‖w‖ (already balanced: no rebalancing needed), ‖θ_i‖² = 3|G| d^{−1/3} and
    ‖θ‖_{2,3}³ = 2 (3|G|)^{1.5} Σ_R d_R^{2.5}; the normalized margin is exactly the Theorem 9 value
    2/(3 sqrt(3|G|)) / Σ_R d_R^{2.5}. This holds for any G whose irreps are all real; it is the maximum
    only where `theory_group(G)["applies"]` (e.g. not for S6, where the character condition fails).

    Args:
        spec: The group G, a spec string such as "S4" (see `parse_group`) or a `Group`.
        dtype: The torch dtype of the weights (default float64).

    Returns:
        A `PolyNet` with k = 2 inputs, vocabulary and classes |G|, activation z² and m = 2 Σ_{R≠1} d_R³ neurons.

    Raises:
        TaskError: If some irrep is not of real type (C_n, n ≥ 3; A4; Q8; ...), the spec names no known group,
            or G is trivial.
    """
    import torch

    from fourier_circuits.models.polynet import PolyNet
    dtype = torch.float64 if dtype is None else dtype
    group = _group(spec)
    reps = irreps(group)
    non_real = [r for r in reps if r.kind != "real"]
    if non_real:
        raise TaskError(f"construct_group needs all irreps of real type; {group.name} has "
                        + ", ".join(f"{r.name} ({r.kind})" for r in non_real))
    embeds, unembeds = [], []
    for r in reps:
        if r.is_trivial:
            continue
        d = r.dim
        mats = torch.as_tensor(r.matrices, dtype=torch.float64)             # (N, d, d)
        i, j, l = (t.reshape(-1) for t in torch.meshgrid(*(torch.arange(d),) * 3, indexing="ij"))
        s = d ** (1.0 / 3.0)
        u, v, w = s * mats[:, i, j], s * mats[:, j, l], s * mats[:, i, l]    # (N, d³) each
        for sign in (1.0, -1.0):
            embeds.append(torch.stack([u, sign * v]))                       # (2, N, d³)
            unembeds.append((sign * w).T)                                   # (d³, N)
    embed = torch.cat(embeds, dim=2)
    unembed = torch.cat(unembeds, dim=0)
    return PolyNet.from_weights(embed.to(dtype), unembed.to(dtype), "poly", 2)


def construction_logits_group(spec) -> np.ndarray:
    """The logits the construction should produce, 4(|G| 1[c = ab] − 1), shape (|G|², |G|) (for checks)."""
    group = _group(spec)
    n = group.order
    out = -4.0 * np.ones((n * n, n))
    out[np.arange(n * n), group.table.reshape(-1)] += 4.0 * n
    return out


# ------------------------------------------------------------------------------------- k-input composition
#
# docs/theory.md §8: k inputs, label g_1⋯g_k, the z^k net. For an orthogonal representation R (any kind: the real
# D_R-dimensional realization of a complex / quaternionic irrep is orthogonal too) and c the output class,
#     tr(R(g_1)⋯R(g_k) R(c)ᵀ) = χ_R(g_1⋯g_k c⁻¹) = Σ_{i_0..i_k} R_{i0 i1}(g_1)⋯R_{i_{k−1} i_k}(g_k) R_{i0 i_k}(c),
# and with the weights w_R = span_dim/D_R (d_R for real type, d_R = D_R/2 for complex, D_R/4 for quaternionic:
# the multiplicity of the complex constituents in R ⊗ C) Σ_R w_R χ_R = |G| δ_e (Plancherel over complex irreps).


def _weight(r) -> float:
    """w_R = span_dim / D_R: Σ_R w_R χ_R(g) = |G| δ_e (w_R = d_R for a real-type irrep)."""
    return r.span_dim / r.dim


def _masses(group: Group, masses: dict | None) -> list[tuple[object, float]]:
    """(irrep, m_R) for every irrep of positive mass; default m_R = 1 for every non-trivial irrep."""
    reps = irreps(group)
    if masses is None:
        return [(r, 1.0) for r in reps if not r.is_trivial]
    names = {r.name for r in reps}
    unknown = sorted(set(masses) - names)
    if unknown:
        raise TaskError(f"unknown irrep {unknown[0]!r} of {group.name} (irreps: {', '.join(r.name for r in reps)})")
    bad = [n for n, m in masses.items() if not (isinstance(m, (int, float)) and math.isfinite(m) and m >= 0)]
    if bad:
        raise TaskError(f"irrep mass must be a finite number >= 0, got {bad[0]}={masses[bad[0]]!r}")
    out = [(r, float(masses[r.name])) for r in reps if masses.get(r.name, 0) > 0]
    if not out:
        raise TaskError(f"irrep masses of {group.name} are all zero")
    return out


def _check_k(k) -> None:
    if not isinstance(k, int) or isinstance(k, bool) or k < 2:
        raise TaskError(f"k-input composition needs k >= 2, got k={k!r}")


def construct_group_k_width(spec, k: int, masses: dict | None = None) -> int:
    """Width of `construct_group_k`: 2^{k−1} Σ_R D_R^{k+1} over the irreps of positive mass (default: all
    non-trivial). k = 2 gives Theorem 9's 2 Σ d_R³ for groups with real irreps."""
    _check_k(k)
    return 2 ** (k - 1) * sum(r.dim ** (k + 1) for r, _ in _masses(_group(spec), masses))


def construct_group_k(spec, k: int, masses: dict | None = None, dtype: torch.dtype | None = None) -> PolyNet:
    """A k-input group net (PolyNet, k embeddings, z^k) with logits Σ_R m_R w_R tr(R(g_1)⋯R(g_k) R(c)ᵀ).

    For each irrep R of mass m_R > 0 (default 1 for every non-trivial irrep, 0 for the trivial one; any kind)
    and each index tuple (i_0..i_k) ∈ [D_R]^{k+1}, the product x_1⋯x_k·x_c of the matrix-element vectors
    x_j = R(·)_{i_{j−1} i_j}, x_c = R(·)_{i_0 i_k} with coefficient a = m_R w_R (w_R = span_dim/D_R) is written
    with 2^{k−1} neurons by the polarization identity (docs/theory.md §6)
        x_1⋯x_k = 2/(2^k k!) Σ_{s∈{±1}^k, s_1=+1} (−1)^{(k−Σs)/2} (Σ_j s_j x_j)^k,
    u_j = s_j x_j, w = a·2/(2^k k!)·(−1)^{(k−Σs)/2} x_c, then rebalanced (u → t u, w → w/t^k, ‖u_j‖ = ‖w‖;
    every matrix-element vector has ‖R_ij‖² = |G|/D_R, so the balance is exact). Width
    `construct_group_k_width`. With the default masses the logits are |G| 1[c = g_1⋯g_k] − 1 (all wrong
    classes tie); its normalized margin is `construction_margin_k`. At k = 2 on groups with real irreps this
    is construct_group's function and margin (Theorem 9); `optimal_masses_k` gives the masses of §8's γ*.
    """
    import torch

    from fourier_circuits.models.polynet import PolyNet
    from fourier_circuits.theory.modadd import rebalance
    _check_k(k)
    dtype = torch.float64 if dtype is None else dtype
    group = _group(spec)
    signs = torch.tensor([(1,) + s for s in itertools.product((1, -1), repeat=k - 1)],
                         dtype=torch.float64)                                    # (2^{k−1}, k), s_1 = +1
    parity = (-1.0) ** ((k - signs.sum(dim=1)) / 2).round()                       # (−1)^{(k−Σs)/2}
    coef = 2.0 / (2 ** k * math.factorial(k))
    embeds, unembeds = [], []
    for r, mass in _masses(group, masses):
        d = r.dim
        mats = torch.as_tensor(r.matrices, dtype=torch.float64)                 # (N, d, d)
        idx = torch.cartesian_prod(*(torch.arange(d),) * (k + 1)).reshape(-1, k + 1)   # (d^{k+1}, k+1)
        x = torch.stack([mats[:, idx[:, j - 1], idx[:, j]] for j in range(1, k + 1)])  # (k, N, P)
        x_c = mats[:, idx[:, 0], idx[:, k]].T                                    # (P, N)
        a = mass * _weight(r) * coef
        # neuron (product p, sign s) at column p·2^{k−1} + s
        embeds.append((x[:, :, :, None] * signs.T[:, None, None, :]).flatten(2))            # (k, N, P·2^{k−1})
        unembeds.append((a * x_c[:, None, :] * parity[None, :, None]).flatten(0, 1))      # (P·2^{k−1}, N)
    embed, unembed = rebalance(torch.cat(embeds, dim=2), torch.cat(unembeds, dim=0), k)
    return PolyNet.from_weights(embed.to(dtype), unembed.to(dtype), "poly", k)


def _margin_terms(group: Group, k: int, reps) -> np.ndarray:
    """a_R(t) = D_R^{(1−k)/2} (1 − χ_R(t)/D_R) for every irrep R (rows) and non-identity element t (columns)."""
    keep = np.arange(group.order) != group.identity
    return np.stack([r.dim ** ((1 - k) / 2) * (1 - r.character[keep] / r.dim) for r in reps])


def construction_margin_k(spec, k: int, masses: dict | None = None) -> float:
    """Normalized margin of `construct_group_k` in closed form (from the neuron norms above):
        k! ((k+1)|G|)^{−(k+1)/2} · min_{t≠e} Σ_R ρ_R a_R(t),   ρ_R ∝ m_R w_R D_R^{(k+1)/2}, Σ ρ_R = 1,
    a_R(t) = D_R^{(1−k)/2}(1 − χ_R(t)/D_R), χ_R the real character. Maximized over ρ (`optimal_masses_k`) this
    is the LP dual of docs/theory.md §8's min_q max_R formula."""
    _check_k(k)
    group = _group(spec)
    pairs = _masses(group, masses)
    rho = np.array([m * _weight(r) * r.dim ** ((k + 1) / 2) for r, m in pairs])
    terms = _margin_terms(group, k, [r for r, _ in pairs])
    best = float(((rho / rho.sum()) @ terms).min())
    return math.factorial(k) * ((k + 1) * group.order) ** (-(k + 1) / 2) * best


def optimal_masses_k(spec, k: int) -> dict[str, float]:
    """The masses m_R (irrep name → weight, non-trivial irreps) maximizing `construction_margin_k`: the LP
    max_ρ min_{t≠e} Σ_R ρ_R a_R(t) over the simplex, then m_R = ρ_R / (w_R D_R^{(k+1)/2}). Irreps of zero
    mass are left out."""
    from scipy.optimize import linprog
    _check_k(k)
    group = _group(spec)
    reps = [r for r in irreps(group) if not r.is_trivial]
    terms = _margin_terms(group, k, reps)                      # (R, |G|−1)
    n = len(reps)
    # variables (ρ_1..ρ_n, γ): maximize γ s.t. γ − Σ_R ρ_R a_R(t) ≤ 0, Σ ρ = 1, ρ ≥ 0
    res = linprog(np.r_[np.zeros(n), -1.0], A_ub=np.c_[-terms.T, np.ones(terms.shape[1])],
                  b_ub=np.zeros(terms.shape[1]), A_eq=np.r_[np.ones(n), 0.0][None, :], b_eq=[1.0],
                  bounds=[(0, None)] * n + [(None, None)], method="highs")
    if not res.success:
        raise TaskError(f"irrep-mass LP failed for {group.name}, k={k}: {res.message}")
    rho = res.x[:n]
    return {r.name: float(rho[q] / (_weight(r) * r.dim ** ((k + 1) / 2)))
            for q, r in enumerate(reps) if rho[q] > 1e-12}


def construction_logits_group_k(spec, k: int) -> np.ndarray:
    """The default construction's logits |G| 1[c = g_1⋯g_k] − 1, shape (|G|^k, |G|) (rows lexicographic)."""
    group = _group(spec)
    n = group.order
    labels = np.arange(n)
    for _ in range(1, k):
        labels = group.table[labels].reshape(-1)
    out = -np.ones((n ** k, n))
    out[np.arange(n ** k), labels] += n
    return out
