"""Support analysis of parity nets (docs/theory.md §5).

ParityNet on an (n,k) SparseParity task: support fraction Σ_{j∈S} u_i[j]² / ‖u_i‖², balance |u_i[j]| / ‖w_i‖
on S, and the sign rule (Π_{j∈S} u_i[j])·(w_i[0] − w_i[1]) ≥ 0 (output 0 is class +1). Max-margin neurons:
support fraction 1, balance 1, w_i ∝ [1, −1], sign rule satisfied. Population statistics are over
`fourier.significant_neurons`, in float64.
"""
from __future__ import annotations

import torch

from fourier_circuits.analysis.fourier import median as _median
from fourier_circuits.analysis.fourier import significant_neurons
from fourier_circuits.analysis.fourier import statistic as _stat

TOP_NORM = 0.5     # top-norm neurons: ‖θ_i‖ at least half the largest
ON_SUPPORT = 0.95  # a neuron lives on S when ≥ 95% of ‖u_i‖² is on S


def analyze_parity_net(model, task, rel_threshold: float = 1e-2) -> dict:
    """JSON-ready support / balance / sign summary of a ParityNet on a SparseParity task.

    Keys: n, k, support, n_neurons, n_significant, support_fraction (list, all neurons),
    support_fraction_median / _min, balance_median / _min / _max (|u_i[j]| / ‖w_i‖ over significant
    neurons and j ∈ S), w_antisymmetry_min ((w0 − w1)² / (2‖w‖²), 1 for w ∝ [1, −1]), sign_rule_fraction
    (fraction of significant neurons with (Π_{j∈S} u_i[j])·(w_i[0] − w_i[1]) ≥ 0).
    Over the top-norm neurons (‖θ_i‖ ≥ TOP_NORM · max_l ‖θ_l‖, the ones [MO] Fig 5 shows): n_top,
    support_fraction_median_top, balance_log_dev_median_top / _max_top (per neuron the largest |ln(|u_i[j]| /
    ‖w_i‖)| over j ∈ S, 0 when |u_i[j]| = ‖w_i‖; median / max over the top neurons), w_antisymmetry_median_top /
    _min_top, and sign_rule_fraction_top (over the top neurons that live
    on S, support fraction ≥ ON_SUPPORT; None if none does, as at a random init: the sign of a neuron spread
    over all coordinates says nothing).

    [MO] Theorem 8's max-margin neurons live on the support S (support fraction Σ_{j∈S} u_i[j]² / ‖u_i‖² = 1),
    with |u_i[j]| = ‖w_i‖ and w_i ∝ [1, −1]; these keys measure how far a network is from that.

    Args:
        model: A ParityNet, e.g. from `load_run` or `construct_parity`.
        task: The `SparseParity` task (only its `support` S is read).
        rel_threshold: Significant neurons have ‖θ_i‖ ≥ rel_threshold · max_l ‖θ_l‖.

    Returns:
        The JSON-ready dict of the keys above.
    """
    support = list(task.support)
    u = model.embed.detach().to(torch.float64).T                         # (m, n)
    w = model.unembed.detach().to(torch.float64)                          # (m, 2)
    mask = significant_neurons(model, rel_threshold)
    u_sq = u.pow(2).sum(dim=1)
    frac = u[:, support].pow(2).sum(dim=1) / u_sq
    w_norm = w.norm(dim=1)
    balance = (u[:, support].abs() / w_norm[:, None])[mask]
    antisym = ((w[:, 0] - w[:, 1]).pow(2) / (2 * w_norm.pow(2)))[mask]
    sign = (u[:, support].prod(dim=1) * (w[:, 0] - w[:, 1]))[mask]
    sig_frac = frac[mask]
    norms = model.neuron_sq_norms().detach().to(torch.float64).sqrt()
    top = mask & (norms >= TOP_NORM * norms.max())
    on_support = top & (frac >= ON_SUPPORT)
    log_dev = (u[:, support].abs() / w_norm[:, None]).log().abs().max(dim=1).values[top]
    all_antisym = (w[:, 0] - w[:, 1]).pow(2) / (2 * w_norm.pow(2))
    all_sign = u[:, support].prod(dim=1) * (w[:, 0] - w[:, 1])
    return {
        "n": task.n, "k": task.k, "support": support,
        "n_neurons": model.width, "n_significant": int(mask.sum()),
        "support_fraction": [float(v) for v in frac],
        "support_fraction_median": _stat(sig_frac, _median),
        "support_fraction_min": _stat(sig_frac, torch.min),
        "balance_median": _stat(balance, _median),
        "balance_min": _stat(balance, torch.min),
        "balance_max": _stat(balance, torch.max),
        "w_antisymmetry_min": _stat(antisym, torch.min),
        "sign_rule_fraction": _stat(sign, lambda x: (x >= 0).double().mean()),
        "n_top": int(top.sum()),
        "support_fraction_median_top": _stat(frac[top], _median),
        "balance_log_dev_median_top": _stat(log_dev, _median),
        "balance_log_dev_max_top": _stat(log_dev, torch.max),
        "w_antisymmetry_median_top": _stat(all_antisym[top], _median),
        "w_antisymmetry_min_top": _stat(all_antisym[top], torch.min),
        "sign_rule_fraction_top": _stat(all_sign[on_support], lambda x: (x >= 0).double().mean()),
    }
