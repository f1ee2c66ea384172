"""Named training recipes (how to train) and paper presets (what to train), all in one place.
Recipes (how to train):
  fast  (default) normalized-margin ascent: parameters kept on the unit ‖θ‖_{2,ν} sphere, Adam on the
        smoothed margin −(s/τ)·log Σ_{x, c≠y} exp(−τ (F_y − F_c)/s) of the normalized logits F = f(θ)/‖θ‖^ν
        (s = RMS of F from the previous step), τ annealed geometrically, lr decayed linearly; stops when the
        normalized margin has converged. See docs/concepts.md "The fast recipe".
  mo    [MO]: full-batch GD on cross-entropy + λ‖θ‖_{2,ν}^ν, λ = 1e−4, lr 0.05 doubled at steps 1k, 2k, .., 10k;
        init scale 10 (unstated in [MO]; at scale 1 GD barely moves in 3000 steps).
  li    [LI]: AdamW lr 5e−3, betas (0.9, 0.98), 10 warm-up steps, batch 1024, λ = 0.005 as AdamW's decoupled
        weight decay (see LI_LAMBDA_READING), 50/50 train/test split, 30 log-spaced metric rows.
  tf    transformers (model = transformer; the community grokking recipe): cross-entropy, AdamW lr 1e−3,
        betas (0.9, 0.98), 10 warm-up steps, weight decay 1.0, full batch, 30% train, 20000 steps, no
        normalization, no early stop (margins are not defined for a transformer). It is also the default
        recipe when model = transformer and no recipe is named.

Transformer presets ([LI] §5 and Fig 4; EXPERIMENTS.md). [LI] give "160 heads, hidden 128" and nothing else
about the shapes. 160 heads cannot split a 128-dim residual stream, so here d_model = 128 and every head has
d_head = 128 (a full 128×128 W^KQ per head, the object [LI] plot); d_mlp = 512 (4·d_model, unstated in [LI]);
no LayerNorm; batch 1024; steps (unstated) 20000. The `-cpu` variants shrink the heads (8, d_head 32) and,
where needed, p, so that each finishes in a few minutes on 2 CPU cores (li-grok-*-cpu: also weight decay
1.0 and lr 3e-3, see PRESETS).
"""
from __future__ import annotations

RECIPES: dict[str, dict] = {
    # fast: Adam for at most RECIPE_DEFAULTS_BY_DEGREE["fast"](d) steps (the lr decays linearly over them;
    # the run stops earlier once the margin has converged), dead neurons re-seeded at 1/2 and 3/4 of the
    # steps, then 3 to 5 L-BFGS polish stages of 300 iterations (training/refine.py). See docs/concepts.md
    # "The fast recipe". τ starts at 0.1 (in units of the RMS logit): near-uniform weights over all (x, c) pairs, so each
    # neuron first climbs the single-neuron objective, whose maximizers are single frequencies; from 1,
    # (5, 5, 1024) kept 13% mixed neurons (0.870 single-frequency share, 0.9857 γ*), from 0.1: 0.999, 0.9878.
    "fast": dict(reseed_below=0.05, polish_iters=300, tau_start=0.1),
    "mo": dict(objective="ce", optimizer="gd", lr=0.05, lr_schedule="doubling",
               lr_doubling_steps=[1000 * i for i in range(1, 11)], regularizer="l2nu", lam=1e-4,
               normalize=False, steps=40000, early_stop=False, init_scale=10.0),
    "li": dict(objective="ce", optimizer="adamw", lr=5e-3, betas=[0.9, 0.98], lr_schedule="warmup",
               warmup_steps=10, batch_size=1024, regularizer="none", lam=0.0, weight_decay=0.005, normalize=False,
               train_fraction=0.5, steps=20000, early_stop=False, n_evals=30),
    "tf": dict(model="transformer", objective="ce", optimizer="adamw", lr=1e-3, betas=[0.9, 0.98],
               lr_schedule="warmup", warmup_steps=10, weight_decay=1.0, regularizer="none", lam=0.0,
               train_fraction=0.3, batch_size=None, steps=20000, early_stop=False, normalize=False),
    # TransformerLens' Grokking demo: as tf, but a constant lr (no warm-up, no scheduler), every weight (the
    # unembedding included) N(0, (0.8/sqrt(d_model))²) and all biases zero and frozen (tasks/transformer.py
    # FROZEN_BIAS_RECIPES; the attention has no biases here at all, which is the same function), 25k epochs.
    "tl": dict(model="transformer", objective="ce", optimizer="adamw", lr=1e-3, betas=[0.9, 0.98],
               lr_schedule="constant", warmup_steps=0, weight_decay=1.0, regularizer="none", lam=0.0,
               train_fraction=0.3, batch_size=None, steps=25000, early_stop=False, normalize=False, init_scale=0.8),
}
"""The training recipes, name → the TrainConfig values it sets (how to train): `fast` (the default: ascend the
smoothed normalized margin on the unit ‖θ‖_{2,ν} sphere), `mo` and `li` (the papers' cross-entropy settings),
`tf` and `tl` (transformers). The module docstring says what each one does."""

# [LI]'s "λ = 0.005" for its networks: the paper does not say whether it is a penalty λ‖θ‖_{2,ν}^ν added to the
# loss or AdamW's weight decay. Read as the penalty (preset li-nn-k3-penalty), nothing is learned: li-nn-k3
# seed 0, 3000 steps: ‖θ‖_{2,4} falls from 11.0 to 0.001, the loss stays at ln 97, test accuracy 0.7%. The
# reason does not depend on the init: from a small init the logits are ≈ 0, and both the cross-entropy's
# gradient and the penalty's grow as ‖θ‖^{ν−1} (f is ν-homogeneous), so their ratio is fixed, and the penalty's
# (νλ per unit norm, 0.02) is far above the cross-entropy's pull along the best neuron (of the order of the
# single-neuron margin, ~γ* = 2e-5): Adam follows the penalty to θ = 0 (init scale 3: ‖θ‖ 32.9 → 23.1 in 32
# steps). As decoupled weight decay (θ ← θ − lr·λ·θ, 2.5e-5 of θ per step) it learns (3000 steps: train and
# test accuracy 0.9999). That is the reading of the li recipe. Measured feature emergence: README / docs results.
LI_LAMBDA_READING = "weight_decay"

_LI_TF = dict(recipe="tf", model="transformer", n_layers=1, n_heads=160, d_model=128, d_head=128, d_mlp=512,
              batch_size=1024, lr=1e-3, weight_decay=1e-3, train_fraction=0.5, steps=20000)
_LI_GROK = {**_LI_TF, "n_layers": 2, "n_evals": 100}
_CPU = dict(n_heads=8, d_head=32)

PRESETS: dict[str, dict] = {
    "mo-modadd-quadratic": dict(recipe="mo", p=71, k=2, width=500),
    "mo-modadd-relu": dict(recipe="mo", p=71, k=2, width=500, activation="relu", regularizer="l2"),
    # parity: init scale 1 ([MO] states none); with the mo recipe's 10 the degree-5 logits start at ~1e5 and
    # GD at lr 0.1 diverges at step 2. With 1: 0.9917 γ* after the 30,000 steps.
    "mo-parity-10-4": dict(recipe="mo", task="parity", n=10, k=4, p=None, width=40, init_scale=1.0, lr=0.1, lr_schedule="constant",
                           lr_doubling_steps=[], lam=1e-3, steps=30000),
    "mo-s3": dict(recipe="mo", task="group", group="S3", p=None, width=30, lam=1e-7, steps=50000,
                  lr_doubling_steps=[200 * i for i in range(1, 14)] + [5000, 10000]),
    # S4: [MO] states no optimizer and no step count. S3's schedule (13 doublings by step 2600, then at 5000 and
    # 10000) diverges on S4 at step 2618; with 10 doublings (lr 51.2 from step 2000) GD is stable and the margin
    # climbs slowly, so the preset stops the doublings there and runs until the margin levels off (seed 0):
    # 0.728 γ* at S3's 50,000 steps, 0.869 at 131k, 0.880 at 162k, 0.887 at 200k (single-irrep share 0.935).
    "mo-s4": dict(recipe="mo", task="group", group="S4", p=None, width=200, lam=1e-7, steps=200000,
                  lr_doubling_steps=[200 * i for i in range(1, 11)]),
    "mo-s5": dict(recipe="mo", task="group", group="S5", p=None, width=2000, lam=1e-5, steps=75000, batch_size=1000,
                  lr_doubling_steps=[3000 * i for i in range(1, 9)]),
    "li-nn-k3": dict(recipe="li", p=97, k=3, width=1536),
    "li-nn-k4": dict(recipe="li", p=47, k=4, width=2944),
    "li-nn-k5": dict(recipe="li", p=23, k=5, width=5632),
    # the other reading of [LI]'s λ (see LI_LAMBDA_READING): the penalty λ‖θ‖_{2,ν}^ν, no weight decay
    "li-nn-k3-penalty": dict(recipe="li", p=97, k=3, width=1536, regularizer="l2nu", lam=0.005, weight_decay=0.0),
    "li-nn-k4-penalty": dict(recipe="li", p=47, k=4, width=2944, regularizer="l2nu", lam=0.005, weight_decay=0.0),
    "li-nn-k5-penalty": dict(recipe="li", p=23, k=5, width=5632, regularizer="l2nu", lam=0.005, weight_decay=0.0),
    "nanda-grok": dict(recipe="tf", model="transformer", p=113, k=2, n_layers=1, n_heads=4, d_model=128,
                       d_head=32, d_mlp=512, train_fraction=0.3, weight_decay=1.0, lr=1e-3, batch_size=None,
                       steps=25000, n_evals=100, op_token=False),  # Nanda et al.'s [a, b, =] tokens
    # TransformerLens' Grokking demo, setting by setting (recipe tl): p = 113 (113 output classes, no '='
    # class), [a, b, =] tokens, 1 layer, 4 heads of 32, d_model 128, d_mlp 512, ReLU, no LayerNorm, 30% train,
    # full batch, AdamW lr 1e-3 wd 1.0 betas (0.9, 0.98), 25k epochs. The demo checkpoints every 100 epochs
    # and logs the loss every epoch; here checkpoints and metric rows are log-spaced (training/schedules.py),
    # so 251 checkpoints (its count: step 0 + 250) and 1000 rows (spacing ~1% of the step: ~140 near 14k).
    # Not matched: the demo's data/model seeds 598/999 index torch's RNG streams, which this split
    # (tasks/split.py) and init (one generator, parameters in a different order) do not reproduce.
    "tl-grok": dict(recipe="tl", model="transformer", p=113, k=2, n_layers=1, n_heads=4, d_model=128, d_head=32,
                    d_mlp=512, op_token=False, n_evals=1000, n_checkpoints=251),
    "li-tf-k3": dict(_LI_TF, p=61, k=3),
    "li-tf-k4": dict(_LI_TF, p=31, k=4),
    "li-tf-k5": dict(_LI_TF, p=17, k=5),
    "li-grok-k2": dict(_LI_GROK, p=97, k=2),
    "li-grok-k3": dict(_LI_GROK, p=31, k=3),
    "li-grok-k4": dict(_LI_GROK, p=11, k=4),
    "li-grok-k5": dict(_LI_GROK, p=5, k=5),
}
"""The presets, name → TrainConfig values (what to train: a paper's task, sizes and recipe), e.g.
`mo-modadd-quadratic`, `li-nn-k3`, `nanda-grok`; `-cpu` variants are shrunk to a few CPU minutes. Use one with
`resolve_config(preset=name)`; `fourier-circuits presets` lists them."""
# The li-grok ones also use weight decay 1.0 and lr 3e-3 (the [LI] 1e-3 / 1e-3 memorizes within ~200 steps
# but does not generalize within a CPU budget); with them test accuracy rises within ~1000 steps. All -cpu
# transformer presets decay the learning rate linearly to 0 after the warm-up: at a constant 3e-3, Adam's
# late loss spikes (k = 3: train accuracy 1.0 → 0.09 at step 373) undo what was learned.
# 50 log-spaced metric rows (100 until issue 15's cpu hour: each row is a forward pass over the whole
# population, ~10 training steps' worth at k = 3; rows 15% apart still resolve a 1.5× grokking delay).
_GROK_CPU = dict(_CPU, weight_decay=1.0, lr=3e-3, lr_schedule="linear", n_evals=50)
# CPU-scale variants (a few minutes each on 2 CPU cores; 8 heads of d_head 32, smaller p where needed). The
# li-tf ones use the same optimizer as li-grok: with [LI]'s weight decay 1e-3, k = 3 memorizes (train loss
# 1e-6) and test accuracy stalls at 0.98.
PRESETS.update({
    "nanda-grok-cpu": dict(PRESETS["nanda-grok"], p=59, steps=3000),
    "li-tf-k3-cpu": dict(_LI_TF, **_GROK_CPU, p=23, k=3, steps=1000),
    "li-tf-k4-cpu": dict(_LI_TF, **_GROK_CPU, p=11, k=4, steps=1000),
    "li-tf-k5-cpu": dict(_LI_TF, **_GROK_CPU, p=7, k=5, steps=1000),
    "li-grok-k2-cpu": dict(_LI_GROK, **{**_GROK_CPU, "lr_schedule": "warmup"}, p=97, k=2, steps=600),  # no spikes at k=2;
    # the linear decay slows its late test-accuracy climb (seed 0 ends at 0.989 instead of 1.0). 600 steps (1000
    # until the cpu hour was measured at 62.7 min): at a constant lr the first 600 steps are those of the
    # 1000-step run, whose seeds 0-2 reached test 99% at 487, 365, 422 and test 1.0 by step 649
    # k = 3 at [LI]'s p = 31 (29.8k triples; p = 17 until issue 15): seed 0 ends at test 0.998 in 1500 steps,
    # with train and test accuracy rising together (both ≥ 0.97 at step 1033: no grokking at this size)
    "li-grok-k3-cpu": dict(_LI_GROK, **_GROK_CPU, p=31, k=3, steps=1500),
    # k = 4, 5: 450 and 350 steps (1000 until issue 15's cpu hour, then 600: seeds 0-2 reached test 99% at
    # 270, 352, 236 (k = 4) and 139 (k = 5)). Seed 1, the latest, at the shorter decay: k = 4 train and test
    # 99% at 307, ends at test 0.9967; k = 5 at 132 and 149, ends at 0.9994 (124 s each, two 1-thread runs)
    "li-grok-k4-cpu": dict(_LI_GROK, **_GROK_CPU, p=11, k=4, steps=450),
    "li-grok-k5-cpu": dict(_LI_GROK, **_GROK_CPU, p=5, k=5, steps=350),
})

# Defaults that a recipe sets by the degree d of z^d, each only where the preset, file or overrides give none.
# The fast recipe's Adam phase needs ~2000 steps for the quadratic nets and ~8000 for d = 3, 4 ((4, 5, 256):
# 0.9922 γ* after 2000 steps, 0.9989 after 8000, then 0.99936 with the polish). For d ≥ 5 the softmin is
# annealed only to τ_end = 30 (τ_end 300: (5, 5, 1024) ends the 2000 Adam steps at 0.865 γ*, τ_end 100:
# 0.985, 30: 0.977, 10: 0.956; the polish stages then raise τ up to 100·τ_end and end them at
# 0.986–0.993). It needs far more steps than d ≤ 4: polished, (5, 5, 1024) seed 0 reaches 0.9928 γ* after
# 2000 steps, 0.9954 after 4000, 0.9976 after 8000 and 0.99900 after 20000 (τ_end 10: 0.99876); seeds 1, 2
# 0.99897, 0.99873 (1 thread, ~400 s each). The gap halves with each doubling of the steps: first-order
# progress on a margin whose last 0.5% is the neurons shedding their small off-frequency parts while keeping
# every (x, c) gap tied (at the 0.993 point all gaps agree to 1e-4 relative, and each neuron's single-neuron
# margin tracks its max power, correlation 0.996). The cap stays 8000: 20000 would not reach 0.999 on every
# seed either, and it costs k = 6, p = 3, m = 2048 (0.9998 γ* after 8000 steps in 168 s, 1 thread) 230 s on
# 2 threads, and (7, 5, 1536) or (5, 6, 4096) (117 ms and 596 ms a step) 40 min and 3.3 hours.
# For d ≤ 3, when the polished margin on modular addition is still < 0.999 γ*, up to 2 rounds even out the
# settled neurons over the frequencies and run the Adam phase (half as long) and the polish again
# (refine.py): the stalls below the bound are uneven splits ((5, 2, 12): 7/5 stalls at 0.9529 γ*, 6/6
# reaches γ*; (5, 3, 32): 0.9966 at best before, 0.99999 and 1.0 on seeds 1, 2 after). At the sufficient
# width d = 3, 4 reach 0.999 γ* without it. For d = 5 it helps but costs: (5, 5, 1024) with 2000 Adam steps
# 0.9922 → 0.9975 γ* in 120 s instead of 81 s (1 thread), too slow for the ci budget: no rounds for d ≥ 4.
RECIPE_DEFAULTS_BY_DEGREE = {
    "fast": lambda degree: dict(steps=2000, rebalance_rounds=2) if degree <= 2
    else dict(steps=8000, rebalance_rounds=2) if degree == 3 else dict(steps=8000) if degree == 4
    else dict(steps=8000, tau_end=30.0)}



def recipe_values(recipe: str, degree: int) -> dict:
    """What `recipe` sets by itself for a net of degree d: its RECIPES entry and its defaults by degree."""
    by_degree = RECIPE_DEFAULTS_BY_DEGREE.get(recipe)
    return {**RECIPES[recipe], **(by_degree(degree) if by_degree else {})}


# Recipe values changed since runs were written with them: recipe -> degree d -> {key: earlier values}. A run
# directory holding an earlier value, opened by a command that gets the recipe's current value, is still the
# run of that command (runs.train.prepare_run_dir), as with LATER_KEYS. The fast recipe started τ at 1 until
# it started at 0.1, ending it at 300 (d ≥ 5: at 10, until it ended at 30).
RECIPE_EARLIER_VALUES = {"fast": lambda degree: {"tau_start": (1.0,), "tau_end": (300.0, 10.0) if degree >= 5 else ()}}


def earlier_values(recipe: str, degree: int) -> dict[str, tuple]:
    """The values `recipe` once set for a net of degree d and no longer does, by key."""
    by_degree = RECIPE_EARLIER_VALUES.get(recipe)
    return by_degree(degree) if by_degree else {}
