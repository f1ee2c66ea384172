import json
import math

import pytest
import torch
from torch import nn

from fourier_circuits.analysis.progress_measures import (
    decompose_logits,
    embedding_key_frequencies,
    excluded_loss,
    fourier_variance_fraction,
    full_loss,
    key_component,
    logit_fourier_basis,
    population_logits,
    progress_measures,
    restricted_loss,
)
from fourier_circuits.models.transformer import Transformer, TransformerConfig
from fourier_circuits.tasks.modadd import ModularAddition
from fourier_circuits.tasks.split import train_test_split


def fourier_logits(task: ModularAddition, freqs, amps, phases=None) -> torch.Tensor:
    """L(a, c) = Σ_ζ A_ζ cos(2πζ(Σa − c)/p + φ_ζ) over the whole population, (p^k, p) float64."""
    p = task.p
    s = task.labels().to(torch.float64)
    c = torch.arange(p, dtype=torch.float64)
    phases = phases or [0.0] * len(freqs)
    L = torch.zeros(task.size, p, dtype=torch.float64)
    for f, a, ph in zip(freqs, amps, phases):
        L += a * torch.cos(2 * math.pi * f * (s[:, None] - c[None, :]) / p + ph)
    return L


class FixedLogits(nn.Module):
    """A 'model' whose logits are a fixed function of Σa − c (tokens as made by tokenize_modadd)."""

    def __init__(self, p: int, profile: torch.Tensor) -> None:
        super().__init__()
        self.p = p
        self.profile = profile

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.sum(dim=1) % self.p
        c = torch.arange(self.p)
        return self.profile[(s[:, None] - c[None, :]) % self.p]


@pytest.mark.parametrize("p,k", [(7, 2), (11, 2), (5, 3), (7, 3)])
def test_projection_reproduces_synthetic_fourier_logits(p, k):
    task = ModularAddition(p, k)
    freqs = [1, (p - 1) // 2]
    L = fourier_logits(task, freqs, [2.0, -0.7], [0.3, 1.1]) + 0.5
    restricted, excluded = decompose_logits(L, task.inputs(), p, freqs)
    assert torch.allclose(restricted, L, atol=1e-10)
    assert torch.allclose(excluded, torch.full_like(L, 0.5), atol=1e-10)
    # the per-class basis contains the diagonal one
    _, excluded_pc = decompose_logits(L, task.inputs(), p, freqs, basis="per_class")
    assert torch.allclose(excluded_pc, torch.full_like(L, 0.5), atol=1e-10)
    assert fourier_variance_fraction(L, task.inputs(), p, freqs) == pytest.approx(1.0, abs=1e-10)
    # a frequency that is not present is projected to ~0
    other = [f for f in range(1, (p - 1) // 2 + 1) if f not in freqs]
    if other:
        assert key_component(L, task.inputs(), p, other).abs().max() < 1e-10


@pytest.mark.parametrize("p,k", [(5, 2), (7, 2), (5, 3)])
def test_fast_projection_matches_explicit_basis(p, k):
    task = ModularAddition(p, k)
    gen = torch.Generator().manual_seed(0)
    L = torch.randn(task.size, p, generator=gen, dtype=torch.float64)
    freqs = [2] if p == 5 else [1, 3]
    B = logit_fourier_basis(p, freqs, k=k)                                  # (n_dirs, p^k, p)
    gram = torch.einsum("iac,jac->ij", B, B)
    assert torch.allclose(gram, torch.eye(B.shape[0], dtype=torch.float64), atol=1e-12)
    coef = torch.einsum("iac,ac->i", B, L)
    explicit = torch.einsum("i,iac->ac", coef, B)
    assert torch.allclose(key_component(L, task.inputs(), p, freqs), explicit, atol=1e-10)
    restricted, excluded = decompose_logits(L, task.inputs(), p, freqs)
    assert torch.allclose(restricted, explicit + L.mean(), atol=1e-10)
    assert torch.allclose(excluded, L - explicit, atol=1e-10)
    frac = fourier_variance_fraction(L, task.inputs(), p, freqs)
    assert 0.0 < frac < 1.0
    # per-class basis: explicit projection per column onto cos/sin(2πζΣa/p)
    s = task.labels().to(torch.float64)
    cols = []
    for f in freqs:
        for fn in (torch.cos, torch.sin):
            v = fn(2 * math.pi * f * s / p)
            cols.append(v / v.norm())
    Q = torch.stack(cols, dim=1)                                            # (p^k, 2|F|) orthonormal
    explicit_pc = Q @ (Q.T @ L)
    assert torch.allclose(key_component(L, task.inputs(), p, freqs, "per_class"), explicit_pc, atol=1e-10)


def test_projection_needs_balanced_population():
    task = ModularAddition(7, 2)
    L = torch.zeros(task.size, 7, dtype=torch.float64)
    with pytest.raises(ValueError, match="balanced"):
        key_component(L[:-1], task.inputs()[:-1], 7, [1])
    with pytest.raises(ValueError, match="frequencies"):
        key_component(L, task.inputs(), 7, [4])


def test_embedding_key_frequencies_hand_set():
    p, d_model = 13, 8
    a = torch.arange(p, dtype=torch.float64)
    W = torch.zeros(p + 2, d_model, dtype=torch.float64)
    W[:p, 0] = 3.0 * torch.cos(2 * math.pi * 3 * a / p + 0.4)
    W[:p, 1] = 3.0 * torch.sin(2 * math.pi * 3 * a / p)
    W[:p, 2] = 2.0 * torch.cos(2 * math.pi * 5 * a / p - 1.0)
    W[:p, 3] = 0.05 * torch.cos(2 * math.pi * 1 * a / p)
    W[:p, 4] = 1.0                                                          # DC: never a key frequency
    W[p:] = 100.0                                                           # op / '=' rows are ignored
    key = embedding_key_frequencies(W, p, mass=0.95)
    assert key.freqs == [3, 5]
    spec = key.spectrum
    assert spec.shape == ((p - 1) // 2 + 1,)
    assert float(spec.sum()) == pytest.approx(1.0)
    # power ∝ squared norms: ζ=3: 2·9·p/2, ζ=5: 4·p/2, ζ=1: 0.0025·p/2, DC: p
    total = 9 * p + 2 * p + 0.0025 * p / 2 + p
    assert float(spec[3]) == pytest.approx(9 * p / total)
    assert float(spec[5]) == pytest.approx(2 * p / total)
    assert float(spec[0]) == pytest.approx(p / total)
    assert embedding_key_frequencies(W, p, n=1).freqs == [3]
    assert embedding_key_frequencies(W, p, n=3).freqs == [1, 3, 5]
    assert embedding_key_frequencies(W, p, mass=0.5).freqs == [3]
    assert embedding_key_frequencies(W, p, mass=1.0).freqs == [1, 3, 5]


@pytest.mark.parametrize("p,k", [(7, 2), (5, 3)])
def test_random_transformer_measures_are_finite(p, k):
    task = ModularAddition(p, k)
    cfg = TransformerConfig.for_modadd(p, k, d_model=16, n_heads=2, d_head=8, d_mlp=32, seed=1)
    model = Transformer(cfg)
    train, _ = train_test_split(task.size, 0.5, seed=0)
    out = progress_measures(model, task, train_idx=train)
    json.dumps(out)
    assert out["key_frequencies"] and all(1 <= f <= (p - 1) // 2 for f in out["key_frequencies"])
    for name in ("train_loss", "test_loss", "all_loss", "restricted_loss", "excluded_loss",
                 "excluded_loss_per_class", "excluded_loss_test", "fourier_variance_fraction",
                 "train_acc", "test_acc"):
        assert math.isfinite(out[name]), name
    assert 0.0 <= out["fourier_variance_fraction"] <= 1.0
    # random logits are small: every loss is near log p
    for name in ("train_loss", "restricted_loss", "excluded_loss"):
        assert abs(out[name] - math.log(p)) < 1.0
    # model-level functions agree with the dict
    fs = out["key_frequencies"]
    assert full_loss(model, task, train) == pytest.approx(out["train_loss"])
    assert restricted_loss(model, task, fs) == pytest.approx(out["restricted_loss"])
    assert excluded_loss(model, task, fs, train) == pytest.approx(out["excluded_loss"])
    assert population_logits(model, task).dtype == torch.float64
    # whole population as the training set
    out_all = progress_measures(model, task, freqs=[1])
    assert out_all["test_loss"] is None and out_all["key_frequencies"] == [1]
    assert out_all["train_loss"] == pytest.approx(out_all["all_loss"])


@pytest.mark.parametrize("p,k,freqs", [(11, 2, [2, 5]), (7, 3, [1, 3])])
def test_perfect_fourier_logits_low_restricted_loss(p, k, freqs):
    task = ModularAddition(p, k)
    d = torch.arange(p, dtype=torch.float64)
    profile = 15.0 * sum(torch.cos(2 * math.pi * f * d / p) for f in freqs)
    model = FixedLogits(p, profile)
    train, _ = train_test_split(task.size, 0.3, seed=0)
    assert full_loss(model, task) < 1e-3
    assert restricted_loss(model, task, freqs) < 1e-3
    assert restricted_loss(model, task, freqs, train) == pytest.approx(restricted_loss(model, task, freqs))
    # removing the key frequencies leaves a constant: loss = log p
    assert excluded_loss(model, task, freqs, train) == pytest.approx(math.log(p), abs=1e-9)
    # restricting to only one of the two frequencies is worse than to both
    assert restricted_loss(model, task, freqs[:1]) > 1e3 * max(restricted_loss(model, task, freqs), 1e-9)
    # restricting to no frequency at all gives the uniform prediction
    assert restricted_loss(model, task, []) == pytest.approx(math.log(p), abs=1e-9)
    out = progress_measures(model, task, freqs=freqs, train_idx=train)
    assert out["fourier_variance_fraction"] == pytest.approx(1.0, abs=1e-10)
    assert out["test_acc"] == 1.0
