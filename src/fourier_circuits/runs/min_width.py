"""The smallest width m_min(p, k) at which training reaches a target on k-input modular addition.

Two targets, both on the whole population (docs/theory.md §1):
  margin  the fast recipe's normalized margin reaches ≥ 0.999 γ* (γ* of [LI] Thm 4.1, docs/theory.md §4);
  fit     cross-entropy training (`FIT_RECIPE`: Adam on the mean cross-entropy, no regularizer, no
          normalization) classifies all p^k points correctly.
The answer is a measurement of what training reaches, with the seeds and steps used; [LI]'s sufficient
width 2^{2k−2}(p−1) is where the scan starts.

Trained margins are not monotone in m over short runs (a seed can stall at one width and succeed at a smaller
one), so a bisection can skip the threshold. `scan_widths`:
  1. trains every seed at the sufficient width;
  2. walks down in strides of ⌈bound/8⌉ while the best seed still reaches the target;
  3. walks down one width at a time from the last success until `patience` consecutive widths fail on
     every seed: m_min is the smallest width that succeeded;
  4. the self-check: retrains the `patience` widths just below m_min with twice the seeds and twice the
     steps. If one of them succeeds, the answer was the budget's, not the width's: the check fails and
     says which width. Skipped (and said so) when asked, or when the bound itself fails.
Seeds that miss the target at a width ≥ m_min are stalls; they are reported with their values.

The law (docs/min_width.md): at a max-margin network every wrong class ties, which at each frequency ζ asks
the phases of ζ's neurons to cancel a fixed set of characters; at k = 2 that needs 6 neurons per frequency
and 6 suffice, so m_min = 6 (p−1)/2 = 3(p−1). `LAW_PER_FREQUENCY` holds the per-frequency counts the
design search found (k = 3: 16; k = 4: unknown, None).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch

from fourier_circuits.errors import ConfigError, DivergedError
from fourier_circuits.theory.modadd import gamma_star_modadd, min_width_modadd
from fourier_circuits.training.config import TrainConfig, resolve_config
from fourier_circuits.training.presets import recipe_values

TARGETS = ("margin", "fit")
MARGIN_TARGET = 0.999          # margin / γ* that counts as reaching γ*
PATIENCE = 2                   # consecutive failing widths that end the walk down, and widths self-checked
LAW_PER_FREQUENCY = {2: 6, 3: 16}   # neurons per frequency of the smallest phase design (docs/min_width.md)
# fit: Adam on the mean cross-entropy, full batch, no regularizer, θ not normalized; success = every point
# of the population classified correctly at the end (lr 0.01 relative to nothing: an absolute lr)
FIT_RECIPE = dict(objective="ce", optimizer="adam", lr=1e-2, lr_schedule="linear", regularizer="none", lam=0.0,
                  normalize=False, early_stop=False, polish_iters=0, rebalance_rounds=0, reseed_below=0.0,
                  steps=2000, n_evals=10, n_checkpoints=1)


def law_width(p: int, k: int) -> int | None:
    """The law's prediction N_k · (p−1)/2 (N_k = LAW_PER_FREQUENCY[k]); None where N_k is not known."""
    n = LAW_PER_FREQUENCY.get(k)
    return None if n is None else n * (p - 1) // 2


@dataclass
class Trial:
    """One seed at one width: its score (margin / γ*, or train accuracy for `fit`) and what it is made of."""
    width: int
    seed: int
    doubled: bool
    score: float
    margin_ratio: float | None
    train_accuracy: float | None
    status: str
    steps: int
    seconds: float
    split: list[int]            # significant neurons per frequency ζ = 1..(p−1)/2


@dataclass
class WidthScan:
    """Per-seed scores of every width trained: `scores[m]` (scan), `check[m]` (doubled seeds and steps)."""
    bound: int
    threshold: float = MARGIN_TARGET
    scores: dict[int, list[float]] = field(default_factory=dict)
    check: dict[int, list[float]] = field(default_factory=dict)

    def best(self, m: int, table: dict[int, list[float]] | None = None) -> float:
        return max((self.scores if table is None else table)[m])

    @property
    def m_min(self) -> int | None:
        ok = [m for m in self.scores if self.best(m) >= self.threshold]
        return min(ok) if ok else None

    @property
    def m_min_doubled(self) -> int | None:
        """The answer once the doubled runs are counted too (None when the bound fails)."""
        if self.m_min is None:
            return None
        return min([self.m_min] + [m for m in self.check if self.best(m, self.check) >= self.threshold])

    def stalls(self) -> list[tuple[int, int, float]]:
        """(width, seed index, score) of every seed below the threshold at a width ≥ m_min."""
        m_min = self.m_min or self.bound + 1
        return [(m, i, r) for m in sorted(self.scores) if m >= m_min for i, r in enumerate(self.scores[m])
                if r < self.threshold]


def scan_widths(scores_at: Callable[[int, bool], list[float]], bound: int, patience: int = PATIENCE,
                check: bool = True, threshold: float = MARGIN_TARGET, start: int | None = None) -> WidthScan:
    """The scan of the module docstring (step 4 only when `check`). `scores_at(m, doubled)` trains width m
    (with the doubled budget when told) and returns one score per seed. `start` (< bound): walk down from
    there instead of the bound when it reaches the target (else from the bound, as without it); it saves
    the widths above it, whose success says nothing about m_min."""
    scan = WidthScan(bound, threshold)

    def ok(m: int) -> bool:
        if m not in scan.scores:
            scan.scores[m] = list(scores_at(m, False))
        return scan.best(m) >= threshold

    top = start if start is not None and 1 <= start < bound and ok(start) else bound
    if not ok(top):
        return scan
    stride, m = max(1, -(-bound // 8)), top
    while m - stride >= 1 and ok(m - stride):
        m -= stride
    fails, m = 0, m - 1
    while m >= 1 and fails < patience:
        fails = 0 if ok(m) else fails + 1
        m -= 1
    for m in range(scan.m_min - 1, max(0, scan.m_min - 1 - patience), -1) if check else ():
        scan.check[m] = list(scores_at(m, True))
    return scan


# ---------------------------------------------------------------------------------------------------------
# one trial


def trial_config(p: int, k: int, width: int, seed: int, target: str, doubled: bool,
                 steps: int | None = None) -> TrainConfig:
    """The configuration of one trial (validated; the resource guard runs here). `steps` None: the recipe's
    own cap (the fast recipe's by degree, or FIT_RECIPE's); doubled: twice that."""
    if target not in TARGETS:
        raise ConfigError(f"--target must be one of {', '.join(TARGETS)}, got {target!r}")
    base = dict(FIT_RECIPE) if target == "fit" else {}
    cap = steps or (base["steps"] if target == "fit" else recipe_values("fast", k)["steps"])
    base["steps"] = 2 * cap if doubled else cap
    return resolve_config(p=p, k=k, width=width, seed=seed, device="cpu", dtype="float32", **base)


def neurons_per_frequency(model) -> list[int]:
    """Significant neurons (‖θ_i‖ ≥ 1% of the largest) per dominant frequency ζ = 1..(p−1)/2."""
    from fourier_circuits.analysis.fourier import neuron_dominant_frequency, significant_neurons
    freq = neuron_dominant_frequency(model)[significant_neurons(model)]
    return [int((freq == z).sum()) for z in range(1, (model.vocab_size - 1) // 2 + 1)]


def run_trial(cfg: TrainConfig, target: str, doubled: bool) -> Trial:
    """Train cfg in memory (no run directory) and score it: margin / γ* (float64, whole population) for
    `margin`, train accuracy on the whole population for `fit`. A diverged run scores 0."""
    from fourier_circuits.training.trainer import Trainer
    t0 = time.time()
    trainer = Trainer(cfg, recorder=None, progress=False)
    try:
        result = trainer.run()
    except DivergedError:
        result = {"status": "diverged", "margin_ratio": None, "train_accuracy": 0.0, "steps": trainer.step}
    ratio, acc = result.get("margin_ratio"), result.get("train_accuracy")
    score = (acc or 0.0) if target == "fit" else (ratio or 0.0)
    return Trial(cfg.width, cfg.seed, doubled, float(score), ratio, acc, result["status"], int(result["steps"]),
                 round(time.time() - t0, 2), neurons_per_frequency(trainer.model))


# ---------------------------------------------------------------------------------------------------------
# the command's work


CALIBRATION_WIDTH = 16   # the estimate times a network this wide (or the bound, if smaller) and scales by m


def seconds_per_step(cfg: TrainConfig, repeats: int = 3) -> float:
    """Seconds of one full-batch gradient evaluation (population logits and their backward) of cfg's network:
    measured at width min(m, CALIBRATION_WIDTH) and scaled by m (the cost is ∝ m); the unit of
    `estimate_seconds`."""
    import dataclasses

    from fourier_circuits.training.trainer import build_model
    small = dataclasses.replace(cfg, width=min(cfg.width, CALIBRATION_WIDTH))
    model = build_model(small, torch.device("cpu"))
    rows = model.rows_per_chunk(cfg.memory_budget_mb * 2**20)
    t0 = time.time()
    for _ in range(repeats):
        logits = model.logits(None, rows)
        model.backward_from_logits(None, torch.ones_like(logits) / logits.numel(), rows)
    return (time.time() - t0) / repeats * cfg.width / small.width


def planned_trials(p: int, k: int, seeds: int, check: bool, target: str = "margin",
                   start: int | None = None) -> list[tuple[int, int]]:
    """A guess at the (width, seeds × budget factor) trials of a scan, for the estimate: the walk from `start`
    (default the bound) down to the law's width (margin; half the bound where the law has no count; fit: an
    eighth of it) plus `patience` failures, and the self-check's doubled seeds at twice the steps (×4)."""
    bound = min_width_modadd(p, k)
    guess = max(1, bound // 8) if target == "fit" else law_width(p, k) or bound // 2
    stride = max(1, -(-bound // 8))
    widths = list(range(start or bound, guess - 1, -stride)) + [guess - i for i in range(1, PATIENCE + 1) if guess - i >= 1]
    return [(m, seeds) for m in widths] + ([(guess - i, 4 * seeds) for i in range(1, PATIENCE + 1)
                                            if guess - i >= 1] if check else [])


def estimate_seconds(p: int, k: int, target: str, seeds: int, check: bool, steps: int | None = None,
                     start: int | None = None) -> dict:
    """Rough wall time of the scan on this machine: the planned trials' widths × seconds per step measured at
    the bound (cost ∝ width), × the steps a trial takes at most (the fast recipe: its cap and ≤ 1500 L-BFGS
    iterations of polish, half again for each rebalance round; fit: its steps). It does not know how busy the
    machine will be: on a shared 2-core machine the measured time was up to 3× the estimate."""
    bound = min_width_modadd(p, k)
    cfg = trial_config(p, k, bound, 0, target, False, steps)
    per_step = seconds_per_step(cfg)
    per_run = (cfg.steps + 5 * cfg.polish_iters) * (1 + 0.5 * cfg.rebalance_rounds)
    plan = planned_trials(p, k, seeds, check, target, start)
    total = sum(n * per_run * per_step * m / bound for m, n in plan)
    return {"seconds": round(total, 1), "runs": sum(n if n == seeds else n // 2 for _, n in plan),
            "seconds_per_step_at_bound": per_step}


def check_request(p: int | None, k: int, target: str, seeds: int, steps: int | None,
                  start: int | None = None) -> None:
    """Raise ConfigError / TaskError / ResourceError on bad input, before any training: p an odd prime, k ≥ 2,
    seeds ≥ 1, steps ≥ 1, and the largest run (the bound, doubled steps) within the resource guard."""
    if p is None:
        raise ConfigError("min-width needs --p (an odd prime)")
    if seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {seeds}")
    if steps is not None and steps < 1:
        raise ConfigError(f"--steps must be >= 1, got {steps}")
    if start is not None and not 1 <= start <= min_width_modadd(p, k):
        raise ConfigError(f"--start must be a width in 1..{min_width_modadd(p, k)} (the bound), got {start}")
    trial_config(p, k, min_width_modadd(p, k), 0, target, True, steps)


def min_width(p: int, k: int, target: str = "margin", seeds: int = 3, check: bool = True,
              steps: int | None = None, patience: int = PATIENCE, progress: bool = False,
              expected_runs: int | None = None, start: int | None = None) -> dict:
    """m_min(p, k) for `target` (module docstring), with every trial, the best and worst seed per width, the
    stalls, the neuron split per frequency and the self-check. Bad input raises before any training. With
    `progress`, a tqdm bar on stderr counts the trained runs (of `expected_runs`, a guess that grows).
    `start`: the width the walk down starts from (`scan_widths`; default the bound)."""
    from tqdm import tqdm
    check_request(p, k, target, seeds, steps, start)
    threshold = 1.0 if target == "fit" else MARGIN_TARGET
    trials: list[Trial] = []
    t0 = time.time()
    bar = tqdm(total=expected_runs, disable=not progress, unit="run", desc=f"min-width p={p} k={k}",
               dynamic_ncols=True)

    def scores_at(m: int, doubled: bool) -> list[float]:
        out = []
        for seed in range(2 * seeds if doubled else seeds):
            trial = run_trial(trial_config(p, k, m, seed, target, doubled, steps), target, doubled)
            trials.append(trial)
            if bar.total is not None and bar.n >= bar.total:
                bar.total = bar.n + 1
            bar.update(1)
            bar.set_postfix(width=m, doubled=doubled, score=f"{trial.score:.5f}")
            out.append(trial.score)
        return out

    scan = scan_widths(scores_at, min_width_modadd(p, k), patience, check, threshold, start)
    bar.close()
    return {**report(p, k, target, seeds, check, scan, trials, time.time() - t0), "start": start}


def width_rows(trials: list[Trial], doubled: bool) -> list[dict]:
    """Per width (descending): best and worst seed with their scores and neuron splits."""
    rows = []
    for m in sorted({t.width for t in trials if t.doubled == doubled}, reverse=True):
        at = [t for t in trials if t.width == m and t.doubled == doubled]
        best, worst = max(at, key=lambda t: t.score), min(at, key=lambda t: t.score)
        rows.append({"width": m, "seeds": len(at), "best_seed": best.seed, "best": best.score,
                     "best_split": best.split, "worst_seed": worst.seed, "worst": worst.score,
                     "worst_split": worst.split, "seconds": round(sum(t.seconds for t in at), 2)})
    return rows


def report(p: int, k: int, target: str, seeds: int, check: bool, scan: WidthScan, trials: list[Trial],
           seconds: float) -> dict:
    """The answer as a JSON-ready dict (see `min_width`)."""
    m_min, below = scan.m_min, scan.m_min and scan.scores.get(scan.m_min - 1)
    skipped = ("not asked (--no-check)" if not check else "the bound itself missed the target" if m_min is None
               else "m_min = 1: no width below" if m_min == 1 else None)
    at_min = [t for t in trials if t.width == m_min and not t.doubled]
    best_at_min = max(at_min, key=lambda t: t.score) if at_min else None
    law = law_width(p, k) if target == "margin" else None       # the law is about γ*, not about fitting
    return {
        "p": p, "k": k, "target": target, "threshold": scan.threshold, "seeds": seeds,
        "gamma_star": gamma_star_modadd(p, k), "bound": scan.bound, "law_width": law,
        "m_min": m_min, "m_min_over_bound": m_min / scan.bound if m_min else None,
        "neurons_per_frequency": m_min / ((p - 1) / 2) if m_min else None,
        "split_at_m_min": best_at_min.split if best_at_min else None,
        "best_below_m_min": max(below) if below else None,
        "law_holds": (m_min == law) if law is not None and m_min is not None else None,
        "widths": width_rows(trials, False),
        "stalls": [{"width": m, "seed": s, "score": r} for m, s, r in scan.stalls()],
        "self_check": {"ran": skipped is None, "skipped": skipped, "widths": width_rows(trials, True),
                       "m_min_doubled": scan.m_min_doubled if skipped is None else None,
                       "holds": (scan.m_min_doubled == m_min) if skipped is None else None},
        "trials": [asdict(t) for t in trials], "seconds": round(seconds, 1),
    }


def format_report(r: dict) -> str:
    """The human-readable answer."""
    score = "margin/γ*" if r["target"] == "margin" else "train acc"
    lines = [f"p={r['p']}, k={r['k']}, target {r['target']} (≥ {r['threshold']} {score}), {r['seeds']} seeds: "
             f"m_min = {r['m_min']} (bound 2^(2k−2)(p−1) = {r['bound']}"
             + (f", law {r['law_width']}" if r["law_width"] else "") + ")"]
    if r["m_min"]:
        lines.append(f"  {r['neurons_per_frequency']:.2f} neurons per frequency; split at m_min {r['split_at_m_min']}; "
                     f"best at m_min−1: {r['best_below_m_min'] if r['best_below_m_min'] is None else format(r['best_below_m_min'], '.5f')}")
    lines.append(f"  {'width':>5} {'best':>9} {'seed':>4} {'worst':>9} {'seed':>4}  split of the best seed")
    for w in r["widths"]:
        lines.append(f"  {w['width']:>5} {w['best']:>9.5f} {w['best_seed']:>4} {w['worst']:>9.5f} {w['worst_seed']:>4}  {w['best_split']}")
    stalls = "; ".join(f"m={s['width']} seed {s['seed']}: {s['score']:.5f}" for s in r["stalls"]) or "none"
    lines.append(f"  stalls (seeds below the target at widths ≥ m_min): {stalls}")
    c = r["self_check"]
    if c["ran"]:
        done = ", ".join(f"m={w['width']}: best {w['best']:.5f} of {w['seeds']}" for w in c["widths"])
        lines.append(f"  self-check (2× seeds, 2× steps below m_min): {done} → m_min {c['m_min_doubled']} "
                     f"({'holds' if c['holds'] else 'FAILS: the answer was the budget'})")
    else:
        lines.append(f"  self-check skipped: {c['skipped']}")
    lines.append(f"  {r['seconds']:.0f} s, {len(r['trials'])} runs")
    return "\n".join(lines)


def human_seconds(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.0f} min" if s < 7200 else f"{s / 3600:.1f} h"
