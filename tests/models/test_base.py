"""The common training interface of PolyNet, ParityNet and Transformer (`models.base`), each against the
model's own forward and autograd: rows_per_chunk / bytes_per_row, logits, backward_from_logits, nu, config."""
from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from fourier_circuits.models.base import CPU_FORWARD_ROWS, forward_rows
from fourier_circuits.models.parity import ParityNet
from fourier_circuits.models.polynet import PolyNet
from fourier_circuits.models.transformer import Transformer, TransformerConfig
from fourier_circuits.tasks.modadd import ModularAddition
from fourier_circuits.tasks.parity import SparseParity


def polynet(dtype=torch.float64):
    task = ModularAddition(5, 3)
    return PolyNet(5, 3, 6, 5, seed=2, dtype=dtype), task.inputs(), task.labels()


def paritynet(dtype=torch.float64):
    task = SparseParity(6, 3)
    return ParityNet(6, 5, 3, seed=2, dtype=dtype), task.inputs(dtype=dtype), task.labels()


def transformer(dtype=torch.float64, **kw):
    task = ModularAddition(5, 2)
    cfg = TransformerConfig.for_modadd(5, 2, n_heads=2, d_model=16, d_head=8, d_mlp=24, seed=3, **kw)
    model = Transformer(cfg).to(dtype)
    return model, model.tokenize(task.inputs()), task.labels()


MODELS = {"polynet": polynet, "parity": paritynet, "transformer": transformer,
          "transformer_ln": lambda dtype=torch.float64: transformer(dtype, layer_norm=True)}


def grads(model) -> list[torch.Tensor]:
    out = [q.grad.clone() for q in model.parameters()]
    model.zero_grad(set_to_none=True)
    return out


def interface_step(model, x, y, rows: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """A trainer step with no model-kind branch: logits, loss on them as a leaf, backward_from_logits."""
    xs = None if model.fused_population else x
    logits = model.logits(xs, rows).requires_grad_()
    F.cross_entropy(logits.double(), y).backward()
    model.backward_from_logits(xs, logits.grad, rows)
    return logits.detach(), grads(model)


def autograd_step(model, x, y) -> tuple[torch.Tensor, list[torch.Tensor]]:
    logits = model(x)
    F.cross_entropy(logits.double(), y).backward()
    return logits.detach(), grads(model)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("rows", [1, 7, 1 << 20])
def test_interface_step_matches_autograd(name, rows):
    model, x, y = MODELS[name]()
    got_logits, got = interface_step(model, x, y, rows)
    ref_logits, ref = autograd_step(model, x, y)
    assert torch.allclose(got_logits, ref_logits, rtol=1e-12, atol=1e-12)
    assert len(got) == len(ref)
    for a, b in zip(got, ref):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-12), (a - b).abs().max()


@pytest.mark.parametrize("name", ["parity", "transformer", "transformer_ln"])
def test_autograd_pass_is_bit_identical_to_autograd_float32(name):
    """AutogradPass runs the same forward and backward as loss(model(x)).backward()."""
    torch.manual_seed(0)
    model, x, y = MODELS[name](torch.float32)
    got_logits, got = interface_step(model, x, y, 3)
    ref_logits, ref = autograd_step(model, x, y)
    assert torch.equal(got_logits, ref_logits)
    for a, b in zip(got, ref):
        assert torch.equal(a, b)


@pytest.mark.parametrize("name", ["parity", "transformer"])
def test_autograd_pass_logits_without_grad_is_chunked_forward(name):
    model, x, _ = MODELS[name]()
    with torch.no_grad():
        ref = model(x)
        for rows in (1, 4, len(x), 1 << 20):
            out = model.logits(x, rows)
            assert not out.requires_grad and model._kept_output is None
            assert torch.allclose(out, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["parity", "transformer"])
def test_autograd_pass_accumulates_and_needs_logits_first(name):
    model, x, y = MODELS[name]()
    g = torch.randn(len(x), model(x).shape[1], generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with pytest.raises(ValueError, match="population"):
        model.logits(None, 8)
    with pytest.raises(RuntimeError, match="logits"):
        model.backward_from_logits(x, g, 8)
    (model(x) * g).sum().backward()
    ref = grads(model)
    for _ in range(2):                                  # two passes: .grad accumulates
        out = model.logits(x, 8)
        assert not out.requires_grad
        model.backward_from_logits(x, g, 8)
        assert model._kept_output is None               # the graph is dropped after its backward
    for a, b in zip(grads(model), ref):
        assert torch.allclose(a, 2 * b, rtol=1e-12, atol=1e-12)
    with pytest.raises(RuntimeError, match="logits"):
        model.backward_from_logits(x, g, 8)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("budget", [1, 100, 12345, 512 * 2**20])
def test_rows_per_chunk_one_hidden_layer(dtype, budget):
    """PolyNet and ParityNet: a row costs a (rows, m) activation and two temporaries."""
    for model in (polynet(dtype)[0], paritynet(dtype)[0]):
        assert model.bytes_per_row() == model.width * model.embed.element_size() * 3
        assert model.rows_per_chunk(budget) == max(1, budget // (model.width * model.embed.element_size() * 3))


@pytest.mark.parametrize("kw", [dict(), dict(op_token=False), dict(d_mlp=0, n_layers=2)])
@pytest.mark.parametrize("budget", [1, 10**5, 512 * 2**20])
def test_rows_per_chunk_transformer(kw, budget):
    model = Transformer(TransformerConfig.for_modadd(7, 3, n_heads=3, d_model=20, d_head=6, **kw))
    c = model.cfg
    for P in (c.n_ctx, 2):
        per_row = P * (6 * c.d_model + 4 * c.n_heads * c.d_head + 2 * c.d_mlp) + 2 * c.n_heads * P * P + 2 * c.n_classes
        assert model.bytes_per_row(P) == 8 * per_row
        assert model.rows_per_chunk(budget, P) == max(1, budget // (8 * per_row))
    assert model.rows_per_chunk(budget) == model.rows_per_chunk(budget, model.tokenize(torch.zeros(1, 3)).shape[1])


def test_nu_fused_population_and_config():
    poly, parity, tf = polynet()[0], paritynet()[0], transformer()[0]
    assert (poly.fused_population, parity.fused_population, tf.fused_population) == (True, False, False)
    assert (poly.nu, parity.nu, tf.nu) == (4, 4, None)
    assert tf.config() == {"kind": "transformer", **dataclasses.asdict(tf.cfg)}
    rebuilt = Transformer(TransformerConfig(**{k: v for k, v in tf.config().items() if k != "kind"}))
    assert rebuilt.cfg == tf.cfg
    assert parity.config()["model"] == "parity" and poly.config()["n_inputs"] == 3


def test_polynet_population_pass_is_patchable_through_the_interface(monkeypatch):
    """logits(None) / backward_from_logits(None) dispatch through PolyNet.population_pass."""
    seen = []

    def chunked_only(self, budget_rows=1 << 20):
        seen.append(budget_rows)
        return "chunked"

    monkeypatch.setattr(PolyNet, "population_pass", chunked_only)
    model, x, y = polynet()
    interface_step(model, x, y, 9)
    assert seen == [9, 9]


def test_forward_rows_caps_cpu_chunks_only():
    """CPU forward passes go at most CPU_FORWARD_ROWS rows at a time; smaller chunks and other devices keep theirs."""
    cpu, meta = torch.zeros(3, device="cpu"), torch.zeros(3, device="meta")
    assert forward_rows(50_000, cpu) == CPU_FORWARD_ROWS
    assert forward_rows(10, cpu) == 10
    assert forward_rows(50_000, meta) == 50_000
