"""Finite-group theory (THEORY.md §4, §6): [MO] Theorem 9 and the explicit per-irrep construction.

Finite group G [MO Thm 9], quadratic net (u[a] + v[b])² w[c], ν = 3, m ≥ 2 Σ_{n≥2} d_n³, provided every
irrep is of real type and Σ_{n≥2} d_n^{1.5} χ_n(C) < 0 for every non-identity conjugacy class C:
    γ* = 2 / (3 sqrt(3|G|)) · 1 / Σ_{n≥2} d_n^{2.5}      (sums over the non-trivial irreps).
Where the hypotheses fail the formula is not reported (gamma_star None, with the reason).
"""
from __future__ import annotations

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
    return parse_group(spec) if isinstance(spec, str) else spec


def theory_group(spec) -> dict:
    """[MO] Theorem 9 for the quadratic group net on G (a spec string or a Group).

    Keys: task, group, order, irrep_names, irrep_dims (real dims, trivial first), irrep_kinds, nu (3),
    applies, reason (None when it applies), gamma_star (None unless applies), min_width
    (2 Σ_{non-trivial} d³, the width of `construct_group`; None unless all irreps are real),
    character_sums (S(C) = Σ_{n≥2} d_n^{1.5} χ_n(C) per class, identity class first), failing_classes
    (representatives of the non-identity classes with S(C) ≥ 0, as readable labels).
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
    """The group net of THEORY.md §6 as a PolyNet (k = 2 inputs, degree 2), m = 2 Σ_{R≠1} d_R³.

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
    Raises TaskError if some irrep is not of real type (C_n, n ≥ 3; A4; Q8; ...).
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
