"""Transformer: tokenization, activation-site cache (names, shapes), causality, trainability."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from fourier_circuits.models.transformer import Transformer, TransformerConfig, site_names, tokenize_modadd
from fourier_circuits.tasks.modadd import ModularAddition

CONFIGS = [
    dict(n_layers=1, d_mlp=0, layer_norm=False),
    dict(n_layers=1, d_mlp=24, layer_norm=True),
    dict(n_layers=2, d_mlp=24, layer_norm=False, act="gelu"),
    dict(n_layers=2, d_mlp=0, layer_norm=True),
]


def small(p: int = 5, k: int = 3, **kw) -> Transformer:
    base = dict(n_heads=3, d_model=16, d_head=4, seed=1)
    base.update(kw)
    return Transformer(TransformerConfig.for_modadd(p, k, **base))


def expected_shape(name: str, cfg: TransformerConfig, n: int, P: int) -> tuple[int, ...]:
    H, e = cfg.n_heads, cfg.d_head
    if name == "logits":
        return (n, cfg.n_classes)
    if name.endswith(("attn.q", "attn.k", "attn.v", "attn.z")):
        return (n, P, H, e)
    if name.endswith(("attn.scores", "attn.pattern")):
        return (n, H, P, P)
    if name.endswith(("mlp.pre", "mlp.post")):
        return (n, P, cfg.d_mlp)
    return (n, P, cfg.d_model)


def test_tokenize_layout():
    x = ModularAddition(5, 3).inputs()
    t = tokenize_modadd(x, 5)
    assert t.shape == (125, 6) and t.dtype == torch.long
    assert torch.equal(t[:, [0, 2, 4]], x)
    assert (t[:, [1, 3]] == 5).all() and (t[:, 5] == 6).all()
    assert tokenize_modadd(torch.tensor([[3, 1]]), 7).tolist() == [[3, 7, 1, 8]]


def test_tokenize_without_op_tokens():
    x = ModularAddition(5, 3).inputs()
    t = tokenize_modadd(x, 5, op_token=False)
    assert t.shape == (125, 4) and torch.equal(t[:, :3], x) and (t[:, 3] == 5).all()
    assert tokenize_modadd(torch.tensor([[3, 1]]), 7, op_token=False).tolist() == [[3, 1, 7]]
    cfg = TransformerConfig.for_modadd(7, 2, op_token=False)
    assert (cfg.vocab, cfg.n_ctx, cfg.n_classes) == (8, 3, 7)
    model = Transformer(cfg)
    assert model.tokenize(torch.tensor([[3, 1]])).tolist() == [[3, 1, 7]]
    assert small().tokenize(torch.tensor([[3, 1, 2]])).tolist() == [[3, 5, 1, 5, 2, 6]]


@pytest.mark.parametrize("kw", CONFIGS)
def test_cache_has_every_site_with_right_shape(kw):
    model = small(**kw)
    cfg = model.cfg
    tokens = tokenize_modadd(ModularAddition(5, 3).inputs()[:7], 5)
    logits, cache = model.run_with_cache(tokens)
    names = site_names(cfg)
    assert set(cache) == set(names) == set(model.site_names())
    assert len(names) == len(set(names))
    for name in names:
        assert cache[name].shape == expected_shape(name, cfg, 7, 6), name
    assert ("blocks.0.mlp.pre" in names) == (cfg.d_mlp > 0)
    assert ("ln_final.out" in names) == cfg.layer_norm
    assert f"blocks.{cfg.n_layers - 1}.resid_post" in names
    torch.testing.assert_close(cache["logits"], model(tokens))  # fast pass: same function, float32 rounding
    torch.testing.assert_close(logits, cache["logits"], rtol=0, atol=0)
    pattern = cache["blocks.0.attn.pattern"]
    torch.testing.assert_close(pattern.sum(-1), torch.ones(7, cfg.n_heads, 6))
    assert (pattern.triu(1) == 0).all()
    # residual bookkeeping
    b = "blocks.0."
    torch.testing.assert_close(cache[b + "resid_pre"], cache["embed"] + cache["pos_embed"])
    torch.testing.assert_close(cache[b + "resid_mid"], cache[b + "resid_pre"] + cache[b + "attn.out"])
    if cfg.d_mlp > 0:
        torch.testing.assert_close(cache[b + "resid_post"], cache[b + "resid_mid"] + cache[b + "mlp.out"])
    else:
        torch.testing.assert_close(cache[b + "resid_post"], cache[b + "resid_mid"])


@pytest.mark.parametrize("kw", CONFIGS + [dict(n_layers=3, d_mlp=24, layer_norm=True),
                                      dict(n_layers=2, d_mlp=24, op_token=False)])
def test_fast_forward_is_the_full_pass(kw):
    """forward (last-position queries, block-0 lookup tables) = the recorded full pass, values and gradients."""
    model = small(**kw).double()
    tokens = model.tokenize(ModularAddition(5, 3).inputs())
    full = model._forward(tokens, lambda name, t: None)
    fast = model(tokens)
    torch.testing.assert_close(fast, full, rtol=1e-12, atol=1e-12)
    weights = torch.randn(full.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    g_full = torch.autograd.grad((full * weights).sum(), list(model.parameters()))
    g_fast = torch.autograd.grad((fast * weights).sum(), list(model.parameters()))
    for (name, _), a, b in zip(model.named_parameters(), g_fast, g_full):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12, msg=name)
    assert any(float(g.abs().max()) > 0 for g in g_full)


def test_one_layer_forward_matches_a_written_out_reference():
    """The [a, b, =] one-layer model (no LayerNorm, ReLU MLP with biases, no attention biases, as in Nanda et al.)
    written out as plain einsums, masking with tril(S) − 1e10·(1 − mask) before the 1/√d_head scaling as their
    code does: same logits on our weights. Guards the grokking comparison against a silent architecture change."""
    p, e = 11, 8
    model = Transformer(TransformerConfig.for_modadd(p, 2, op_token=False, n_heads=2, d_model=16, d_head=e,
                                                     d_mlp=32, seed=5)).double()
    b = model.blocks[0]
    with torch.no_grad():  # non-zero biases so that they are exercised
        b.b_in.normal_(generator=torch.Generator().manual_seed(1)), b.b_out.normal_(generator=torch.Generator().manual_seed(2))
    tokens = model.tokenize(ModularAddition(p, 2).inputs())
    r = model.W_E[tokens] + model.W_pos[None]
    q, k, v = (torch.einsum("bpd,hde->bhpe", r, W) for W in (b.W_Q, b.W_K, b.W_V))
    scores = torch.einsum("bhqe,bhpe->bhqp", q, k)
    mask = torch.tril(torch.ones(3, 3, dtype=torch.float64))
    pattern = torch.softmax((torch.tril(scores) - 1e10 * (1 - mask)) / e ** 0.5, dim=-1)
    r = r + torch.einsum("bhqp,bhpe,hed->bqd", pattern, v, b.W_O)
    r = r + F.relu(r @ b.W_in + b.b_in) @ b.W_out + b.b_out
    reference = r[:, -1] @ model.W_U
    torch.testing.assert_close(model(tokens), reference, rtol=1e-12, atol=1e-12)
    logits, _ = model.run_with_cache(tokens)
    torch.testing.assert_close(logits, reference, rtol=1e-12, atol=1e-12)


def test_cache_subset_and_unknown_name():
    model = small()
    tokens = tokenize_modadd(ModularAddition(5, 3).inputs()[:4], 5)
    _, cache = model.run_with_cache(tokens, names=["blocks.0.attn.pattern", "logits"])
    assert set(cache) == {"blocks.0.attn.pattern", "logits"}
    with pytest.raises(KeyError):
        model.run_with_cache(tokens, names=["blocks.7.attn.pattern"])


@pytest.mark.parametrize("kw", CONFIGS)
def test_causality(kw):
    """Changing the token at the last position leaves every earlier position's activations unchanged."""
    model = small(**kw)
    t1 = tokenize_modadd(ModularAddition(5, 3).inputs()[:10], 5)
    t2 = t1.clone()
    t2[:, -1] = 0  # '=' -> a number token
    _, c1 = model.run_with_cache(t1)
    _, c2 = model.run_with_cache(t2)
    changed = False
    for name in model.site_names():
        if name == "logits":
            changed |= not torch.allclose(c1[name], c2[name])
            continue
        if name.endswith(("attn.scores", "attn.pattern")):  # (N, H, q, k): earlier queries
            a, b = c1[name][:, :, :-1], c2[name][:, :, :-1]
        else:  # (N, P, ...): earlier positions
            a, b = c1[name][:, :-1], c2[name][:, :-1]
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6, msg=name)
    assert changed


def test_shorter_sequence_and_bad_shape():
    model = small()
    assert model(torch.zeros(2, 3, dtype=torch.long)).shape == (2, 5)
    with pytest.raises(ValueError):
        model(torch.zeros(2, 7, dtype=torch.long))


def test_seeded_init_is_reproducible():
    a, b = small(seed=3), small(seed=3)
    for (n1, p1), (n2, p2) in zip(a.named_parameters(), b.named_parameters()):
        assert n1 == n2 and torch.equal(p1, p2)
    assert not torch.equal(a.W_E, small(seed=4).W_E)


def test_bad_config():
    with pytest.raises(ValueError):
        TransformerConfig.for_modadd(5, 2, act="tanh")
    with pytest.raises(ValueError):
        TransformerConfig.for_modadd(5, 2, d_mlp=-1)


@pytest.mark.parametrize("layer_norm", [False, True])
def test_tiny_model_overfits(layer_norm):
    task = ModularAddition(5, 2)
    tokens, labels = tokenize_modadd(task.inputs(), 5), task.labels()
    model = small(p=5, k=2, n_heads=2, d_model=32, d_head=16, d_mlp=64, layer_norm=layer_norm)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, betas=(0.9, 0.98), weight_decay=0.0)
    losses = []
    for _ in range(40):
        loss = F.cross_entropy(model(tokens), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
    assert (model(tokens).argmax(-1) == labels).float().mean() == 1.0


@pytest.mark.parametrize("layer_norm", [False, True])
def test_frozen_biases_stay_zero_and_untrained(layer_norm):
    """freeze_biases (TransformerLens' Grokking demo): every bias is 0, has no gradient and is neither stepped
    nor decayed by AdamW, while the weights train; the same weights as an unfrozen model of the same seed."""
    task = ModularAddition(5, 2)
    tokens, labels = tokenize_modadd(task.inputs(), 5), task.labels()
    model = small(p=5, k=2, d_mlp=8, layer_norm=layer_norm, freeze_biases=True)
    free = small(p=5, k=2, d_mlp=8, layer_norm=layer_norm)
    biases = {n: q for n, q in model.named_parameters() if n.rsplit(".", 1)[-1] in ("b_in", "b_out", "bias")}
    assert biases and all(not q.requires_grad and not q.any() for q in biases.values())
    assert {n for n, q in model.named_parameters() if q.requires_grad} == set(dict(free.named_parameters())) - set(biases)
    assert all(torch.equal(q, dict(free.named_parameters())[n]) for n, q in model.named_parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=1.0)
    w0 = model.W_U.detach().clone()
    for _ in range(3):
        opt.zero_grad()
        F.cross_entropy(model(tokens), labels).backward()
        opt.step()
    assert all(q.grad is None and not q.any() for q in biases.values())
    assert not torch.equal(model.W_U, w0)
    assert model.config()["freeze_biases"] is True
