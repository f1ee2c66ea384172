"""Fourier metrics: exact values on pure signals, and the max-margin construction as a fixture."""
import json
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fourier_circuits.analysis import fourier as F
from fourier_circuits.models.polynet import PolyNet
from fourier_circuits.theory.modadd import construct_modadd

ODD = st.sampled_from([3, 5, 7, 11, 13, 23, 31, 59, 97, 113])


def wave(p: int, zeta: int, phase: float = 0.0, amp: float = 1.0) -> torch.Tensor:
    """amp · cos(phase + 2πζa/p) for a = 0..p−1."""
    a = torch.arange(p, dtype=torch.float64)
    return amp * torch.cos(phase + 2 * math.pi * zeta * a / p)


@settings(max_examples=60, deadline=None)
@given(p=ODD, data=st.data(), phase=st.floats(-math.pi, math.pi), amp=st.floats(0.01, 100.0))
def test_pure_cosine_has_max_power_one(p, data, phase, amp):
    zeta = data.draw(st.integers(1, (p - 1) // 2))
    v = wave(p, zeta, phase, amp)
    assert F.max_power(v).item() == pytest.approx(1.0, abs=1e-12)
    assert F.dominant_frequency(v).item() == zeta
    assert F.dc_fraction(v).item() == pytest.approx(0.0, abs=1e-12)
    # phase convention: β cos(θ + 2πζa/p) has f̂(ζ) = βp/2 e^{iθ}
    assert F.wrap_angle(F.phase_at(v, zeta) - phase).item() == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("p", [5, 7, 11, 13])
def test_every_frequency_and_sine(p):
    half = (p - 1) // 2
    zeta = torch.arange(1, half + 1, dtype=torch.float64)[:, None]
    a = torch.arange(p, dtype=torch.float64)
    cosines, sines = torch.cos(2 * math.pi * zeta * a / p), torch.sin(2 * math.pi * zeta * a / p)
    for vs in (cosines, sines):
        spec = F.merged_power(vs)
        assert spec.shape == (half, half + 1) and spec.dtype == torch.float64
        assert torch.allclose(F.max_power(vs), torch.ones(half, dtype=torch.float64))
        assert torch.equal(F.dominant_frequency(vs), torch.arange(1, half + 1))
        assert torch.allclose(spec.sum(-1), p * vs.pow(2).sum(-1))                 # Parseval
        assert torch.allclose(spec[torch.arange(half), torch.arange(1, half + 1)], torch.full((half,), p**2 / 2.0, dtype=torch.float64))
    assert torch.allclose(F.phase_at(sines, zeta.squeeze(1).long()), torch.full((half,), -math.pi / 2, dtype=torch.float64))


def test_two_frequencies_known_powers():
    p = 13
    v = wave(p, 2, 0.3, 3.0) + wave(p, 5, -1.0, 1.0)
    spec = F.merged_power(v)
    assert spec[2].item() == pytest.approx(9 * p**2 / 2)
    assert spec[5].item() == pytest.approx(p**2 / 2)
    assert F.max_power(v).item() == pytest.approx(0.9)
    assert F.dominant_frequency(v).item() == 2


def test_dc_handling():
    p = 11
    v = 2.0 + wave(p, 3)                 # DC power p²·4, ζ=3 power p²/2
    spec = F.merged_power(v)
    assert spec[0].item() == pytest.approx(4 * p**2)
    assert F.dc_fraction(v).item() == pytest.approx(8 / 9)
    assert F.max_power(v).item() == pytest.approx(8 / 9)     # max includes the DC bin
    assert F.dominant_frequency(v).item() == 3                   # dominant frequency excludes it
    assert F.max_power(torch.ones(p)).item() == pytest.approx(1.0)


def test_even_length_rejected():
    with pytest.raises(ValueError):
        F.merged_power(torch.ones(4))


def test_trig_interpolation_hits_points_and_is_the_cosine():
    p = 11
    v = wave(p, 4, 0.7, 2.0)
    t, y = F.trig_interpolation(v, 10 * (p - 1) + 1)            # grid contains every integer a
    assert torch.allclose(y[::10], v, atol=1e-12)
    assert torch.allclose(y, 2.0 * torch.cos(0.7 + 2 * math.pi * 4 * t / p), atol=1e-12)
    _, batched = F.trig_interpolation(torch.randn(3, 2, p, dtype=torch.float64), 50)
    assert batched.shape == (3, 2, 50)


@pytest.mark.parametrize("p,k", [(11, 2), (7, 3), (5, 4)])
def test_construct_modadd_is_perfectly_fourier(p, k):
    model = construct_modadd(p, k)
    assert torch.allclose(F.neuron_max_power(model), torch.ones(model.width, dtype=torch.float64), atol=1e-10)
    assert F.frequency_coverage(model) == 1.0
    assert F.phase_residual(model).abs().max().item() < 1e-9
    assert torch.allclose(F.amplitude_balance(model), torch.ones(model.width, k, dtype=torch.float64), atol=1e-9)
    stats = F.analyze_polynet(model)
    json.dumps(stats)
    half = (p - 1) // 2
    assert stats["p"] == p and stats["k"] == k and stats["n_significant"] == model.width
    assert stats["max_power_median"] == pytest.approx(1.0) and stats["max_power_min"] == pytest.approx(1.0)
    assert stats["frac_neurons_power_ge_095"] == 1.0 and stats["frequency_coverage"] == 1.0
    assert stats["dominant_frequencies"] == list(range(1, half + 1))
    assert stats["neurons_per_frequency"] == {z: model.width // half for z in range(1, half + 1)}
    assert stats["phase_residual_max_abs"] < 1e-9 and stats["amplitude_balance_median"] == pytest.approx(1.0)
    assert len(stats["max_power"]) == model.width


def test_random_init_is_not_fourier():
    model = PolyNet(11, 2, 64, 11, seed=1)
    stats = F.analyze_polynet(model)
    assert stats["max_power_median"] < 0.6
    assert stats["frac_neurons_power_ge_095"] < 0.1
    assert stats["phase_residual_median_abs"] > 0.3


def test_significant_mask_ignores_zeroed_neurons():
    model = construct_modadd(7, 2)
    dead = torch.tensor([0, 5, 17])
    with torch.no_grad():
        model.embed[:, :, dead] = 0.0
        model.unembed[dead] = 0.0
        model.embed[:, :, 3] *= 1e-4          # negligible but non-zero
        model.unembed[3] *= 1e-4
    mask = F.significant_neurons(model)
    assert not mask[dead].any() and not mask[3]
    assert mask.sum().item() == model.width - 4
    stats = F.analyze_polynet(model)
    assert stats["n_significant"] == model.width - 4
    assert stats["max_power_min"] == pytest.approx(1.0)      # NaN spectra of dead neurons are excluded
    assert stats["frequency_coverage"] == 1.0
    json.dumps(stats)


def test_all_dead_model_gives_none_stats():
    model = PolyNet(5, 2, 4, 5, init_scale=0.0)
    stats = F.analyze_polynet(model)
    assert stats["n_significant"] == 0 and stats["max_power_median"] is None
    assert stats["frequency_coverage"] == 0.0 and stats["dominant_frequencies"] == []


# --- issue 31: the §5 neuron form over single-frequency neurons, coverage over concentrated neurons ---------

@pytest.mark.parametrize("p, k", [(7, 2), (5, 3)])
def test_neuron_form_of_the_construction(p, k):
    """construct_modadd has the §5 form exactly: equal amplitudes, zero mean, θ_1 + .. + θ_k = θ_w."""
    out = F.analyze_polynet(construct_modadd(p, k))
    assert out["n_single_frequency"] == out["n_significant"]
    assert out["single_amplitude_spread_median"] == pytest.approx(0.0, abs=1e-9)
    assert out["single_dc_fraction_median"] == pytest.approx(0.0, abs=1e-12)
    assert out["single_phase_residual_median_abs"] == pytest.approx(0.0, abs=1e-9)
    assert out["frequency_coverage_concentrated"] == 1.0


def test_a_random_init_has_no_single_frequency_neuron_and_covers_no_frequency():
    out = F.analyze_polynet(PolyNet(11, 2, 64, 11, seed=1))
    assert out["frequency_coverage"] == 1.0              # plain coverage holds at init: it cannot fail
    assert out["frequency_coverage_concentrated"] == 0.0
    assert out["n_single_frequency"] == 0
    assert out["single_amplitude_spread_median"] is None and out["single_phase_residual_median_abs"] is None


def test_amplitude_spread_and_neuron_form_on_hand_built_neurons():
    """One neuron u = cos(1 + ζa), v = 2cos(2 + ζa), w = cos(3 + ζa) at ζ = 1, p = 7: spread 2/1 − 1 = 1, phase
    residual 1 + 2 − 3 = 0; a second with w phase 2.5: residual 0.5; both single-frequency, zero mean."""
    p = 7
    model = PolyNet(p, 2, 2, p, init_scale=0.0)   # float32: tolerances 1e-6
    with torch.no_grad():
        for i, (amp_v, th_w) in enumerate([(2.0, 3.0), (1.0, 2.5)]):
            model.embed[0, :, i] = wave(p, 1, 1.0)
            model.embed[1, :, i] = wave(p, 1, 2.0, amp_v)
            model.unembed[i] = wave(p, 1, th_w)
    assert F.amplitude_spread(model).tolist() == pytest.approx([1.0, 0.0], abs=1e-6)
    form = F.neuron_form(model, torch.tensor([True, True]))
    assert form["n_single_frequency"] == 2
    assert form["single_amplitude_spread_median"] == pytest.approx(0.5, abs=1e-6)   # midpoint of 1 and 0
    assert form["single_phase_residual_median_abs"] == pytest.approx(0.25, abs=1e-6)
    assert form["single_dc_fraction_median"] == pytest.approx(0.0, abs=1e-6)


def test_frequency_mass_ratio():
    """1 on the construction (equal ν-mass per frequency), 2 with one frequency's neurons at half their ν-mass
    (p = 7: 3 blocks of 8 neurons), None at a random init (no concentrated neuron)."""
    model = construct_modadd(7, 2)
    mask = F.significant_neurons(model)
    assert F.frequency_mass_ratio(model, mask) == pytest.approx(1.0, abs=1e-9)
    with torch.no_grad():
        model.embed[..., :8] *= 0.5 ** (1 / model.nu)
        model.unembed[:8] *= 0.5 ** (1 / model.nu)
    assert F.frequency_mass_ratio(model, mask) == pytest.approx(2.0, rel=1e-9)
    init = PolyNet(11, 2, 64, 11, seed=1)
    assert F.frequency_mass_ratio(init, F.significant_neurons(init)) is None
