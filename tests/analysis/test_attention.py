"""Token-space W^KQ and its 2-D Fourier sparsity."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fourier_circuits.analysis.attention import (
    all_heads_qk,
    canonical_pair,
    frequency_pairs,
    head_sparsity,
    heads_sparsity,
    merged_pair_power,
    plot_head,
    power_spectrum_2d,
    token_space_qk,
)
from fourier_circuits.models.transformer import Transformer, TransformerConfig, tokenize_modadd


def cos2d(p: int, u: int, v: int, phi: float = 0.0, amp: float = 1.0) -> torch.Tensor:
    a = torch.arange(p, dtype=torch.float64)
    return amp * torch.cos(2 * math.pi * (u * a[:, None] + v * a[None, :]) / p + phi)


def test_frequency_pairs_partition():
    for p in (3, 5, 7, 11):
        pairs = frequency_pairs(p)
        assert len(pairs) == (p * p + 1) // 2
        seen = set()
        for u, v in pairs.tolist():
            assert canonical_pair(u, v, p) == (u, v)
            seen |= {(u, v), ((-u) % p, (-v) % p)}
        assert len(seen) == p * p


def test_merged_power_conserves_total():
    m = torch.randn(4, 7, 7, generator=torch.Generator().manual_seed(0))
    power = power_spectrum_2d(m)
    merged, _ = merged_pair_power(power)
    torch.testing.assert_close(merged.sum(-1), power.sum((-1, -2)))
    # Parseval: Σ |F̂|² = p² Σ M²
    torch.testing.assert_close(power.sum((-1, -2)), 49 * (m.double() ** 2).sum((-1, -2)))


@pytest.mark.parametrize("p,u,v,phi", [(7, 2, 5, 0.3), (11, 0, 3, 1.0), (11, 4, 0, -2.0), (5, 4, 4, 0.0)])
def test_pure_cosine(p, u, v, phi):
    s = head_sparsity(cos2d(p, u, v, phi))
    assert s["argmax_pair"] == canonical_pair(u, v, p)
    assert s["max_power"] == pytest.approx(1.0, abs=1e-12)
    assert s["n_pairs_90"] == 1
    assert s["dc_power"] == pytest.approx(0.0, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    p=st.sampled_from([3, 5, 7, 11, 13, 17, 31]),
    u=st.integers(0, 100),
    v=st.integers(0, 100),
    phi=st.floats(-10, 10, allow_nan=False),
    offset=st.floats(-3, 3, allow_nan=False),
)
def test_pure_cosine_hypothesis(p, u, v, phi, offset):
    if u % p == 0 and v % p == 0:
        v += 1
    m = cos2d(p, u, v, phi) + offset  # a constant offset lands in the DC bin only
    s = head_sparsity(m)
    uc, vc = s["argmax_pair"]
    assert (uc, vc) == canonical_pair(u, v, p)
    assert {(uc, vc), ((-uc) % p, (-vc) % p)} == {(u % p, v % p), ((-u) % p, (-v) % p)}
    assert s["max_power"] == pytest.approx(1.0, abs=1e-9)
    assert s["n_pairs_90"] == 1
    # DC fraction: offset² p² / (offset² p² + p²/2)
    assert s["dc_power"] == pytest.approx(offset**2 / (offset**2 + 0.5), abs=1e-9)


def test_two_pairs_known_weights():
    p = 13
    # amplitudes 2 and 1 -> powers 4:1 = 0.8, 0.2 -> two pairs for 90%
    m = cos2d(p, 3, 5, 0.7, amp=2.0) + cos2d(p, 1, 12, -0.2, amp=1.0)
    s = head_sparsity(m)
    assert s["argmax_pair"] == (3, 5)
    assert s["max_power"] == pytest.approx(0.8, abs=1e-12)
    assert s["n_pairs_90"] == 2
    # amplitudes 3 and 1 -> 0.9, 0.1 -> exactly 90% in one pair
    m = cos2d(p, 3, 5, amp=1.0) + cos2d(p, 12, 1, amp=3.0)  # (12, 1) ~ (1, 12)
    s = head_sparsity(m)
    assert s["argmax_pair"] == (1, 12)
    assert s["max_power"] == pytest.approx(0.9, abs=1e-12)
    assert s["n_pairs_90"] == 1
    merged, pairs = merged_pair_power(power_spectrum_2d(m))
    frac = merged / merged.sum()
    i = {tuple(x): j for j, x in enumerate(pairs.tolist())}
    assert frac[i[(3, 5)]].item() == pytest.approx(0.1)
    assert frac[i[(1, 12)]].item() == pytest.approx(0.9)
    # include_dc: normalise by total power; identical when the matrix has zero mean
    assert head_sparsity(m, include_dc=True)["max_power"] == pytest.approx(0.9)
    assert head_sparsity(m + 1.0, include_dc=True)["max_power"] < 0.9


def test_heads_sparsity_vectorized_matches_single():
    p = 11
    g = torch.Generator().manual_seed(0)
    mats = torch.stack([cos2d(p, 2, 7, 0.1), torch.randn(p, p, generator=g, dtype=torch.float64), cos2d(p, 0, 4) + 0.5 * cos2d(p, 5, 5)])
    r = heads_sparsity(mats)
    assert r["max_power"].shape == (3,) and r["argmax_pair"].shape == (3, 2) and r["n_pairs_90"].shape == (3,)
    for h in range(3):
        s = head_sparsity(mats[h])
        assert s["max_power"] == pytest.approx(r["max_power"][h])
        assert s["argmax_pair"] == tuple(r["argmax_pair"][h])
        assert s["n_pairs_90"] == r["n_pairs_90"][h]
    assert r["n_pairs_90"][1] > 10  # random matrix: spread spectrum
    zero = head_sparsity(np.zeros((5, 5)))
    assert zero["max_power"] == 0.0 and zero["n_pairs_90"] == 0


def hand_built(p: int, u: int, v: int, n_heads: int = 2, layer_norm: bool = False) -> Transformer:
    """One-hot W_E; head 0 has W_Q[a] = (cos, sin)(2πua/p), W_K[b] = (cos, sin)(2πvb/p), so
    M[a, b] = cos(2π(ua - vb)/p)."""
    cfg = TransformerConfig.for_modadd(p, 2, n_heads=n_heads, d_head=2, d_model=p + 2, d_mlp=0, layer_norm=layer_norm)
    model = Transformer(cfg)
    a = torch.arange(p, dtype=torch.float32)
    with torch.no_grad():
        model.W_E.copy_(torch.eye(p + 2))
        model.W_pos.zero_()
        model.blocks[0].W_Q[0].zero_()
        model.blocks[0].W_K[0].zero_()
        model.blocks[0].W_Q[0, :p] = torch.stack([torch.cos(2 * math.pi * u * a / p), torch.sin(2 * math.pi * u * a / p)], 1)
        model.blocks[0].W_K[0, :p] = torch.stack([torch.cos(2 * math.pi * v * a / p), torch.sin(2 * math.pi * v * a / p)], 1)
    return model


@pytest.mark.parametrize("p,u,v", [(7, 1, 3), (11, 4, 2), (13, 6, 0)])
def test_hand_built_transformer_recovers_frequency(p, u, v):
    model = hand_built(p, u, v)
    m = token_space_qk(model, layer=0, head=0)
    torch.testing.assert_close(m.double(), cos2d(p, u, -v), atol=1e-5, rtol=0)
    s = head_sparsity(m)
    assert s["argmax_pair"] == canonical_pair(u, -v, p)
    assert s["max_power"] == pytest.approx(1.0, abs=1e-6)
    assert s["n_pairs_90"] == 1
    # positions are zero here, so adding them changes nothing; scaling divides by sqrt(d_head)
    torch.testing.assert_close(token_space_qk(model, 0, 0, query_pos=-1, key_pos=0), m)
    torch.testing.assert_close(token_space_qk(model, 0, 0, scaled=True), m / math.sqrt(2))
    assert all_heads_qk(model, 0).shape == (2, p, p)


@pytest.mark.parametrize("layer_norm", [False, True])
def test_token_space_qk_matches_model_scores(layer_norm):
    """Layer 0 with positions given: scaled M equals the model's attention scores exactly (LN included)."""
    p = 7
    cfg = TransformerConfig.for_modadd(p, 2, n_heads=3, d_model=16, d_head=4, d_mlp=8, layer_norm=layer_norm, seed=2)
    model = Transformer(cfg)
    if layer_norm:  # non-trivial LN parameters
        with torch.no_grad():
            model.blocks[0].ln1.weight.uniform_(0.5, 1.5)
            model.blocks[0].ln1.bias.uniform_(-0.3, 0.3)
    a, b = torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij")
    # tokens [b, op, a, =]: query a at position 2, key b at position 0
    tokens = tokenize_modadd(torch.stack([b.flatten(), a.flatten()], 1), p)
    _, cache = model.run_with_cache(tokens, names=["blocks.0.attn.scores"])
    scores = cache["blocks.0.attn.scores"][:, :, 2, 0].T.reshape(3, p, p)  # (head, a, b)
    m = all_heads_qk(model, 0, query_pos=2, key_pos=0, scaled=True)
    torch.testing.assert_close(m, scores, atol=1e-5, rtol=1e-5)


def test_plot_head_writes_files(tmp_path):
    m = cos2d(13, 3, 5, 0.4) + 0.3 * cos2d(13, 1, 1)
    paths = plot_head(m, tmp_path / "sub" / "head0.png", title="hand-built head")
    assert [q.suffix for q in paths] == [".png", ".svg"]
    for q in paths:
        assert q.exists() and q.stat().st_size > 1000
