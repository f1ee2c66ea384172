"""Softmax-collapse diagnostics of cross-entropy metric rows (Prieto et al. 2025): training.evaluation."""
from __future__ import annotations

import pytest
import torch

from fourier_circuits.training.config import resolve_config
from fourier_circuits.training.evaluation import collapse_stats
from fourier_circuits.training.trainer import Trainer


def test_collapse_stats_on_hand_made_logits():
    y = torch.tensor([0, 1, 2, 0])
    z = torch.zeros(4, 3)
    z[0, 0], z[1, 1], z[2, 2], z[3, 1] = 30.0, 20.0, 5.0, 40.0   # rows 0, 1 collapse in float32; row 3 is wrong
    s32 = collapse_stats(z, y)
    assert s32["sc_fraction"] == 0.5 and s32["max_logit_gap"] == 40.0
    assert collapse_stats(z.double(), y)["sc_fraction"] == 0.0      # float64 rounds to 1 only beyond a gap of ~37
    assert -1.0 <= s32["nlm_cosine"] <= 1.0 and s32["nlm_fraction"] == pytest.approx(s32["nlm_cosine"] ** 2)
    # all rows right and confident: the descent direction is (almost) exactly "scale the logits up"
    conf = collapse_stats(torch.eye(3, dtype=torch.float64) * 3.0, torch.arange(3))
    assert conf["nlm_cosine"] == pytest.approx(1.0)
    assert collapse_stats(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long))["sc_fraction"] is None


def _run(dtype: str) -> list[dict]:
    # wd 0, constant lr 3e-2, whole population: the train loss falls to ~7e-9 in 1000 steps, with logit
    # gaps of ~22: past float32's one-hot threshold (~17) and short of float64's (~37)
    cfg = resolve_config(model="transformer", recipe="tf", p=5, k=2, n_heads=2, d_model=16, d_head=8, d_mlp=32,
                         train_fraction=1.0, weight_decay=0.0, lr=3e-2, lr_schedule="constant", steps=1000,
                         n_evals=4, dtype=dtype, device="cpu")
    trainer = Trainer(cfg, progress=False)
    trainer.run()
    return trainer.history


def test_float32_run_collapses_and_float64_run_of_the_same_seed_does_not():
    rows32, rows64 = _run("float32"), _run("float64")
    for rows in (rows32, rows64):
        assert all(k in r for r in rows for k in ("sc_fraction", "max_logit_gap", "nlm_cosine", "nlm_fraction"))
        assert {"train_loss", "test_loss", "train_accuracy", "test_accuracy", "margin"} <= set(rows[-1])
        assert rows[-1]["train_loss"] < 1e-7
    assert rows32[0]["sc_fraction"] == 0.0
    assert rows32[-1]["sc_fraction"] > 0
    # defined on the run's own dtype: at the same ~1e-8 loss the float64 run has no one-hot row. (Early on, at
    # lr 3e-2, a transient Adam spike (step ~32, gap ~52) collapses 1 of 25 rows even in float64.)
    assert rows64[-1]["sc_fraction"] == 0.0 and rows64[-1]["max_logit_gap"] < 37


def _polynet_ce_run(dtype: str, run_dir=None) -> list[dict]:
    # [LI]'s cross-entropy + AdamW on a homogeneous PolyNet, no penalty and no weight decay, lr 0.05, whole population: after
    # 400 steps the train loss is ~1.4e-7 with logit gaps of ~28, between float32's one-hot threshold (~17)
    # and float64's (~37)
    cfg = resolve_config(recipe="li", p=5, k=2, width=20, regularizer="none", lam=0.0, weight_decay=0.0, lr=0.05,
                         lr_schedule="constant", steps=400, n_evals=5, train_fraction=1.0, batch_size=None,
                         dtype=dtype, device="cpu")
    if run_dir is not None:
        from fourier_circuits.runs.train import train
        train(cfg, run_dir, progress=False)
        from fourier_circuits.runs.store import read_metrics
        return read_metrics(run_dir)
    trainer = Trainer(cfg, progress=False)
    trainer.run()
    return trainer.history


def test_cross_entropy_polynet_rows_carry_margins_and_collapse(tmp_path):
    from fourier_circuits.runs.analyze import analyze_run
    rows32 = _polynet_ce_run("float32", tmp_path / "f32")
    rows64 = _polynet_ce_run("float64")
    for rows in (rows32, rows64):
        assert all(r["normalized_margin"] is not None and r["sc_fraction"] is not None for r in rows)
        assert rows[-1]["train_loss"] < 1e-6 and 17 < rows[-1]["max_logit_gap"] < 37
    assert rows32[0]["sc_fraction"] == 0.0 and rows32[-1]["sc_fraction"] > 0.5
    assert rows64[-1]["sc_fraction"] == 0.0
    summary = analyze_run(tmp_path / "f32")
    assert summary["sc_fraction_max"] == max(r["sc_fraction"] for r in rows32)
    assert any(f.endswith("softmax_collapse.png") for f in summary["figures"])


def test_margin_recipe_rows_have_no_collapse_keys():
    trainer = Trainer(resolve_config(p=5, k=2, width=16, steps=20, polish_iters=0), progress=False)
    trainer.run()
    assert "sc_fraction" not in trainer.history[-1]   # softmin on the sphere: the logits stay bounded
