"""Fourier analysis of PolyNet neurons on k-input modular addition (docs/theory.md §5, §7).

DFT over Z_p (p odd):  f̂(j) = Σ_a f(a) e^{−2πi ja/p}.
Merged power of a real vector (bins ζ = 0..(p−1)/2):
    P(0) = |f̂(0)|²,   P(ζ) = |f̂(ζ)|² + |f̂(−ζ)|²   (ζ ≥ 1),
so Σ_ζ P(ζ) = p‖f‖² (Parseval) and a pure cosine β cos(θ + 2πζa/p) has all its power in bin ζ
(max normalized power exactly 1, not 0.5).

Neuron spectrum: the merged powers of the k+1 vectors of θ_i = (u_{i,1}, .., u_{i,k}, w_i) are summed,
    S_i(ζ) = Σ_j P_{u_{i,j}}(ζ) + P_{w_i}(ζ) = p · (squared norm of θ_i at frequency ζ),
i.e. S_i / Σ_ζ S_i(ζ) is the fraction of ‖θ_i‖² carried by frequency ζ. A max-margin neuron (§5) puts all
of it in one ζ ≥ 1. Frequencies always count ζ in 1..(p−1)/2; the DC bin (ζ = 0) is reported separately.

All metrics are computed in float64 and vectorized over neurons.
"""
from __future__ import annotations

import math

import torch

from fourier_circuits.models.polynet import PolyNet

# ---------------------------------------------------------------------------------------------------------
# raw tensors: vectors of shape (..., p)

def merged_power(vectors: torch.Tensor) -> torch.Tensor:
    """Merged power spectrum (..., p) → (..., (p−1)/2 + 1), float64: P(0) = |f̂(0)|², P(ζ) = |f̂(ζ)|² + |f̂(−ζ)|²."""
    x = torch.as_tensor(vectors).detach()
    x = x.to(torch.complex128) if x.is_complex() else x.to(torch.float64)
    p = x.shape[-1]
    if p % 2 == 0:
        raise ValueError(f"merged_power needs an odd length p, got p={p}")
    power = torch.fft.fft(x, dim=-1).abs().pow(2)
    half = (p - 1) // 2
    positive = power[..., 1 : half + 1]                 # ζ = 1..half
    negative = power[..., p - half :].flip(-1)          # −ζ ≡ p − ζ, reordered to ζ = 1..half
    return torch.cat([power[..., :1], positive + negative], dim=-1)


def spectrum_max_power(spectrum: torch.Tensor) -> torch.Tensor:
    """Max normalized power max_ζ S(ζ) / Σ_ζ S(ζ) of merged spectra (..., bins), DC bin included (NaN if S = 0)."""
    return spectrum.max(dim=-1).values / spectrum.sum(dim=-1)


def spectrum_dominant_frequency(spectrum: torch.Tensor) -> torch.Tensor:
    """argmax_{ζ ≥ 1} S(ζ) of merged spectra (..., bins), int64 in 1..(p−1)/2 (DC excluded)."""
    return spectrum[..., 1:].argmax(dim=-1) + 1


def spectrum_dc_fraction(spectrum: torch.Tensor) -> torch.Tensor:
    """Fraction of power in the DC bin, S(0) / Σ_ζ S(ζ)."""
    return spectrum[..., 0] / spectrum.sum(dim=-1)


def max_power(vectors: torch.Tensor) -> torch.Tensor:
    """Max normalized merged power of each vector (..., p) → (...)."""
    return spectrum_max_power(merged_power(vectors))


def dominant_frequency(vectors: torch.Tensor) -> torch.Tensor:
    """Dominant non-DC frequency ζ in 1..(p−1)/2 of each vector (..., p) → (...)."""
    return spectrum_dominant_frequency(merged_power(vectors))


def dc_fraction(vectors: torch.Tensor) -> torch.Tensor:
    """Fraction of each vector's power at ζ = 0: |f̂(0)|² / (p‖f‖²) = p·mean(f)² / ‖f‖²."""
    return spectrum_dc_fraction(merged_power(vectors))


def phase_at(vectors: torch.Tensor, freqs: torch.Tensor | int) -> torch.Tensor:
    """Phase θ = arg f̂(ζ) of each vector (..., p) at frequency ζ (int or tensor broadcastable to (...)).

    Convention: β cos(θ + 2πζa/p) has f̂(ζ) = (βp/2) e^{iθ}, so this returns θ in (−π, π].
    """
    x = torch.as_tensor(vectors).detach().to(torch.float64)
    coeffs = torch.fft.fft(x, dim=-1)
    idx = torch.as_tensor(freqs, dtype=torch.int64).expand(x.shape[:-1])
    return coeffs.gather(-1, idx[..., None]).squeeze(-1).angle()


def wrap_angle(x: torch.Tensor) -> torch.Tensor:
    """Wrap angles to (−π, π]."""
    return math.pi - torch.remainder(math.pi - x, 2 * math.pi)


def trig_interpolation(vector: torch.Tensor, n_points: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Trigonometric interpolant of f: Z_p → R on a grid t in [0, p−1] (for dots-plus-curve plots).

        f(t) = (1/p) [ f̂(0) + 2 Σ_{ζ=1}^{(p−1)/2} Re( f̂(ζ) e^{2πiζt/p} ) ],
    the lowest-frequency real interpolant: f(t) = f(a) at every integer t = a. `vector` may be batched
    (..., p); returns (t of shape (n_points,), values of shape (..., n_points)), float64.
    """
    x = torch.as_tensor(vector).detach().to(torch.float64)
    p = x.shape[-1]
    half = (p - 1) // 2
    coeffs = torch.fft.fft(x, dim=-1)[..., : half + 1]                      # f̂(0..half)
    t = torch.linspace(0.0, p - 1.0, n_points, dtype=torch.float64)
    zeta = torch.arange(half + 1, dtype=torch.float64)
    waves = torch.exp(2j * math.pi * zeta[:, None] * t[None, :] / p)       # (half+1, n_points)
    weights = torch.full((half + 1,), 2.0, dtype=torch.float64)
    weights[0] = 1.0
    values = ((coeffs * weights)[..., None] * waves).real.sum(dim=-2) / p
    return t, values


# ---------------------------------------------------------------------------------------------------------
# PolyNet neurons

def neuron_vectors(model: PolyNet) -> torch.Tensor:
    """θ_i as (m, k+1, N) float64: rows u_{i,1}, .., u_{i,k}, w_i (needs n_classes == vocab_size == N: p for
    modular addition, |G| for a group; the Fourier and the irrep analysis both read neurons this way)."""
    if model.n_classes != model.vocab_size:
        raise ValueError(f"neuron analysis needs n_classes == vocab_size, got {model.n_classes} != {model.vocab_size}")
    u = model.embed.detach().to(torch.float64).permute(2, 0, 1)          # (m, k, p)
    w = model.unembed.detach().to(torch.float64)[:, None, :]              # (m, 1, p)
    return torch.cat([u, w], dim=1)


def neuron_spectrum(model: PolyNet) -> torch.Tensor:
    """S_i(ζ) = Σ_j P_{u_{i,j}}(ζ) + P_{w_i}(ζ), shape (m, (p−1)/2 + 1); Σ_ζ S_i(ζ) = p‖θ_i‖²."""
    return merged_power(neuron_vectors(model)).sum(dim=1)


def neuron_max_power(model: PolyNet) -> torch.Tensor:
    """Max normalized power of each neuron's summed spectrum, shape (m,)."""
    return spectrum_max_power(neuron_spectrum(model))


def neuron_dominant_frequency(model: PolyNet) -> torch.Tensor:
    """Dominant frequency ζ_i = argmax_{ζ≥1} S_i(ζ) of each neuron, shape (m,), int64."""
    return spectrum_dominant_frequency(neuron_spectrum(model))


def neuron_dc_fraction(model: PolyNet) -> torch.Tensor:
    """S_i(0) / Σ_ζ S_i(ζ): fraction of ‖θ_i‖² in the constant (DC) component, shape (m,)."""
    return spectrum_dc_fraction(neuron_spectrum(model))


def significant_neurons(model: PolyNet, rel_threshold: float = 1e-2) -> torch.Tensor:
    """Neurons of non-negligible norm: ‖θ_i‖ ≥ rel_threshold · max_l ‖θ_l‖ (and ‖θ_i‖ > 0), bool (m,).

    Under L_{2,ν} regularization unused neurons decay towards 0; they carry no function and their
    spectrum is noise, so population metrics are taken over this mask only.
    """
    norms = model.neuron_sq_norms().detach().to(torch.float64).sqrt()
    return (norms >= rel_threshold * norms.max()) & (norms > 0)


def frequency_coverage(model: PolyNet, mask: torch.Tensor | None = None) -> float:
    """Fraction of {1..(p−1)/2} that is the dominant frequency of at least one significant neuron."""
    mask = significant_neurons(model) if mask is None else mask
    used = torch.unique(neuron_dominant_frequency(model)[mask])
    return used.numel() / ((model.vocab_size - 1) // 2)


def neuron_phases(model: PolyNet) -> torch.Tensor:
    """Phases (θ_{i,1}, .., θ_{i,k}, θ_{w,i}) at each neuron's dominant frequency ζ_i, shape (m, k+1).

    θ = arg f̂(ζ_i) with f̂(j) = Σ_a f(a) e^{−2πi ja/p}, so u_{i,j}(a) = β cos(θ_{i,j} + 2πζ_i a/p) gives θ_{i,j}.
    """
    vecs = neuron_vectors(model)
    freqs = spectrum_dominant_frequency(merged_power(vecs).sum(dim=1))
    return phase_at(vecs, freqs[:, None])


def phase_residual(model: PolyNet) -> torch.Tensor:
    """(θ_{i,1} + .. + θ_{i,k} − θ_{w,i}) wrapped to (−π, π], shape (m,).

    With the convention of `neuron_phases`, max-margin neurons (docs/theory.md §5) have residual 0: the term
    Π_j cos(θ_j + 2πζa_j/p) · cos(θ_w + 2πζc/p) of the neuron contains cos(Σθ_j − θ_w + 2πζ(Σa_j − c)/p),
    which favours c = Σa_j exactly when Σθ_j = θ_w. Checked on `theory.construct_modadd` for k = 2, 3, 4.
    """
    phases = neuron_phases(model)
    return wrap_angle(phases[:, :-1].sum(dim=1) - phases[:, -1])


def amplitude_balance(model: PolyNet) -> torch.Tensor:
    """‖u_{i,j}‖ / ‖w_i‖, shape (m, k); 1 at the max-margin solution (same amplitude β for all k+1 vectors)."""
    norms = neuron_vectors(model).norm(dim=-1)          # (m, k+1)
    return norms[:, :-1] / norms[:, -1:]


def median(x: torch.Tensor) -> torch.Tensor:
    """Median (mean of the two middle values for an even count; torch.median would take the lower one)."""
    return x.flatten().quantile(0.5)


def statistic(x: torch.Tensor, fn) -> float | None:
    """fn(x) as a float, None over an empty set."""
    return float(fn(x)) if x.numel() else None


SINGLE_POWER = 0.95       # a "single-frequency" neuron: ≥ 95% of ‖θ_i‖² at one frequency (the share claims' cut)
CONCENTRATED_POWER = 0.9  # a "concentrated" neuron: ≥ 90% at one frequency ([MO] Fig 4b: ReLU + L2 ends near 0.9)


def amplitude_spread(model: PolyNet) -> torch.Tensor:
    """max_x ‖x‖ / min_x ‖x‖ − 1 over the k+1 vectors x ∈ (u_{i,1}, .., u_{i,k}, w_i) of each neuron, shape (m,).

    A max-margin neuron (docs/theory.md §5) has the same amplitude β on all k+1 vectors (‖x‖ = β·sqrt(p/2) for a pure
    cosine), so 0; inf when a vector is zero.
    """
    norms = neuron_vectors(model).norm(dim=-1)          # (m, k+1)
    return norms.max(dim=1).values / norms.min(dim=1).values - 1


def frequency_mass_ratio(model: PolyNet, mask: torch.Tensor) -> float | None:
    """max_ζ M(ζ) / min_ζ M(ζ), M(ζ) = Σ ‖θ_i‖^ν over the concentrated neurons (in `mask`, max power ≥
    CONCENTRATED_POWER) of dominant frequency ζ, ζ = 1..(p−1)/2; None if some frequency has none.

    A max-margin network gives every frequency the same mass: its logit margin against a wrong class at offset
    d = c − y ≠ 0 is ∝ Σ_ζ M(ζ)(1 − cos(2πζd/p)), whose mean over d ≠ 0 does not depend on how M is split, so its
    minimum is largest when it is constant in d, i.e. when all M(ζ) are equal (the DFT of a function constant
    off d = 0). A random init has no concentrated neuron.
    """
    spectrum = neuron_spectrum(model)
    keep = mask & (spectrum_max_power(spectrum) >= CONCENTRATED_POWER)
    mass_i = model.neuron_sq_norms().detach().to(torch.float64).pow(model.nu / 2)[keep]
    half = (model.vocab_size - 1) // 2
    mass = torch.zeros(half + 1, dtype=torch.float64).index_add_(0, spectrum_dominant_frequency(spectrum)[keep], mass_i)[1:]
    return float(mass.max() / mass.min()) if bool((mass > 0).all()) else None


def neuron_form(model: PolyNet, mask: torch.Tensor) -> dict:
    """The §5 form of the single-frequency neurons (significant, max power ≥ SINGLE_POWER): medians of their
    amplitude spread (equal β: 0), DC fraction S_i(0)/Σ_ζ S_i(ζ) (zero mean: 0) and |θ_1 + .. + θ_k − θ_w|
    (0), and their count. The phases and amplitudes of a neuron spread over frequencies mean nothing, so the
    statistics are over single-frequency neurons only, None when there is none (an untrained network)."""
    spectrum = neuron_spectrum(model)
    single = mask & (spectrum_max_power(spectrum) >= SINGLE_POWER)
    return {
        "n_single_frequency": int(single.sum()),
        "single_amplitude_spread_median": statistic(amplitude_spread(model)[single], median),
        "single_dc_fraction_median": statistic(spectrum_dc_fraction(spectrum)[single], median),
        "single_phase_residual_median_abs": statistic(phase_residual(model)[single].abs(), median),
    }


def analyze_polynet(model: PolyNet, rel_threshold: float = 1e-2) -> dict:
    """JSON-ready Fourier summary of a PolyNet; population statistics are over significant neurons.

    Keys: p, k, n_neurons, n_significant, max_power (list, all neurons), max_power_median, max_power_min,
    frac_neurons_power_ge_095, frequency_coverage, dominant_frequencies (sorted distinct ζ),
    neurons_per_frequency ({ζ: count}, int keys), dc_fraction_max, phase_residual_max_abs,
    phase_residual_median_abs, amplitude_balance_median; frequency_coverage_concentrated (fraction of
    1..(p−1)/2 that is the dominant frequency of a concentrated neuron, max power ≥ CONCENTRATED_POWER: a random
    init has almost none, so it fails where plain coverage holds with probability ≥ 0.997); frequency_mass_ratio
    (`frequency_mass_ratio`: 1 at max margin); the `neuron_form` keys. Statistics over an empty set are None.

    A neuron's max power is max_ζ S_i(ζ) / Σ_ζ S_i(ζ) of its merged spectrum over θ_i = (u_{i,1..k}, w_i)
    (module docstring): 1 for a single-frequency neuron, the max-margin form of docs/theory.md §5.

    Args:
        model: A PolyNet on addition mod p (odd p), e.g. from `load_run` or `PolyNet.from_weights`.
        rel_threshold: Significant neurons have ‖θ_i‖ ≥ rel_threshold · max_l ‖θ_l‖; the others carry no
            function and are left out of the statistics.

    Returns:
        The JSON-ready dict of the keys above (floats, ints, lists, dicts with int keys).

    Raises:
        ValueError: If the vocabulary size p is even.
    """
    mask = significant_neurons(model, rel_threshold)
    spectrum = neuron_spectrum(model)
    power = spectrum_max_power(spectrum)
    freqs = spectrum_dominant_frequency(spectrum)[mask]
    sig_power = power[mask]
    residual = phase_residual(model)[mask].abs()
    balance = amplitude_balance(model)[mask]
    distinct, counts = torch.unique(freqs, return_counts=True)
    p, n_sig = model.vocab_size, int(mask.sum())
    return {
        "p": p,
        "k": model.n_inputs,
        "n_neurons": model.width,
        "n_significant": n_sig,
        "max_power": [float(v) for v in power],
        "max_power_median": statistic(sig_power, median),
        "max_power_min": statistic(sig_power, torch.min),
        "frac_neurons_power_ge_095": statistic(sig_power, lambda x: (x >= 0.95).double().mean()),
        "frequency_coverage": distinct.numel() / ((p - 1) // 2),
        "dominant_frequencies": [int(f) for f in distinct],
        "neurons_per_frequency": {int(f): int(c) for f, c in zip(distinct, counts)},
        "dc_fraction_max": statistic(spectrum_dc_fraction(spectrum)[mask], torch.max),
        "phase_residual_max_abs": statistic(residual, torch.max),
        "phase_residual_median_abs": statistic(residual, median),
        "amplitude_balance_median": statistic(balance, median),
        "frequency_coverage_concentrated": (torch.unique(freqs[sig_power >= CONCENTRATED_POWER]).numel()
                                            / ((p - 1) // 2)),
        "frequency_mass_ratio": frequency_mass_ratio(model, mask),
        **neuron_form(model, mask),
    }
