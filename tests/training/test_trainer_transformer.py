"""Transformers on k-input modular addition through the common training loop and run store."""
import json

import pytest
import torch
from click.testing import CliRunner

from fourier_circuits.cli import main
from fourier_circuits.errors import ConfigError
from fourier_circuits.models.transformer import Transformer
from fourier_circuits.runs import store as runstore
from fourier_circuits.runs.analyze import analyze_run
from fourier_circuits.runs.checkpoints import load_run
from fourier_circuits.runs.naming import default_run_name
from fourier_circuits.runs.train import train
from fourier_circuits.training.config import resolve_config
from fourier_circuits.training.presets import PRESETS
from fourier_circuits.training.trainer import Trainer

TINY = dict(model="transformer", p=7, k=2, train_fraction=0.5, n_heads=2, d_model=32, d_head=16, d_mlp=64,
            weight_decay=0.1, lr=3e-3, device="cpu", n_evals=20, n_checkpoints=6)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run fastest (and unaffected by other CPU jobs) on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    cfg = resolve_config(steps=300, **TINY)
    run_dir = tmp_path_factory.mktemp("tf") / "run"
    return cfg, run_dir, train(cfg, run_dir, progress=False)


def test_transformer_defaults_to_tf_recipe():
    cfg = resolve_config(model="transformer", p=7)
    assert (cfg.recipe, cfg.objective, cfg.optimizer, cfg.normalize, cfg.weight_decay) == ("tf", "ce", "adamw", False, 1.0)
    assert (cfg.n_layers, cfg.n_heads, cfg.d_model, cfg.d_head, cfg.d_mlp, cfg.layer_norm) == (1, 4, 128, 32, 512, False)
    assert cfg.train_fraction == 0.3 and cfg.batch_size is None and not cfg.early_stop
    assert "-tf-L1-H4-" in default_run_name(cfg)
    assert resolve_config(p=7).model == "polynet" and resolve_config(p=7).recipe == "fast"


@pytest.mark.parametrize("bad,match", [(dict(objective="softmin"), "objective"), (dict(normalize=True), "normalize"),
                                       (dict(regularizer="l2nu", lam=1e-3), "regularizer"),
                                       (dict(task="parity", n=6, k=2, p=None), "modadd"), (dict(n_heads=0), "n_heads")])
def test_bad_transformer_config(bad, match):
    with pytest.raises(ConfigError, match=match):
        resolve_config(**{"model": "transformer", "p": 7, **bad})


def test_transformer_presets_resolve():
    for name in [n for n in PRESETS if n.startswith(("nanda", "li-tf", "li-grok", "tl-"))]:
        cfg = resolve_config(preset=name)
        assert cfg.model == "transformer" and cfg.objective == "ce" and not cfg.normalize
    cfg = resolve_config(preset="li-grok-k4")
    assert (cfg.p, cfg.k, cfg.n_layers, cfg.n_heads, cfg.d_model, cfg.weight_decay) == (11, 4, 2, 160, 128, 1e-3)


def test_tl_grok_preset_is_the_transformerlens_demo_and_runs():
    """tl-grok: TransformerLens' Grokking demo setting by setting; builds and runs 20 full-batch steps."""
    cfg = resolve_config(preset="tl-grok")
    assert (cfg.recipe, cfg.p, cfg.k, cfg.op_token, cfg.train_fraction, cfg.batch_size, cfg.steps) == (
        "tl", 113, 2, False, 0.3, None, 25000)
    assert (cfg.optimizer, cfg.lr, cfg.weight_decay, cfg.betas, cfg.lr_schedule, cfg.warmup_steps) == (
        "adamw", 1e-3, 1.0, [0.9, 0.98], "constant", 0)
    assert (cfg.n_layers, cfg.n_heads, cfg.d_model, cfg.d_head, cfg.d_mlp, cfg.layer_norm) == (1, 4, 128, 32, 512, False)
    assert cfg.init_scale == 0.8 and cfg.n_checkpoints == 251
    trainer = Trainer(resolve_config(preset="tl-grok", steps=20, n_evals=5, device="cpu"), progress=False)
    model = trainer.model
    assert model.cfg.n_classes == 113 and model.cfg.vocab == 114 and model.cfg.freeze_biases
    assert model.cfg.std == pytest.approx(0.8 / 128**0.5)
    assert abs(float(model.W_U.detach().std()) / model.cfg.std - 1) < 0.05      # the unembedding too
    biases = [q for n, q in model.named_parameters() if n.endswith(("b_in", "b_out"))]
    assert biases and all(not q.requires_grad for q in biases)
    res = trainer.run()
    assert res["steps"] == 20 and all(not q.any() for q in biases)
    assert trainer.history[-1]["train_loss"] < trainer.history[0]["train_loss"]
    assert trainer.history[-1]["sc_fraction"] is not None


def test_tiny_transformer_trains(tiny_run):
    cfg, run_dir, res = tiny_run
    assert res["status"] == "done" and res["steps"] == 300
    assert res["train_accuracy"] >= 0.95 and res["test_accuracy"] is not None
    assert res["normalized_margin"] is None and res["margin_ratio"] is None and res["gamma_star"] is None
    rows = runstore.read_metrics(run_dir)
    assert rows[0]["step"] == 0 and rows[-1]["step"] == 300
    assert all(r["normalized_margin"] is None and r["norm"] is None for r in rows)
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    cfg2, model, _ = load_run(run_dir)
    assert isinstance(model, Transformer) and cfg2 == cfg
    assert train(cfg, run_dir, progress=False) == res  # finished: the stored result


def test_transformer_resume_is_exact(tiny_run, tmp_path, monkeypatch):
    cfg, full_dir, full = tiny_run
    run_dir = tmp_path / "killed"
    calls = {"n": 0}
    original = Trainer._forward_backward

    def dies_at_150(self, batch):
        calls["n"] += 1
        if calls["n"] > 150:
            raise KeyboardInterrupt
        return original(self, batch)

    monkeypatch.setattr(Trainer, "_forward_backward", dies_at_150)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, run_dir, progress=False)
    monkeypatch.setattr(Trainer, "_forward_backward", original)
    saved = runstore.load_arrays(run_dir / "last.npz")[1]["step"]
    assert 0 < saved < 300
    resumed = train(cfg, run_dir, progress=False)
    assert resumed["steps"] == 300
    assert resumed["train_loss"] == pytest.approx(full["train_loss"], rel=1e-4, abs=1e-7)
    assert resumed["test_accuracy"] == full["test_accuracy"]
    _, a, _ = load_run(full_dir)
    _, b, _ = load_run(run_dir)
    for (name, x), (_, y) in zip(a.named_parameters(), b.named_parameters()):
        torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-6, msg=name)


def test_analyze_transformer_run(tiny_run):
    _, run_dir, _ = tiny_run
    s = analyze_run(run_dir)
    for key in ("head_power_median", "head_power_median_init", "n_pairs_90_median", "key_frequencies",
                "train_acc_step", "test_acc_step"):
        assert key in s
    assert 0 < s["head_power_median"] <= 1 and 0 < s["head_power_median_init"] <= 1
    assert len(s["head_max_power"]) == 2 and s["n_pairs_90_median"] >= 1
    assert set(s["key_frequencies"]) <= {1, 2, 3} and s["key_frequencies"]
    assert 0 < s["train_acc_step"] <= 300
    assert s["test_acc_step"] is None or s["test_acc_step"] >= 0
    names = {p.split("/")[-1] for p in s["figures"]}
    assert "accuracy.png" in names and sum(n.startswith("head_") and n.endswith(".png") for n in names) == 2
    assert json.loads((run_dir / "analysis.json").read_text())["head_power_median"] == s["head_power_median"]
    # progress measures: one row per checkpoint, train loss falling, restricted loss finite
    from fourier_circuits.runs.checkpoints import checkpoint_steps
    rows = s["progress"]
    assert [r["step"] for r in rows] == checkpoint_steps(run_dir)
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    assert all(r["restricted_loss"] > 0 and r["excluded_loss"] > 0 for r in rows)
    assert "progress_measures.png" in names


def test_cli_train_and_analyze_transformer(tmp_path):
    out = tmp_path / "tf"
    args = ["train", "--model", "transformer", "--p", "5", "--k", "2", "--n-layers", "2", "--n-heads", "2",
            "--d-model", "16", "--steps", "30", "--train-fraction", "0.6", "--device", "cpu",
            "--set", "d_head=8", "--set", "d_mlp=32", "--no-progress", "--json", "--out", str(out)]
    res = CliRunner().invoke(main, args, env={runstore.RUNS_ENV: str(tmp_path / "runs")})
    assert res.exit_code == 0, (res.stdout, res.stderr, res.exception)
    data = json.loads(res.stdout)
    assert data["steps"] == 30 and data["margin_ratio"] is None and 0 <= data["train_accuracy"] <= 1
    cfg = json.loads((out / "config.json").read_text())
    assert (cfg["model"], cfg["recipe"], cfg["n_layers"], cfg["n_heads"], cfg["d_model"]) == ("transformer", "tf", 2, 2, 16)
    res = CliRunner().invoke(main, ["analyze", str(out), "--no-plots", "--json"])
    assert res.exit_code == 0, (res.stdout, res.stderr, res.exception)
    data = json.loads(res.stdout)
    assert {"head_power_median", "head_power_median_init", "key_frequencies", "train_acc_step", "test_acc_step"} <= set(data)
    text = CliRunner().invoke(main, ["analyze", str(out), "--no-plots"])
    assert text.exit_code == 0 and "head_power_median_init" in text.stdout and "n_significant" not in text.stdout
    bad = CliRunner().invoke(main, ["train", "--model", "transformer", "--p", "5", "--set", "objective='softmin'",
                                    "--json", "--out", str(tmp_path / "bad")])
    assert bad.exit_code == 2 and "objective" in bad.stderr and not (tmp_path / "bad").exists()


def test_same_seed_same_result_across_processes():
    """Two fresh processes (default threads) training the same transformer config end bit-identical."""
    import subprocess
    import sys
    code = ("from fourier_circuits.training.config import resolve_config; from fourier_circuits.runs.train import train\n"
            "cfg = resolve_config(model='transformer', p=7, k=3, n_heads=4, d_head=32, train_fraction=0.5, "
            "weight_decay=1.0, lr=3e-3, steps=60, device='cpu')\n"
            "print(repr(train(cfg, None, progress=False)['train_loss']))")
    losses = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
              for _ in range(3)]
    assert len(set(losses)) == 1, losses


def test_nanda_layout_trains_and_analyzes(tmp_path):
    """op_token=False ([a, b, =], the nanda-grok preset's layout) runs through training, resume and analysis."""
    assert PRESETS["nanda-grok"]["op_token"] is False
    cfg = resolve_config(steps=120, op_token=False, **TINY)
    res = train(cfg, tmp_path / "run", progress=False)
    assert res["train_accuracy"] >= 0.9
    _, model, _ = load_run(tmp_path / "run")
    assert (model.cfg.n_ctx, model.cfg.vocab) == (3, 8) and model.W_pos.shape[0] == 3
    s = analyze_run(tmp_path / "run")
    assert 0 < s["head_power_median"] <= 1 and s["progress"][-1]["train_loss"] < s["progress"][0]["train_loss"]
    lean = analyze_run(tmp_path / "run", plots=["accuracy"])   # reproduce's: progress measures only for their figure
    assert "progress" not in lean and lean["head_power_median"] == s["head_power_median"]
    assert {p.split("/")[-1] for p in lean["figures"]} == {"accuracy.png", "accuracy.svg"}
