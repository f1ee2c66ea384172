"""`certify(group, k)`: γ*(G, k) bracketed by a real network's margin and the class LP (docs/theory.md §8)."""
from __future__ import annotations

from fourier_circuits.algebra.integers import is_prime
from fourier_circuits.algebra.representations import irreps
from fourier_circuits.theory.solver.cg import column_generation
from fourier_circuits.theory.solver.lp import _group, class_lp
from fourier_circuits.theory.solver.symmetric import column_generation_group, group_population

__all__ = ["certify", "construct_from_duals", "measured_margin"]


def measured_margin(model, group, k: int, first_identity: bool = False) -> float:
    """Float64 normalized margin of a PolyNet on the whole G^k population (models.margins).

    first_identity: only the rows with x_1 = e (|G|^{k−1} of them). Exact for networks whose logits depend
    on x_1 only through x_1 ⋯ x_k c⁻¹ (the irrep constructions); an upper estimate of the margin otherwise.
    """
    import torch

    from fourier_circuits.models.margins import normalized_margin
    x, y = group_population(group, k)
    if first_identity:
        x, y = x[x[:, 0] == 0], y[x[:, 0] == 0]
    return float(normalized_margin(model, torch.as_tensor(x), torch.as_tensor(y)))


def construct_from_duals(group, lp: dict | None = None):
    """k = 2, all irreps real: construct_group's per-irrep blocks reweighted by the class-LP duals.

    Block R of construct_group (2 d³ neurons) has ‖·‖^3 = 2 (3|G|)^{3/2} d^{5/2} and margin 4 d² λ_R(t) on
    the orbit of t; scaling it by β_R with β_R³ ∝ ρ_R (and flipping w where the dual is on the −λ side)
    gives margin min_C Σ_R ρ_R^± (±c_R λ_R(C)) · prefactor = the LP value when ρ is the optimal dual.
    """
    import torch

    from fourier_circuits.models.polynet import PolyNet
    from fourier_circuits.theory.groups import construct_group
    group = _group(group)
    lp = class_lp(group, 2) if lp is None else lp
    base = construct_group(group)
    embed, unembed = base.embed.detach().double(), base.unembed.detach().double()
    rows = {r["name"]: r for r in lp["irreps"]}
    keep, scale, sign = [], [], []
    o = 0
    for r in irreps(group):
        if r.is_trivial:
            continue
        d, m = r.dim, 2 * r.dim ** 3
        row = rows[r.name]
        mass = row["dual_plus"] - row["dual_minus"]
        if abs(mass) > 1e-12:
            beta = (abs(mass) / (2 * (3 * group.order) ** 1.5 * d ** 2.5)) ** (1 / 3)
            keep += list(range(o, o + m))
            scale += [beta] * m
            sign += [1.0 if mass > 0 else -1.0] * m
        o += m
    idx = torch.as_tensor(keep)
    s = torch.as_tensor(scale, dtype=torch.float64)
    e = embed[:, :, idx] * s
    u = unembed[idx] * (s * torch.as_tensor(sign, dtype=torch.float64))[:, None]
    return PolyNet.from_weights(e, u, "poly", 2)


def certify(group, k: int = 2, *, rel_tol: float = 1e-6, generic_max_rows: int = 2000,
            symmetric_max_population: int = 20000, cg_kwargs: dict | None = None,
            full_population_max_order: int = 200, measure_theorem9: bool = True) -> dict:
    """Bracket γ*(G, k). Keys:
      group, k, upper (the class-LP value), lower (a network's float64 normalized margin, or a symmetrized
      LP value where no network is built: see lower_kind), lower_kind ("dual construction",
      "construct_modadd", "column generation network", "symmetrized column generation"), gap
      ((upper − lower)/upper), disagree (|gap| > rel_tol: a finding), theorem9 (construct_group's margin
      where all irreps are real and k = 2), symmetric ({lower, upper, gap} of column_generation_group where
      run), lp (the class_lp dict).
    """
    group = _group(group)
    lp = class_lp(group, k)
    upper = lp["gamma_star"]
    out = {"group": group.name, "k": k, "upper": upper, "lp": lp, "theorem9": None, "symmetric": None}
    all_real = all(r.kind == "real" for r in irreps(group))
    n_rows = group.order ** k * (group.order - 1)
    if all_real and k == 2:
        from fourier_circuits.theory.groups import construct_group
        sub = group.order > full_population_max_order
        out["lower"] = measured_margin(construct_from_duals(group, lp), group, k, first_identity=sub)
        out["lower_kind"] = "dual construction" + (" (rows x_1 = e)" if sub else "")
        out["theorem9"] = measured_margin(construct_group(group), group, k, first_identity=sub) \
            if measure_theorem9 else None
    elif group.family == "cyclic" and group.order >= 3 and is_prime(group.order) and group.order ** k <= 2 ** 22:
        from fourier_circuits.theory.modadd import construct_modadd
        out["lower"] = measured_margin(construct_modadd(group.order, k), group, k)
        out["lower_kind"] = "construct_modadd"
    elif n_rows <= generic_max_rows:
        import torch

        from fourier_circuits.models.polynet import PolyNet
        x, y = group_population(group, k)
        cg = column_generation(x, y, group.order, k, **(cg_kwargs or {}))
        net = PolyNet.from_weights(torch.as_tensor(cg["embed"]), torch.as_tensor(cg["unembed"]), "poly", k)
        out["lower"] = measured_margin(net, group, k)
        out["lower_kind"] = "column generation network"
        out["generic"] = {kk: cg[kk] for kk in ("lower", "upper", "gap", "converged", "restart_spread", "iterations")}
    else:
        out["lower"] = None
        out["lower_kind"] = "symmetrized column generation"
    if group.order ** k <= symmetric_max_population:
        sym = column_generation_group(group, k)
        out["symmetric"] = {kk: sym[kk] for kk in ("lower", "upper", "gap", "converged", "restart_spread")}
        if out["lower"] is None:
            out["lower"] = sym["lower"]
    lower = out["lower"]
    out["gap"] = None if lower is None else (upper - lower) / upper
    out["disagree"] = bool(lower is not None and (abs(out["gap"]) > rel_tol or (
        out["symmetric"] is not None and out["symmetric"]["upper"] < upper * (1 - rel_tol))))
    if lower is None:
        out["note"] = f"no lower bound built (population {group.order}^{k} too large for both solvers)"
    return out
