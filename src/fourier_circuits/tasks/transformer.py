"""The transformer on tokenized k-input modular addition ([LI] §5, Nanda et al.'s grokking setting): a model
kind on the modadd population (config `model = transformer`).

Tokens [a_1, op, .., a_k, =] (or [a_1, .., a_k, =] with op_token = false), cross-entropy only (the logits
are not homogeneous in θ, so there is no γ* and no normalized margin). The analysis reads the token-space
W^KQ of the layer-0 heads (`attention`), the key frequencies of the number embedding and Nanda et al.'s
progress measures at every saved checkpoint.
"""
from __future__ import annotations

import math

from fourier_circuits.errors import ConfigError
from fourier_circuits.tasks.base import RunView, TaskKind, element_size
from fourier_circuits.tasks.modadd import make_task


def validate(cfg) -> None:
    """A transformer trains on tokenized modular addition with cross-entropy (no margin-sphere machinery)."""
    if cfg.task != "modadd":
        raise ConfigError(f"model transformer is implemented for task modadd only, got task={cfg.task!r}")
    if cfg.objective != "ce":
        raise ConfigError(f"model transformer trains with objective ce (its logits are not homogeneous, so the "
                          f"normalized-margin objective is undefined), got objective={cfg.objective!r}")
    if cfg.normalize:
        raise ConfigError("model transformer needs normalize = false (no ‖θ‖_{2,ν} sphere), got normalize=True")
    if cfg.regularizer == "l2nu":
        raise ConfigError("model transformer supports regularizer none or l2 (or AdamW weight_decay), "
                          "got regularizer='l2nu'")
    transformer_config(cfg)  # the shapes: TransformerConfig checks them (ConfigError)


# Training recipes whose model keeps its biases at zero, frozen (TransformerLens' Grokking demo: recipe "tl").
# TrainConfig has no bias key of its own, so the recipe carries it (a `freeze_biases` TrainConfig key would
# be the general form).
FROZEN_BIAS_RECIPES = ("tl",)


def transformer_config(cfg):
    """The TransformerConfig of a run (init std = init_scale / sqrt(d_model); frozen zero biases under the
    recipes of FROZEN_BIAS_RECIPES)."""
    from fourier_circuits.models.transformer_config import TransformerConfig
    return TransformerConfig.for_modadd(cfg.p, cfg.k, n_layers=cfg.n_layers, n_heads=cfg.n_heads,
                                        d_model=cfg.d_model, d_head=cfg.d_head, d_mlp=cfg.d_mlp,
                                        layer_norm=cfg.layer_norm, init_std=cfg.init_scale / math.sqrt(cfg.d_model),
                                        seed=cfg.seed, op_token=cfg.op_token,
                                        freeze_biases=cfg.recipe in FROZEN_BIAS_RECIPES)


def build_model(cfg, task, device, dtype):
    import torch

    from fourier_circuits.models.transformer import Transformer
    # multithreaded CPU autograd of the transformer (embedding backward) sums in a varying order:
    # without this, the same seed gave train losses 6.6e-4, 7.9e-4, 6.4e-4 in three processes
    torch.use_deterministic_algorithms(True, warn_only=True)
    return Transformer(transformer_config(cfg)).to(device=device, dtype=dtype)


def encode_inputs(cfg, task, inputs):
    """Tokenize once: batches are rows of the token table."""
    from fourier_circuits.models.transformer import tokenize_modadd
    return tokenize_modadd(inputs, task.p, cfg.op_token)


def n_tokens(cfg) -> int:
    return 2 * cfg.k if cfg.op_token else cfg.k + 1


def estimate(cfg, task) -> dict[str, int]:
    """Tokens of the population; the activations autograd keeps for one batch (values per row as in
    `Transformer`'s evaluation chunks, ×2 for their gradients); parameters with AdamW's state."""
    elem, P, L = element_size(cfg), n_tokens(cfg), cfg.n_layers
    rows = max(1, round(cfg.train_fraction * task.size))
    batch = min(rows, cfg.batch_size or rows)
    per_row = (P * (6 * cfg.d_model + 4 * cfg.n_heads * cfg.d_head + 2 * cfg.d_mlp)
               + 2 * cfg.n_heads * P * P + 2 * task.n_classes)
    per_layer = 4 * cfg.n_heads * cfg.d_head * cfg.d_model + 2 * cfg.d_model * cfg.d_mlp + cfg.d_mlp + cfg.d_model
    n_params = (task.p + 2 + P) * cfg.d_model + L * per_layer + cfg.d_model * task.n_classes
    return {"population": task.size * (P + 1) * 8, "activations": 2 * L * batch * per_row * elem,
            "parameters": n_params * (4 * elem + 8)}


def progress_over_checkpoints(run: RunView, freqs: list[int]) -> list[dict]:
    """Nanda et al.'s progress measures at every saved checkpoint, tracking the key frequencies `freqs` of
    the final embedding: train / test loss, restricted loss (only the key-frequency directions of the
    logits kept) and excluded loss (those directions removed; train rows). One row per checkpoint."""
    from fourier_circuits.analysis.progress_measures import progress_measures
    if not freqs:
        return []
    rows = []
    for step, model in run.checkpoints():
        m = progress_measures(model, run.task, freqs, run.train_idx)
        rows.append({"step": step, **{k: m[k] for k in ("train_loss", "test_loss", "restricted_loss",
                                                         "excluded_loss", "train_acc", "test_acc")}})
    return rows


def analyze(run: RunView) -> tuple[dict, list]:
    """Per head of layer 0, the 2-D Fourier sparsity of the token-space W^KQ (max normalized pair power,
    pairs for 90% of the power) for the final and the step-0 parameters, the key frequencies of the
    number-token embedding, the first logged step where train / test accuracy reach 0.99, the test-loss
    collapse step, the progress measures (when wanted: `RunView.wants`), and figures (head_qk: [LI] Fig 3
    panels for the two sparsest heads; accuracy: accuracy vs step; progress_measures)."""
    import numpy as np

    from fourier_circuits.analysis.attention import all_heads_qk, heads_sparsity, plot_head
    from fourier_circuits.analysis.curves import first_step_at, test_loss_collapse_step
    from fourier_circuits.analysis.progress_measures import embedding_key_frequencies
    cfg, metrics = run.cfg, run.metrics
    matrices = all_heads_qk(run.model, 0)
    final = heads_sparsity(matrices)
    init = heads_sparsity(all_heads_qk(run.init_model, 0)) if run.init_model is not None else None
    last = metrics[-1] if metrics else {}
    summary = {
        "model": "transformer", "p": cfg.p, "k": cfg.k, "n_layers": cfg.n_layers, "n_heads": cfg.n_heads,
        "head_max_power": [float(x) for x in final["max_power"]],
        "head_argmax_pair": [[int(u), int(v)] for u, v in final["argmax_pair"]],
        "head_n_pairs_90": [int(x) for x in final["n_pairs_90"]],
        "head_power_median": float(np.median(final["max_power"])),
        "head_power_median_init": float(np.median(init["max_power"])) if init is not None else None,
        "n_pairs_90_median": float(np.median(final["n_pairs_90"])),
        "n_pairs_90_median_init": float(np.median(init["n_pairs_90"])) if init is not None else None,
        "key_frequencies": embedding_key_frequencies(run.model, cfg.p).freqs,
        "train_acc_step": first_step_at(metrics, "train_accuracy"),
        "test_acc_step": first_step_at(metrics, "test_accuracy"),
        "test_loss_collapse_step": test_loss_collapse_step(metrics),
        "train_accuracy": last.get("train_accuracy"), "test_accuracy": last.get("test_accuracy"),
    }
    if run.wants("progress_measures"):   # a full analysis or its figure: a forward pass per checkpoint
        summary["progress"] = progress_over_checkpoints(run, summary["key_frequencies"])
    if run.fig_dir is None:
        return summary, []
    from fourier_circuits.analysis.plots import plot_accuracy_curve, plot_progress_measures
    figures = []
    if run.draws("head_qk"):
        for h in np.argsort(-final["max_power"], kind="stable")[:2]:
            figures += plot_head(matrices[int(h)], run.fig_dir / f"head_{int(h)}_qk", title=f"layer 0, head {int(h)}")
    rows = [r for r in metrics if r.get("train_accuracy") is not None]
    if rows and run.draws("accuracy"):
        figures += plot_accuracy_curve([r["step"] for r in rows], [r["train_accuracy"] for r in rows],
                                       [r["test_accuracy"] for r in rows], run.fig_dir / "accuracy")
    if summary.get("progress") and run.draws("progress_measures"):
        figures += plot_progress_measures(summary["progress"], run.fig_dir / "progress_measures")
    return summary, figures


KIND = TaskKind(
    name="transformer", make_task=make_task, build_model=build_model, gamma_star=lambda cfg, model: None,
    run_label=lambda cfg: (f"modadd-p{cfg.p}-k{cfg.k}-tf-L{cfg.n_layers}-H{cfg.n_heads}-d{cfg.d_model}"
                           f"-{cfg.recipe}"),
    estimate=estimate, analyze=analyze, validate=validate, encode_inputs=encode_inputs, options=("p", "k"),
    describe=lambda cfg: f"transformer p={cfg.p} k={cfg.k} seed {cfg.seed}", default_recipe="tf",
    brief=("head_power_median", "head_power_median_init", "key_frequencies", "train_acc_step", "test_acc_step"),
    is_task=False,
)
