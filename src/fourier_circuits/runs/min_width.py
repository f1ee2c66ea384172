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

Several cases (`sweep`, `--p 5..31 --workers 2`): each scan is a generator (`scan_plan`) that asks for its next
widths; the seeds of a width, and the self-check's widths, are independent trials, and the trials of all the
cases share `workers` spawn processes (one torch thread each), the case with the most planned work first.
The answers are those of the cases run one by one.

The law (docs/min_width.md): at a max-margin network every wrong class ties, which at each frequency ζ asks
the phases of ζ's neurons to cancel a fixed set of characters; at k = 2 that needs 6 neurons per frequency
and 6 suffice, so m_min = 6 (p−1)/2 = 3(p−1). `LAW_PER_FREQUENCY` holds the per-frequency counts the
design search found (k = 3: 16; k = 4: unknown, None).
"""
from __future__ import annotations

import heapq
import itertools
import os
import time
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from typing import Callable, Generator

import torch

from fourier_circuits.errors import ConfigError, DivergedError
from fourier_circuits.theory.modadd import gamma_star_modadd, min_width_modadd
from fourier_circuits.training.config import TrainConfig, resolve_config
from fourier_circuits.training.presets import recipe_values

TARGETS = ("margin", "fit")
MARGIN_TARGET = 0.999          # margin / γ* that counts as reaching γ*
PATIENCE = 2                   # consecutive failing widths that end the walk down, and widths self-checked
LAW_PER_FREQUENCY = {2: 6, 3: 16}   # neurons per frequency of the smallest phase design (docs/min_width.md)
# margin: what a trial sets on top of the fast recipe, by k. The recipe gives k = 4 no rebalance/re-phase rounds
# (training/presets.py); a trial gets the 2 that k = 2 and 3 have. They run only after the polish of a run still
# below 0.999 γ* (training/refine.py), so a run that reaches the target takes the recipe's own path; at (5, 4)
# seed 0 they move the smallest width reached from 100 (96: 50/46, 0.98940 γ*) to 82 (41/41, 0.99991 γ*)
# (docs/min_width.md). Here, not in the recipe: the recipe's configs (and the runs stored under them) stay.
MARGIN_TRIAL_BY_DEGREE = {4: dict(rebalance_rounds=2)}
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


Requests = list[tuple[int, bool]]   # (width, doubled) pairs whose seeds may train at the same time


def scan_plan(bound: int, patience: int = PATIENCE, check: bool = True, threshold: float = MARGIN_TARGET,
              start: int | None = None) -> Generator[Requests, list[list[float]], WidthScan]:
    """The scan of the module docstring as a generator: it yields the (width, doubled) pairs it needs next,
    is sent one list of per-seed scores per pair, and returns the WidthScan. Every step of the walk asks for
    one width; the self-check asks for all its widths at once (they are independent). `start` (< bound):
    walk down from there instead of the bound when it reaches the target (else from the bound, as without
    it); it saves the widths above it, whose success says nothing about m_min."""
    scan = WidthScan(bound, threshold)

    def ok(m: int) -> Generator[Requests, list[list[float]], bool]:
        if m not in scan.scores:
            (scores,) = yield [(m, False)]
            scan.scores[m] = list(scores)
        return scan.best(m) >= threshold

    top = start if start is not None and 1 <= start < bound and (yield from ok(start)) else bound
    if not (yield from ok(top)):
        return scan
    stride, m = max(1, -(-bound // 8)), top
    while m - stride >= 1 and (yield from ok(m - stride)):
        m -= stride
    fails, m = 0, m - 1
    while m >= 1 and fails < patience:
        fails = 0 if (yield from ok(m)) else fails + 1
        m -= 1
    below = list(range(scan.m_min - 1, max(0, scan.m_min - 1 - patience), -1)) if check else []
    if below:
        scan.check.update((m, list(scores)) for m, scores in zip(below, (yield [(m, True) for m in below])))
    return scan


def scan_widths(scores_at: Callable[[int, bool], list[float]], bound: int, patience: int = PATIENCE,
                check: bool = True, threshold: float = MARGIN_TARGET, start: int | None = None) -> WidthScan:
    """`scan_plan` run one request after another: `scores_at(m, doubled)` trains width m (with the doubled
    budget when told) and returns one score per seed."""
    plan = scan_plan(bound, patience, check, threshold, start)
    try:
        requests = next(plan)
        while True:
            requests = plan.send([list(scores_at(m, doubled)) for m, doubled in requests])
    except StopIteration as end:
        return end.value


# ---------------------------------------------------------------------------------------------------------
# one trial


def trial_config(p: int, k: int, width: int, seed: int, target: str, doubled: bool,
                 steps: int | None = None) -> TrainConfig:
    """The configuration of one trial (validated; the resource guard runs here): the fast recipe (with
    `MARGIN_TRIAL_BY_DEGREE`) for `margin`, FIT_RECIPE for `fit`. `steps` None: the recipe's own cap (the
    fast recipe's by degree, or FIT_RECIPE's); doubled: twice that."""
    if target not in TARGETS:
        raise ConfigError(f"--target must be one of {', '.join(TARGETS)}, got {target!r}")
    base = dict(FIT_RECIPE) if target == "fit" else dict(MARGIN_TRIAL_BY_DEGREE.get(k, {}))
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
    (default the bound) in strides down to the law's width (margin; half the bound where the law has no count;
    fit: an eighth of it), the stride below it that fails, `patience` failures one width at a time, and the
    self-check's doubled seeds at twice the steps (×4)."""
    bound = min_width_modadd(p, k)
    guess = max(1, bound // 8) if target == "fit" else law_width(p, k) or bound // 2
    stride, top = max(1, -(-bound // 8)), min(start or bound, bound)
    walk = list(range(top, guess - 1, -stride)) or [top]
    below = [guess - i for i in range(1, PATIENCE + 1) if guess - i >= 1]
    widths = walk + [m for m in (walk[-1] - stride,) if m >= 1 and m not in below] + below
    return [(m, seeds) for m in widths] + ([(m, 4 * seeds) for m in below] if check else [])


def estimate_seconds(p: int, k: int, target: str, seeds: int, check: bool, steps: int | None = None,
                     start: int | str | None = None) -> dict:
    """Rough wall time of the scan on this machine: the planned trials' widths × seconds per step measured at
    the bound (cost ∝ width), × the steps a trial takes at most (the fast recipe: its cap and ≤ 1500 L-BFGS
    iterations of polish, half again for each rebalance round; fit: its steps). It does not know how busy the
    machine will be: on a shared 2-core machine the measured time was up to 3× the estimate."""
    bound = min_width_modadd(p, k)
    cfg = trial_config(p, k, bound, 0, target, False, steps)
    per_step = seconds_per_step(cfg)
    per_run = steps_per_trial(cfg)
    plan = planned_trials(p, k, seeds, check, target, start_width(p, k, start))
    total = sum(n * per_run * per_step * m / bound for m, n in plan)
    return {"seconds": round(total, 1), "runs": sum(n if n == seeds else n // 2 for _, n in plan),
            "seconds_per_step_at_bound": per_step}


def steps_per_trial(cfg: TrainConfig) -> float:
    """The most steps a trial of `cfg` takes, in Adam-step units: its cap and the polish (an L-BFGS iteration
    counted as 5 steps), half again for each rebalance round."""
    return (cfg.steps + 5 * cfg.polish_iters) * (1 + 0.5 * cfg.rebalance_rounds)


def start_width(p: int, k: int, start: int | str | None) -> int | None:
    """The width `--start` names: an int as it is, "law" the law's width (`law_width`), None the bound's walk."""
    return law_width(p, k) if start == "law" else start


def check_request(p: int | None, k: int, target: str, seeds: int, steps: int | None,
                  start: int | str | None = None) -> None:
    """Raise ConfigError / TaskError / ResourceError on bad input, before any training: p an odd prime, k ≥ 2,
    seeds ≥ 1, steps ≥ 1, a start in 1..bound (or "law" where the law has a count, for `margin`), and the
    largest run (the bound, doubled steps) within the resource guard."""
    if p is None:
        raise ConfigError("min-width needs --p (an odd prime)")
    if seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {seeds}")
    if steps is not None and steps < 1:
        raise ConfigError(f"--steps must be >= 1, got {steps}")
    trial_config(p, k, min_width_modadd(p, k), 0, target, True, steps)
    if start == "law" and (target != "margin" or law_width(p, k) is None):
        raise ConfigError(f"--start law: the law has no width for --target {target} at k={k} "
                          f"(it is known for the margin at k = {', '.join(map(str, LAW_PER_FREQUENCY))})")
    if start is not None and start != "law" and not 1 <= start <= min_width_modadd(p, k):
        raise ConfigError(f"--start must be a width in 1..{min_width_modadd(p, k)} (the bound) or 'law', got {start}")


def parse_primes(text: str) -> list[int]:
    """`--p`: a comma list of odd primes and ranges A..B (the odd primes in A..B, ends included), e.g.
    "5,7,11" or "5..31" or "5..13,17"; in the order given. ConfigError (naming the bad item) on anything else:
    not an integer, not an odd prime, an empty range, a prime given twice."""
    from fourier_circuits.algebra.integers import is_prime
    primes: list[int] = []
    for item in text.split(","):
        ends = item.strip().split("..")
        if len(ends) > 2 or not all(e.strip().isdigit() for e in ends):
            raise ConfigError(f"--p: {item.strip()!r} is not an odd prime or a range A..B")
        lo, hi = int(ends[0]), int(ends[-1])
        got = [q for q in range(max(lo, 3), hi + 1) if q % 2 and is_prime(q)]
        if len(ends) == 1 and not got:
            raise ConfigError(f"--p: {lo} is not an odd prime")
        if not got:
            raise ConfigError(f"--p: the range {item.strip()} holds no odd prime")
        primes += got
    twice = sorted({q for q in primes if primes.count(q) > 1})
    if twice:
        raise ConfigError(f"--p: {twice[0]} is given twice")
    return primes


@dataclass(frozen=True)
class Case:
    """One (p, k, target) answer to find, with its budget: the arguments of `min_width`."""
    p: int
    k: int
    target: str = "margin"
    seeds: int = 3
    check: bool = True
    steps: int | None = None
    patience: int = PATIENCE
    start: int | str | None = None

    def validate(self) -> None:
        check_request(self.p, self.k, self.target, self.seeds, self.steps, self.start)

    def work(self) -> float:
        """Planned width × steps × population: the order of the sweep (longest first), not seconds."""
        cfg = trial_config(self.p, self.k, 1, 0, self.target, False, self.steps)
        per_run = steps_per_trial(cfg)
        plan = planned_trials(self.p, self.k, self.seeds, self.check, self.target,
                              start_width(self.p, self.k, self.start))
        return sum(n * m for m, n in plan) * per_run * self.p ** self.k


class InlineExecutor(Executor):
    """`submit` runs the function at once in this process (workers = 1: no pool, no pickling)."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        future.set_result(fn(*args, **kwargs))
        return future


def trial_pool(workers: int) -> Executor:
    """workers = 1: this process; more: a spawn process pool, one torch thread per worker, each worker ending
    with this process (`runs.sweep`'s initializer: Linux PR_SET_PDEATHSIG)."""
    from fourier_circuits.runs.sweep import init_worker
    return InlineExecutor() if workers == 1 else ProcessPoolExecutor(
        workers, mp_context=get_context("spawn"), initializer=init_worker, initargs=(1, os.getpid()))


def sweep(cases: list[Case], workers: int = 1, progress: bool = False, expected_runs: int | None = None,
          executor: Executor | None = None) -> list[dict]:
    """The answers of `min_width` for several cases at once, in the order given. Each case's scan is a
    `scan_plan`; the trials its requests ask for (one per seed) go to `workers` processes (`trial_pool`, or
    `executor`), at most `workers` at a time, the case with the most planned work (`Case.work`) first; a case
    asks for its next widths when all the seeds of its last request are in. The walk of each case is the
    one of a run alone, and a trial's score does not depend on the process it ran in (same seed, one
    thread), so the answers are those of the cases run one by one. Each answer's `seconds` is the wall time
    from the sweep's start to that answer; `trial_seconds` the sum of its trials' own seconds."""
    from tqdm import tqdm
    if type(workers) is not int or workers < 1:
        raise ConfigError(f"--workers must be an integer >= 1, got {workers!r}")
    for case in cases:
        case.validate()
    t0 = time.time()
    rank = {i: r for r, i in enumerate(sorted(range(len(cases)), key=lambda i: -cases[i].work()))}
    plans = [scan_plan(min_width_modadd(c.p, c.k), c.patience, c.check, threshold_of(c.target),
                       start_width(c.p, c.k, c.start)) for c in cases]
    asked: dict[int, tuple[Requests, list[list[float | None]]]] = {}
    done: dict[int, tuple[WidthScan, float]] = {}
    trials: list[list[tuple[int, Trial]]] = [[] for _ in cases]
    queue: list[tuple[int, int, int, int, int]] = []      # (rank, order asked, case, request, seed)
    order = itertools.count()
    bar = tqdm(total=expected_runs, disable=not progress, unit="run", dynamic_ncols=True,
               desc=f"min-width {len(cases)} case{'s' * (len(cases) > 1)}, {workers} worker{'s' * (workers > 1)}")

    def advance(i: int, scores: list[list[float]] | None = None) -> None:
        """Send case i its scores, queue the trials it asks for next, or keep its answer."""
        try:
            requests = plans[i].send(scores)
        except StopIteration as end:
            done[i] = end.value, time.time() - t0
            return
        asked[i] = requests, [[None] * (2 * cases[i].seeds if d else cases[i].seeds) for _, d in requests]
        for j, row in enumerate(asked[i][1]):
            for seed in range(len(row)):
                heapq.heappush(queue, (rank[i], next(order), i, j, seed))

    pool = executor or trial_pool(workers)
    running: dict[Future, tuple[int, int, int, int]] = {}
    finished_all = False
    try:
        for i in sorted(rank, key=rank.get):
            advance(i)
        while queue or running:
            while queue and len(running) < workers:
                _, n, i, j, seed = heapq.heappop(queue)
                (m, doubled), c = asked[i][0][j], cases[i]
                cfg = trial_config(c.p, c.k, m, seed, c.target, doubled, c.steps)
                running[pool.submit(run_trial, cfg, c.target, doubled)] = (n, i, j, seed)
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in sorted(finished, key=lambda f: running[f][0]):
                n, i, j, seed = running.pop(future)
                trial = future.result()
                trials[i].append((n, trial))
                bar.total = max(bar.total or 0, bar.n + 1)
                bar.update(1)
                bar.set_postfix(p=cases[i].p, width=trial.width, score=f"{trial.score:.5f}")
                scores = asked[i][1]
                scores[j][seed] = trial.score
                if all(r is not None for row in scores for r in row):
                    advance(i, scores)
        finished_all = True
    finally:    # an error or Ctrl-C: nothing more is started, and the running trials are not waited for
        bar.close()
        pool.shutdown(wait=finished_all, cancel_futures=True)
    answers = []
    for i, c in enumerate(cases):
        (scan, seconds), ran = done[i], [t for _, t in sorted(trials[i], key=lambda nt: nt[0])]
        answers.append({**report(c.p, c.k, c.target, c.seeds, c.check, scan, ran, seconds),
                        "start": start_width(c.p, c.k, c.start), "start_asked": c.start,
                        "trial_seconds": round(sum(t.seconds for t in ran), 1)})
    return answers


def threshold_of(target: str) -> float:
    """The score that counts as success: every point classified (fit), ≥ 0.999 γ* (margin)."""
    return 1.0 if target == "fit" else MARGIN_TARGET


def min_width(p: int, k: int, target: str = "margin", seeds: int = 3, check: bool = True,
              steps: int | None = None, patience: int = PATIENCE, progress: bool = False,
              expected_runs: int | None = None, start: int | str | None = None, workers: int = 1) -> dict:
    """m_min(p, k) for `target` (module docstring), with every trial, the best and worst seed per width, the
    stalls, the neuron split per frequency and the self-check. Bad input raises before any training. With
    `progress`, a tqdm bar on stderr counts the trained runs (of `expected_runs`, a guess that grows).
    `start`: the width the walk down starts from (`scan_widths`; default the bound; "law": the law's width).
    `workers` > 1: the seeds of a width (and the self-check's widths) train in that many processes (`sweep`)."""
    return sweep([Case(p, k, target, seeds, check, steps, patience, start)], workers, progress, expected_runs)[0]


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
