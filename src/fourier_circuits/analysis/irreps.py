"""Irrep analysis of group nets (docs/theory.md §5, §7).

Group nets (PolyNet with k ≥ 2 inputs, vocab = classes = |G|): neuron i has k+1 vectors in R^G,
u_{i,j} = embed[j, :, i] and w_i = unembed[i]. Its irrep spectrum sums them (k = 2: u, v, w):
    S_i(R) = Σ_j ‖P_R u_{i,j}‖² + ‖P_R w_i‖²,   Σ_R S_i(R) = ‖θ_i‖²   (completeness),
P_R the orthogonal projector onto span{R(·)_ab} (`Representation.projector`). The irrep power of R is
S_i(R)/‖θ_i‖², the fraction of ‖θ_i‖² carried by R — the analogue of the summed Fourier spectrum in
`fourier.neuron_spectrum`; it is 1 for some R ≠ trivial exactly when u, v, w all lie in the span of that
one irrep's matrix elements, as for max-margin neurons; `vector_irrep_power` is the same for each vector
separately. Works for irreps of any kind (the span basis of a complex / quaternionic irrep is orthonormalized
by `matrix_elements`).

Population statistics are over `fourier.significant_neurons` (‖θ_i‖ ≥ 1e−2 max_l ‖θ_l‖), in float64.
"""
from __future__ import annotations

import numpy as np
import torch

from fourier_circuits.algebra.groups import Group, parse_group
from fourier_circuits.algebra.representations import Representation, irreps
from fourier_circuits.analysis.fourier import median as _median
from fourier_circuits.analysis.fourier import neuron_vectors, significant_neurons
from fourier_circuits.analysis.fourier import statistic as _stat

# ---------------------------------------------------------------------------------------------- groups

def vector_irrep_spectrum(model, group: Group | str, reps: list[Representation] | None = None) -> torch.Tensor:
    """‖P_R x_i‖² for each neuron i, each of its vectors x ∈ (u_1..u_k, w) and each irrep R, shape
    (m, k+1, n_irreps) in irreps(group) order; summed over R it is ‖x_i‖² (completeness)."""
    group = parse_group(group) if isinstance(group, str) else group
    reps = irreps(group) if reps is None else reps
    vecs = neuron_vectors(model)                                        # (m, k+1, |G|)
    if vecs.shape[-1] != group.order:
        raise ValueError(f"model vocab {vecs.shape[-1]} != |{group.name}| = {group.order}")
    basis = torch.as_tensor(np.concatenate([r.matrix_elements() for r in reps]), dtype=torch.float64)  # (N, N)
    coeff_sq = (vecs @ basis.T).pow(2)                                   # (m, k+1, N)
    sizes = [r.span_dim for r in reps]
    return torch.stack([blk.sum(dim=2) for blk in coeff_sq.split(sizes, dim=2)], dim=2)


def neuron_irrep_spectrum(model, group: Group | str, reps: list[Representation] | None = None) -> torch.Tensor:
    """S_i(R) = Σ_{x∈{u_1..u_k, w}} ‖P_R x_i‖², shape (m, n_irreps) in irreps(group) order; rows sum to ‖θ_i‖²."""
    return vector_irrep_spectrum(model, group, reps).sum(dim=1)


def vector_irrep_power(model, group: Group | str) -> torch.Tensor:
    """Irrep power of each vector separately, ‖P_R x_i‖² / ‖x_i‖², shape (m, k+1, n_irreps) (NaN for x_i = 0)."""
    spec = vector_irrep_spectrum(model, group)
    return spec / spec.sum(dim=2, keepdim=True)


def neuron_irrep_power(model, group: Group | str) -> torch.Tensor:
    """Irrep power S_i(R)/‖θ_i‖², shape (m, n_irreps) (NaN rows for zero neurons)."""
    spec = neuron_irrep_spectrum(model, group)
    return spec / spec.sum(dim=1, keepdim=True)


SINGLE_POWER = 0.95  # a "single-irrep" neuron: ≥ 95% of ‖θ_i‖² in one irrep (the share claims' cut)


def irrep_rank_agreement(counts: list[int], dims: list[int], nontrivial: list[int]) -> float | None:
    """"Bigger irreps get more neurons" ([MO] Figs 6b, 8, 9) as a rank statement: the fraction of pairs (R, R') of
    non-trivial irreps with d_R < d_R' whose neuron counts are ordered, n_R ≤ n_R' (1: every pair ordered).
    None without such a pair or without any neuron counted."""
    pairs = [(a, b) for a in nontrivial for b in nontrivial if dims[a] < dims[b]]
    if not pairs or sum(counts) == 0:
        return None
    return sum(counts[a] <= counts[b] for a, b in pairs) / len(pairs)


def analyze_group_net(model, group: Group | str, rel_threshold: float = 1e-2) -> dict:
    """JSON-ready irrep summary of a group PolyNet; population statistics over significant neurons.

    Keys: group, order, n_neurons, n_significant, irrep_names, irrep_dims, max_irrep_power (list, all
    neurons), dominant_irrep (list of names, all neurons), irrep_power_median / irrep_power_min (of the max
    irrep power), frac_neurons_power_ge_095, irreps_used (names of the dominant irreps of significant
    neurons, irrep order), nontrivial_irrep_coverage (fraction of non-trivial irreps used),
    trivial_irrep_neurons (significant neurons whose dominant irrep is the trivial one),
    trivial_power_max (largest trivial-irrep power), neurons_per_irrep (name → count, every irrep),
    observed_fraction_per_irrep and expected_fraction_per_irrep (name → d_R³ / Σ_{R'≠1} d_R'³ for
    non-trivial R, 0 for trivial: the proportions of `theory_groups.construct_group`).
    Per vector (lists of k+1 numbers, in the order u_1..u_k, w; statistics over the significant neurons whose
    vector is non-zero, None over an empty set): irrep_power_median_per_vector / irrep_power_min_per_vector
    (of each vector's own max irrep power ‖P_R x‖²/‖x‖², R its dominant irrep), frac_neurons_power_ge_095_per_vector,
    and dominant_irrep_agreement (fraction of significant neurons whose k+1 vectors share one dominant irrep,
    the neuron's; None if none is significant).
    Over the single-irrep neurons (significant, max irrep power ≥ SINGLE_POWER; a random init has almost none):
    n_single_irrep, single_irrep_neurons_per_irrep (name → count), nontrivial_irrep_coverage_single, and
    irrep_rank_agreement_single (`irrep_rank_agreement` of those counts). trivial_share_vs_random: the share of
    the significant neurons' Σ‖θ_i‖² in the trivial irrep, times |G| (a random network's share is 1/|G|: ≈ 1 at
    init, 0 for max-margin networks, docs/theory.md §5).

    The irrep power of a vector x on a real irrep R is ‖P_R x‖²/‖x‖² (`Representation.projector`); a neuron's is
    that of θ_i = (u_{i,1..k}, w_i) summed, so 1 means the neuron lives on one irrep, as [MO] Theorem 9's
    max-margin neurons do.

    Args:
        model: A PolyNet on composition in G (vocabulary |G|), e.g. from `load_run` or `construct_group`.
        group: G, a `Group` or a spec string such as "S4".
        rel_threshold: Significant neurons have ‖θ_i‖ ≥ rel_threshold · max_l ‖θ_l‖.

    Returns:
        The JSON-ready dict of the keys above.

    Raises:
        TaskError: If `group` is a spec string that does not parse.
    """
    group = parse_group(group) if isinstance(group, str) else group
    reps = irreps(group)
    names = [r.name for r in reps]
    trivial = [q for q, r in enumerate(reps) if r.is_trivial]
    power = neuron_irrep_power(model, group)                              # (m, R)
    mask = significant_neurons(model, rel_threshold)
    max_power, dominant = power.max(dim=1)
    sig_max, sig_dom = max_power[mask], dominant[mask]
    counts = torch.bincount(sig_dom, minlength=len(reps))
    n_sig = int(mask.sum())
    cube = {r.name: (0 if r.is_trivial else r.dim ** 3) for r in reps}
    total_cube = sum(cube.values()) or 1
    nontrivial = [q for q in range(len(reps)) if q not in trivial]
    used = [q for q in range(len(reps)) if counts[q] > 0]
    trivial_power = power[mask][:, trivial].sum(dim=1) if trivial else torch.zeros(n_sig, dtype=torch.float64)
    vec_max, vec_dom = vector_irrep_power(model, group)[mask].max(dim=2)           # (n_sig, k+1)
    per_vector = [vec_max[:, j][~vec_max[:, j].isnan()] for j in range(vec_max.shape[1])]
    single_counts = torch.bincount(sig_dom[sig_max >= SINGLE_POWER], minlength=len(reps)).tolist()
    spectrum = neuron_irrep_spectrum(model, group, reps)[mask]
    trivial_share = (float(spectrum[:, trivial].sum() / spectrum.sum()) * group.order
                     if trivial and n_sig else None)
    return {
        "group": group.name,
        "order": group.order,
        "n_neurons": model.width,
        "n_significant": n_sig,
        "irrep_names": names,
        "irrep_dims": [r.dim for r in reps],
        "max_irrep_power": [float(v) for v in max_power],
        "dominant_irrep": [names[int(q)] for q in dominant],
        "irrep_power_median": _stat(sig_max, _median),
        "irrep_power_min": _stat(sig_max, torch.min),
        "frac_neurons_power_ge_095": _stat(sig_max, lambda x: (x >= 0.95).double().mean()),
        "irreps_used": [names[q] for q in used],
        "nontrivial_irrep_coverage": (sum(1 for q in nontrivial if counts[q] > 0) / len(nontrivial)
                                      if nontrivial else None),
        "trivial_irrep_neurons": int(sum(int(counts[q]) for q in trivial)),
        "trivial_power_max": _stat(trivial_power, torch.max),
        "neurons_per_irrep": {names[q]: int(counts[q]) for q in range(len(reps))},
        "observed_fraction_per_irrep": {names[q]: (int(counts[q]) / n_sig if n_sig else None)
                                        for q in range(len(reps))},
        "expected_fraction_per_irrep": {name: c / total_cube for name, c in cube.items()},
        "irrep_power_median_per_vector": [_stat(x, _median) for x in per_vector],
        "irrep_power_min_per_vector": [_stat(x, torch.min) for x in per_vector],
        "frac_neurons_power_ge_095_per_vector": [_stat(x, lambda v: (v >= 0.95).double().mean())
                                                 for x in per_vector],
        "dominant_irrep_agreement": _stat(vec_dom, lambda d: (d == sig_dom[:, None]).all(dim=1).double().mean()),
        "n_single_irrep": sum(single_counts),
        "single_irrep_neurons_per_irrep": {names[q]: single_counts[q] for q in range(len(reps))},
        "nontrivial_irrep_coverage_single": (sum(1 for q in nontrivial if single_counts[q] > 0) / len(nontrivial)
                                             if nontrivial else None),
        "irrep_rank_agreement_single": irrep_rank_agreement(single_counts, [r.dim for r in reps], nontrivial),
        "trivial_share_vs_random": trivial_share,
    }
