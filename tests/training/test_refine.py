"""The fast recipe's end (training/refine.py): splitting a neuron keeps f, the frequency rebalance evens out
settled neurons over the frequencies (an unused one included), moves nothing while the features have not
formed, and the re-phase finds and redraws a frequency whose phases do not tie the wrong classes."""
from __future__ import annotations

import math

import pytest
import torch

from fourier_circuits.analysis.fourier import neuron_dominant_frequency
from fourier_circuits.models.polynet import PolyNet
from fourier_circuits.training.refine import rebalance_frequencies, split_neuron


def cosine_net(p: int, freqs: list[int], seed: int = 0) -> PolyNet:
    """A k = 2 PolyNet whose neuron i is the §5 cosine at frequency freqs[i] with random phases, and random
    amplitudes (so that 'smallest' and 'largest' neurons are defined)."""
    net = PolyNet(p, 2, len(freqs), p, dtype=torch.float64)
    gen = torch.Generator().manual_seed(seed)
    a = torch.arange(p, dtype=torch.float64)
    with torch.no_grad():
        for i, zeta in enumerate(freqs):
            theta = 2 * math.pi * torch.rand(2, generator=gen, dtype=torch.float64)
            scale = 0.5 + torch.rand((), generator=gen, dtype=torch.float64)
            for j in range(2):
                net.embed[j, :, i] = scale * torch.cos(theta[j] + 2 * math.pi * zeta * a / p)
            net.unembed[i] = scale * torch.cos(theta.sum() + 2 * math.pi * zeta * a / p)
    return net


def counts(net: PolyNet) -> list[int]:
    freq = neuron_dominant_frequency(net)
    return [int((freq == z).sum()) for z in range(1, (net.vocab_size - 1) // 2 + 1)]


def test_split_neuron_keeps_the_function():
    net = cosine_net(5, [1, 1, 2])
    before = net.logits(None, 10_000).clone()
    split_neuron(net, 0, 2, torch.Generator().manual_seed(0), noise=0.0)   # neuron 2 dropped, 0 halved into 2
    dropped = cosine_net(5, [1, 1, 2])
    with torch.no_grad():
        dropped.embed[..., 2] = 0
        dropped.unembed[2] = 0
    assert torch.allclose(net.logits(None, 10_000), dropped.logits(None, 10_000), atol=1e-12)
    assert not torch.allclose(before, net.logits(None, 10_000))


def test_rebalance_evens_out_settled_neurons():
    net = cosine_net(5, [1] * 7 + [2] * 5)
    sq = net.neuron_sq_norms(torch.float64)
    smallest_on_1 = int(torch.argmin(torch.where(torch.arange(12) < 7, sq, math.inf)))
    assert rebalance_frequencies(net, seed=0) == 1
    assert counts(net) == [6, 6]
    assert int(neuron_dominant_frequency(net)[smallest_on_1]) == 2, "the smallest of the fullest moved"
    assert rebalance_frequencies(net, seed=0) == 0, "balanced: nothing more moves"


def test_rebalance_over_three_frequencies_to_within_one():
    net = cosine_net(7, [1] * 9 + [2] * 2 + [3] * 6)
    assert rebalance_frequencies(net, seed=1) == 3
    assert sorted(counts(net)) == [5, 6, 6]


def test_an_unused_frequency_gets_random_phase_cosines():
    from fourier_circuits.analysis.fourier import neuron_max_power, phase_residual
    net = cosine_net(7, [1] * 5 + [3] * 3)
    assert rebalance_frequencies(net, seed=0) == 2
    assert counts(net) == [3, 2, 3]
    on_2 = neuron_dominant_frequency(net) == 2
    # the first is a fresh cosine, the second a noisy half of it (`split_neuron`)
    assert float(neuron_max_power(net)[on_2].min()) > 0.999 and float(phase_residual(net)[on_2].abs().max()) < 0.05


def test_nothing_moves_before_the_features_have_formed():
    net = PolyNet(5, 2, 12, 5, seed=0, dtype=torch.float64)       # random init: mixed neurons
    before = [q.clone() for q in net.parameters()]
    assert rebalance_frequencies(net, seed=0) == 0
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))


def design_net(p: int, phase_sums: list[list[float]]) -> PolyNet:
    """A k = 2 PolyNet of equal-norm §5 cosines: on frequency ζ = z + 1, one neuron per (φ, ψ) in
    phase_sums[z], with θ_1 = (φ + ψ)/2, θ_2 = (φ − ψ)/2 and θ_w = φ (angles in degrees)."""
    pairs = [(z + 1, math.radians(phi), math.radians(psi)) for z, ps in enumerate(phase_sums) for phi, psi in ps]
    net = PolyNet(p, 2, len(pairs), p, dtype=torch.float64)
    a = torch.arange(p, dtype=torch.float64)
    with torch.no_grad():
        for i, (zeta, phi, psi) in enumerate(pairs):
            wave = lambda theta: torch.cos(theta + 2 * math.pi * zeta * a / p)  # noqa: E731
            net.embed[0, :, i], net.embed[1, :, i] = wave((phi + psi) / 2), wave((phi - psi) / 2)
            net.unembed[i] = wave(phi)
    return net


SIX = [(phi, psi) for phi in (0, 120, 240) for psi in (0, 180)]           # the Z3 x Z2 design


def test_frequency_defects_vanish_on_a_design_and_flag_a_clump():
    from fourier_circuits.models.margins import normalized_margin
    from fourier_circuits.tasks.modadd import ModularAddition
    from fourier_circuits.theory.modadd import gamma_star_modadd
    from fourier_circuits.training.refine import frequency_defects
    clump = [(83, 10), (192, 40), (192, 100), (193, 200), (279, 250), (283, 300)]
    good, bad = design_net(7, [SIX] * 3), design_net(7, [SIX, clump, SIX])
    assert float(frequency_defects(good).max()) < 1e-20
    d = frequency_defects(bad)
    assert float(d[1]) > 0.1 and float(d[0]) < 1e-20 and float(d[2]) < 1e-20
    t = ModularAddition(7, 2)
    assert normalized_margin(good, t.inputs(), t.labels()) / gamma_star_modadd(7, 2) == pytest.approx(1.0, abs=1e-12)
    assert normalized_margin(bad, t.inputs(), t.labels()) / gamma_star_modadd(7, 2) < 0.99


def test_rephase_redraws_only_the_stuck_frequency_and_keeps_the_norms():
    from fourier_circuits.analysis.fourier import neuron_max_power, phase_residual
    from fourier_circuits.training.refine import rephase_frequencies
    clump = [(10, 0), (11, 60), (12, 120), (13, 180), (14, 240), (15, 300)]
    net = design_net(7, [SIX, clump, SIX])
    before = [q.detach().clone() for q in net.parameters()]
    sq = net.neuron_sq_norms(torch.float64)
    assert rephase_frequencies(net, seed=0) == 6
    moved = torch.nonzero((net.embed != before[0]).any(dim=(0, 1))).flatten().tolist()
    assert moved == list(range(6, 12))
    assert torch.allclose(net.neuron_sq_norms(torch.float64), sq, atol=1e-12)
    assert counts(net) == [6, 6, 6] and float(neuron_max_power(net).min()) > 1 - 1e-12
    assert float(phase_residual(net).abs().max()) < 1e-6
    assert rephase_frequencies(design_net(7, [SIX] * 3), seed=0) == 0, "a design is left alone"


def k3_cosines(p: int, n: int, zeta: int, seed: int) -> PolyNet:
    """A k = 3 PolyNet of n §5 cosines on frequency ζ with random phases and random norms."""
    from fourier_circuits.training.refine import set_cosines
    net = PolyNet(p, 3, n, p, dtype=torch.float64)
    gen = torch.Generator().manual_seed(seed)
    set_cosines(net, torch.arange(n), torch.full((n,), zeta), 0.5 + torch.rand(n, generator=gen, dtype=torch.float64),
                gen)
    return net


def test_the_cosine_defect_is_the_networks():
    """`cosine_defect` (differentiable, one frequency) agrees with `frequency_defects` (the network's pure part)."""
    from fourier_circuits.training.refine import cosine_defect, frequency_defects
    net = k3_cosines(7, 10, 2, seed=0)
    theta = torch.fft.fft(net.embed.detach(), dim=1)[:, 2].angle().T
    amp = (net.neuron_sq_norms(torch.float64).detach() * 2 / (4 * 7)).sqrt()
    assert float(cosine_defect(theta, amp, 7, 2)) == pytest.approx(float(frequency_defects(net)[1]), rel=1e-6)


def test_the_phase_resolve_finds_the_k2_design_and_not_one_neuron_less():
    from fourier_circuits.training.refine import resolve_phases
    gen = torch.Generator().manual_seed(0)
    for n, solvable in ((6, True), (5, False)):
        theta, amp = torch.zeros(n, 2, dtype=torch.float64), torch.ones(n, dtype=torch.float64)  # a clump
        _, beta, d = resolve_phases(theta, amp, 7, 1, gen, restarts=3)
        assert (d < 1e-10) == solvable
        assert float(beta.pow(2).sum()) == pytest.approx(n, rel=1e-12), "the frequency's norm is kept"


def test_the_k3_rephase_resolves_a_stuck_frequency():
    """k = 3: 16 neurons with random phases on ζ = 2 of p = 7 do not tie; the re-phase re-solves them to a
    design (d < 1e-8) with the frequency's total norm, as §5 cosines."""
    from fourier_circuits.analysis.fourier import neuron_max_power
    from fourier_circuits.training.refine import frequency_defects, rephase_frequencies
    net = k3_cosines(7, 16, 2, seed=1)
    sq = net.neuron_sq_norms(torch.float64).sum()
    assert float(frequency_defects(net)[1]) > 0.1
    assert rephase_frequencies(net, seed=0) == 16
    assert float(frequency_defects(net)[1]) < 1e-8
    assert float(net.neuron_sq_norms(torch.float64).sum()) == pytest.approx(float(sq), rel=1e-9)
    assert float(neuron_max_power(net).min()) > 1 - 1e-12


def test_the_best_round_comes_back():
    """`restore_best`: when the last rebalance round ended lower than an earlier one, the earlier parameters
    come back and are evaluated again; when it ended higher, nothing changes."""
    from fourier_circuits.training.refine import restore_best

    class Stub:
        recorder = None

        def __init__(self, net):
            self.model, self.history = net, [{"margin_ratio": 0.9}]

        def evaluate(self):
            return {"margin_ratio": 0.99 if torch.equal(self.model.embed, kept[0]) else 0.9}

        def log(self, row):
            self.history.append(row)

    net = cosine_net(5, [1, 2])
    kept = [q.detach().clone() for q in net.parameters()]
    trainer = Stub(net)
    trainer.refine_best = (0.99, kept)
    with torch.no_grad():
        net.embed.mul_(2)
    restore_best(trainer)
    assert torch.equal(net.embed, kept[0]) and trainer.history[-1]["margin_ratio"] == 0.99
    trainer.history.append({"margin_ratio": 0.995})
    with torch.no_grad():
        net.embed.mul_(2)
    restore_best(trainer)
    assert not torch.equal(net.embed, kept[0]) and len(trainer.history) == 3
