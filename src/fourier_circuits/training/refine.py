"""The end of the fast recipe: re-seeding dead neurons during the Adam phase, and an L-BFGS polish after it.

Re-seeding. A neuron whose ‖θ_i‖² has fallen below `reseed_below` × the mean carries no margin and, on the
unit sphere, almost never recovers; its direction is random, so it also shows as a mixed-frequency neuron in
the analysis. It is replaced by half of a large live neuron: both get 2^{−1/ν}·θ_j (so f and ‖θ‖_{2,ν} are
unchanged: (2^{−1/ν})^ν = 1/2, twice), the copy with 1e−3 relative noise so that the two can separate;
Adam's moments are copied with it.

Polish. The smoothed margin L of `objectives.softmin_loss` is smooth and scale-invariant, and for a fixed
scale s its maximizer does not depend on τ when every (x, c) pair can be tied (modular addition); Adam with a
decaying step approaches it slowly near the end. L-BFGS (strong-Wolfe line search) on −L at a few increasing
τ closes most of the remaining gap in a few hundred iterations; θ is projected back to the unit sphere after
each stage. It trains the same network on the same objective. In practice the maximizer does move with τ
(the gaps are not all tied until the margin is reached), so the stages go on raising τ while they still pay.

Rebalancing (modular addition). Once each neuron sits on one frequency ζ (its dominant one, THEORY.md §5),
Adam never moves it to another, and the margin reached depends on how many neurons each frequency got: at
k = 2 every frequency needs 6, and a random start that leaves one with fewer stalls ((5, 2, 12): 7/5 gives
0.9529 γ*, 6/6 γ*; (11, 2, 40): 9/10/8/6/7 gives 0.9885, 8 each γ*). A rebalance moves neurons, the smallest
of the fullest frequency first, to the emptiest until the counts differ by at most one: the moved neuron
becomes a noisy half of the emptiest frequency's largest neuron. The Adam phase and the polish then run again.
"""
from __future__ import annotations

import math
import time

import torch

from fourier_circuits.analysis.fourier import neuron_dominant_frequency, neuron_max_power, significant_neurons
from fourier_circuits.models.margins import l2nu_norm_pow
from fourier_circuits.training.objectives import rms_normalized_logit, softmin_value_and_grad

POLISH_TAU_FACTORS = (1.0, 3.0, 10.0, 30.0, 100.0)  # the polish stages' τ, in units of tau_end
POLISH_MIN_STAGES = 3      # after these, a stage that raised the normalized margin by < POLISH_MIN_GAIN
POLISH_MIN_GAIN = 1e-5     # (relative) ends the polish: (5, 5, 1024) gains 0.8%, 0.35%, 0.1% at τ_end·10, 30, 100
REBALANCE_BELOW = 0.999    # margin / γ* under which a polished modular-addition run is rebalanced
SETTLED_POWER, SETTLED_SHARE = 0.9, 0.8     # ... once this share of its neurons has this max power (THEORY §7)


@torch.no_grad()
def reseed_dead_neurons(model, optimizer, below: float, seed: int) -> int:
    """Replace every neuron with ‖θ_i‖² < below·mean by a noisy half of a large live neuron; returns how many.

    Neuron i is embed[..., i] and unembed[i] (PolyNet, ParityNet)."""
    sq = model.neuron_sq_norms(torch.float64)
    dead = torch.nonzero(sq < below * sq.mean()).flatten().tolist()
    if not dead or len(dead) == len(sq):
        return 0
    live = torch.argsort(sq, descending=True)[: len(sq) - len(dead)].tolist()
    gen = torch.Generator().manual_seed(seed)
    for j, i in enumerate(dead):
        split_neuron(model, live[j % len(live)], i, gen, noise=1e-3, optimizer=optimizer)
    return len(dead)


@torch.no_grad()
def split_neuron(model, src: int, dst: int, gen: torch.Generator, noise: float, optimizer=None) -> None:
    """Neuron dst ← a copy of neuron src, both scaled by 2^{−1/ν} (together they give src's old output and
    norm), the copy with `noise` relative noise so that the two can separate; Adam's moments copied with it.
    Neuron i is embed[..., i] and unembed[i] (PolyNet, ParityNet)."""
    half = 2.0 ** (-1.0 / model.nu)
    for name, at in (("embed", lambda i: (..., i)), ("unembed", lambda i: (i,))):
        q = getattr(model, name)
        q[at(src)] *= half
        q[at(dst)] = q[at(src)] * (1 + noise * torch.randn(q[at(src)].shape, generator=gen,
                                                           dtype=torch.float64).to(q.dtype))
        state = optimizer.state.get(q, {}) if optimizer is not None else {}
        for moment in ("exp_avg", "exp_avg_sq"):
            if moment in state:
                state[moment][at(dst)] = state[moment][at(src)]


@torch.no_grad()
def rebalance_frequencies(model, seed: int, noise: float = 1e-2) -> int:
    """Even out the neurons over the frequencies ζ = 1..(p−1)/2 (each neuron's dominant one): while the
    fullest frequency has ≥ 2 more neurons than the emptiest, its smallest neuron becomes a noisy half of the
    emptiest one's largest (`split_neuron`). A frequency no neuron uses has none to copy and is left out.
    Nothing moves while the features have not formed: fewer than SETTLED_SHARE of the significant neurons
    with max normalized power ≥ SETTLED_POWER (a short run stopped early is not a stall).
    Returns how many neurons moved; the caller re-projects θ."""
    significant = significant_neurons(model)
    if float((neuron_max_power(model)[significant] >= SETTLED_POWER).double().mean()) < SETTLED_SHARE:
        return 0
    freq = neuron_dominant_frequency(model)
    sq = model.neuron_sq_norms(torch.float64)
    counts = {int(z): int((freq == z).sum()) for z in torch.unique(freq)}   # used frequencies, ascending
    gen, moved = torch.Generator().manual_seed(seed), 0
    while max(counts.values()) - min(counts.values()) >= 2:
        full, empty = max(counts, key=counts.get), min(counts, key=counts.get)   # ties: the lowest ζ
        on_full, on_empty = torch.nonzero(freq == full).flatten(), torch.nonzero(freq == empty).flatten()
        i, j = int(on_full[sq[on_full].argmin()]), int(on_empty[sq[on_empty].argmax()])
        split_neuron(model, j, i, gen, noise)
        sq[i] = sq[j] = sq[j] * 2.0 ** (-2.0 / model.nu)
        freq[i] = empty
        counts[full] -= 1
        counts[empty] += 1
        moved += 1
    return moved


def polish_stages(trainer) -> None:
    """The L-BFGS stages after a Trainer's Adam phase (softmin recipes with polish_iters > 0), one metric row
    (key `polish_tau`) and one saved state each; their iterations count as steps. After POLISH_MIN_STAGES, a
    stage that gained less than POLISH_MIN_GAIN (relative) is the last. A resumed run continues with the next
    stage."""
    cfg, model = trainer.cfg, trainer.model
    if cfg.polish_iters == 0 or cfg.objective != "softmin" or not cfg.normalize:
        return
    rows = model.rows_per_chunk(trainer.budget)
    while trainer.polish_stage < len(POLISH_TAU_FACTORS):
        t0, before = time.time(), trainer.history[-1]["normalized_margin"]
        tau = cfg.tau_end * POLISH_TAU_FACTORS[trainer.polish_stage]
        lbfgs_polish(model, trainer.train.model_input(model), trainer.train.y, rows, tau, cfg.polish_iters)
        trainer.project()
        trainer.step += cfg.polish_iters
        trainer.polish_stage += 1
        trainer.elapsed += time.time() - t0
        trainer.log({**trainer.evaluate(), "polish_tau": tau})
        gain = (trainer.history[-1]["normalized_margin"] - before) / abs(before) if before > 0 else math.inf
        if trainer.polish_stage >= POLISH_MIN_STAGES and gain < POLISH_MIN_GAIN:
            trainer.polish_stage = len(POLISH_TAU_FACTORS)  # saved with the state: a resumed run ends here too
        if trainer.recorder is not None:
            trainer.recorder.save(trainer, checkpoint=True)


def rebalance_phase(trainer) -> bool:
    """After the polish, on modular addition with rounds left (cfg.rebalance_rounds): when the margin is still
    < REBALANCE_BELOW γ*, even out the neurons over the frequencies (`rebalance_frequencies`) and begin another
    Adam phase (`Trainer.begin_phase`). False when nothing is to be done, or nothing moved."""
    cfg, ratio = trainer.cfg, trainer.history[-1].get("margin_ratio")
    if (trainer.rebalances >= cfg.rebalance_rounds or cfg.task != "modadd" or cfg.model != "polynet"
            or not cfg.normalize or ratio is None or ratio >= REBALANCE_BELOW):
        return False
    if rebalance_frequencies(trainer.model, cfg.seed * 1_000_003 + trainer.step) == 0:
        return False
    trainer.project()
    trainer.begin_phase()
    return True


def lbfgs_polish(model, x, y: torch.Tensor, rows: int, tau: float, iterations: int, grad_hook=None) -> None:
    """Maximize the smoothed margin on (x, y) at inverse temperature τ (s fixed at its current value) with
    L-BFGS; x None is the population pass. grad_hook(model), if given, may edit the gradients before each
    L-BFGS use of them (e.g. project them onto a subspace). The caller projects θ back to the unit sphere."""
    with torch.no_grad():
        s = rms_normalized_logit(model.logits(x, rows), float(l2nu_norm_pow(model)))
    opt = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=iterations, history_size=30,
                            line_search_fn="strong_wolfe", tolerance_grad=1e-14, tolerance_change=1e-16)

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        loss, grad = softmin_value_and_grad(model.logits(x, rows), y, l2nu_norm_pow(model), s, tau)
        model.backward_from_logits(x, grad, rows)
        if grad_hook is not None:
            grad_hook(model)
        return torch.tensor(loss, dtype=torch.float64)

    opt.step(closure)
