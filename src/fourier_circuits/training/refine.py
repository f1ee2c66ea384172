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

Rebalancing (modular addition). Once each neuron sits on one frequency ζ (its dominant one, docs/theory.md §5),
Adam never moves it to another, and the margin reached depends on how many neurons each frequency got: at
k = 2 every frequency needs 6, and a random start that leaves one with fewer stalls ((5, 2, 12): 7/5 gives
0.9529 γ*, 6/6 γ*; (11, 2, 40): 9/10/8/6/7 gives 0.9885, 8 each γ*). A rebalance moves neurons, the smallest
of the fullest frequency first, to the emptiest until the counts differ by at most one: the moved neuron
becomes a noisy half of the emptiest frequency's largest neuron. The Adam phase and the polish then run again.

Re-phasing (modular addition, any p and k). An even split is not enough: a frequency's neurons must also be
placed so that their phases cancel every output term except the one that carries a_1 + .. + a_k − c
(docs/min_width.md: at k = 2 the phase pairs (θ_1 + θ_2, θ_1 − θ_2) of its neurons must form a design
for the 14 characters (m, n) ∈ {−2..2} × {−1, 0, 1} other than (0, 0), which needs 6 neurons). Adam can settle in a
local optimum where one frequency's phases do not: (17, 2, 48), 6 neurons on every frequency, stalls at
0.99566 γ* on every seed, with ζ = 2's phase sums at 83°, 192°, 192°, 193°, 279°, 283° and its impure parts
(max power 0.979) paying for the cancellation. `frequency_defects` finds such a frequency from the pure part
of the network alone (each neuron cut down to its dominant frequency): there the wrong classes do not tie,
d(ζ) = Σ_{j ≠ (ζ,..,ζ)} |f̂(j, −ζ)|² / |f̂((ζ,..,ζ), −ζ)|² (1.8 for that ζ = 2; ≤ 1e−5 on the others).
A re-phase draws new random phases for that frequency's neurons (pure cosines of their old norm, θ_w =
θ_1 + .. + θ_k: each is a maximizer of the one-neuron margin) and the Adam phase and the polish run again.
From k = 3 on, random phases rarely land near a design ((7, 3, 48): 4 of 4 seeds stalled at 0.9946–0.99794 γ*
with 16/16/16), so the re-phase re-solves the frequency instead (`resolve_phases`: L-BFGS on its tie defect,
from the neurons' own phases, then random restarts) and training goes on from there: 0.999993 γ*. When the
rounds end, the round that ended highest is kept (`restore_best`).
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
DEFECT_REPHASE = 1e-2      # d(ζ) from which a settled frequency's phases are drawn again (`rephase_frequencies`)
# fewest neurons a frequency needs to tie every wrong class at γ*, by k: proven lower bounds of the phase design
# (docs/min_width.md; k = 3: 15 proven, 16 found; k = 4: 36 proven); a frequency with fewer is not re-phased
# (it cannot tie)
DESIGN_LOWER_BOUND = {2: 6, 3: 15, 4: 36}
# from this k on, a re-phase re-solves the frequency's phases (`resolve_phases`) instead of drawing them: at
# k = 3 random phases and Adam found the 16-neuron design on 1 of 2 seeds at p = 5 and on none of 4 at p = 7
RESOLVE_FROM_K = 3
RESOLVE_RESTARTS = 24      # random restarts at most (k = 3, 16 neurons, p = 7 and 11: a design after 3-15 of them)


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
    emptiest one's largest (`split_neuron`), or, on a frequency no neuron uses, a §5 cosine with random phases
    and the mean neuron norm (`set_cosines`): at γ* every frequency is used (docs/theory.md §5), and (13, 2, 36)
    seed 0 had stalled at 0.914 γ* with 7/7/7/7/0/8.
    Nothing moves while the features have not formed: fewer than SETTLED_SHARE of the significant neurons
    with max normalized power ≥ SETTLED_POWER (a short run stopped early is not a stall).
    Returns how many neurons moved; the caller re-projects θ."""
    significant = significant_neurons(model)
    if float((neuron_max_power(model)[significant] >= SETTLED_POWER).double().mean()) < SETTLED_SHARE:
        return 0
    freq = neuron_dominant_frequency(model)
    sq = model.neuron_sq_norms(torch.float64)
    counts = {z: int((freq == z).sum()) for z in range(1, (model.vocab_size - 1) // 2 + 1)}
    gen, moved = torch.Generator().manual_seed(seed), 0
    while max(counts.values()) - min(counts.values()) >= 2:
        full, empty = max(counts, key=counts.get), min(counts, key=counts.get)   # ties: the lowest ζ
        on_full, on_empty = torch.nonzero(freq == full).flatten(), torch.nonzero(freq == empty).flatten()
        i = int(on_full[sq[on_full].argmin()])
        if len(on_empty) == 0:
            set_cosines(model, torch.tensor([i]), torch.tensor([empty]), sq.mean()[None], gen)
            sq[i] = sq.mean()
        else:
            j = int(on_empty[sq[on_empty].argmax()])
            split_neuron(model, j, i, gen, noise)
            sq[i] = sq[j] = sq[j] * 2.0 ** (-2.0 / model.nu)
        freq[i] = empty
        counts[full] -= 1
        counts[empty] += 1
        moved += 1
    return moved


@torch.no_grad()
def set_cosines(model, neurons: torch.Tensor, freqs: torch.Tensor, sq_norms: torch.Tensor,
                gen: torch.Generator | None, theta: torch.Tensor | None = None) -> None:
    """Neuron i ∈ `neurons` ← the §5 form at frequency ζ_i: u_{i,j}(a) = β cos(θ_j + 2πζa/p),
    w_i(c) = β cos(θ_1 + .. + θ_k + 2πζc/p), θ_j uniform from `gen` (or the given phases `theta`, (n, k)), and
    ‖θ_i‖² = sq_norms_i (β² p/2 = ‖θ_i‖²/(k+1)): each is a maximizer of the one-neuron margin ([MO] Lemmas 2–6)."""
    p, k = model.vocab_size, model.n_inputs
    if theta is None:
        theta = 2 * math.pi * torch.rand(len(neurons), k, generator=gen, dtype=torch.float64)
    phases = torch.cat([theta, theta.sum(dim=1, keepdim=True)], dim=1)              # (n, k+1)
    beta = (sq_norms.to(torch.float64) * 2 / ((k + 1) * p)).sqrt()
    a = torch.arange(p, dtype=torch.float64)
    waves = beta[:, None, None] * torch.cos(phases[..., None] + 2 * math.pi * freqs[:, None, None] * a / p)
    model.embed[..., neurons] = waves[:, :k].permute(1, 2, 0).to(model.embed.dtype)   # (k, p, n)
    model.unembed[neurons] = waves[:, k].to(model.unembed.dtype)


def pure_part(model) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(embed, unembed, ζ) of the network with each neuron cut down to its dominant frequency ζ_i: every
    vector u_{i,j}, w_i keeps only its DFT bins ±ζ_i (float64)."""
    p, freq = model.vocab_size, neuron_dominant_frequency(model)
    bins = torch.arange(p)[:, None]
    keep = ((bins == freq) | (bins == p - freq)).to(torch.complex128)            # (p, m)
    embed = torch.fft.ifft(torch.fft.fft(model.embed.detach().double(), dim=1) * keep, dim=1).real
    unembed = torch.fft.ifft(torch.fft.fft(model.unembed.detach().double(), dim=1) * keep.T, dim=1).real
    return embed, unembed, freq


@torch.no_grad()
def frequency_defects(model) -> torch.Tensor:
    """d(ζ) for ζ = 1..(p−1)/2 (module docstring), on the pure part of a PolyNet on k-input addition mod p.

    With F = the (k+1)-dimensional DFT of the population logits f(a_1..a_k)[c], the term that carries
    a_1 + .. + a_k − c at frequency ζ is F[ζ,..,ζ, −ζ]; every other F[j, −ζ] makes f(x)[c] depend on c
    otherwise, so the wrong classes tie at ζ iff d(ζ) = 0. A frequency no neuron uses gives NaN."""
    from fourier_circuits.models.polynet import PolyNet
    embed, unembed, _ = pure_part(model)
    p, k = model.vocab_size, model.n_inputs
    logits = PolyNet.from_weights(embed, unembed, "poly", k).logits(None).reshape((p,) * (k + 1))
    power = torch.fft.fftn(logits).abs().pow(2)
    out = []
    for zeta in range(1, (p - 1) // 2 + 1):
        at = power[..., (-zeta) % p]
        wanted = at[(zeta,) * k]
        out.append((at.sum() - wanted) / wanted)
    return torch.stack(out)


def cosine_defect(theta: torch.Tensor, amp: torch.Tensor, p: int, zeta: int) -> torch.Tensor:
    """d(ζ) (`frequency_defects`) of n §5 cosine neurons on frequency ζ alone, differentiable in their phases
    `theta` (n, k) and amplitudes `amp` (n,): u_{i,j}(a) = β_i cos(θ_ij + ωa), w_i(c) = β_i cos(Σ_j θ_ij + ωc)."""
    n, k = theta.shape
    wave = 2 * math.pi * zeta * torch.arange(p, dtype=theta.dtype) / p
    u = amp[:, None, None] * torch.cos(theta[..., None] + wave)                     # (n, k, p)
    w = amp[:, None] * torch.cos(theta.sum(dim=1, keepdim=True) + wave)             # (n, p)
    h = u[:, 0].reshape((n, p) + (1,) * (k - 1))
    for j in range(1, k):
        h = h + u[:, j].reshape((n,) + (1,) * j + (p,) + (1,) * (k - 1 - j))
    logits = torch.einsum("n...,nc->...c", h.pow(k), w)                              # (p,)*k + (p,)
    power = torch.fft.fftn(logits).abs().pow(2)[..., (-zeta) % p]
    wanted = power[(zeta,) * k]
    return (power.sum() - wanted) / wanted


def resolve_phases(theta: torch.Tensor, amp: torch.Tensor, p: int, zeta: int, gen: torch.Generator,
                   restarts: int, tol: float = 1e-10, iterations: int = 200) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Phases and amplitudes for n §5 neurons on frequency ζ whose wrong classes tie (`cosine_defect` ≈ 0):
    L-BFGS on the defect from the given ones, then from random phases and equal amplitudes, `restarts` times
    at most, until one reaches `tol`. Returns (θ, β, defect) of the best (β with the given Σ β²)."""
    best = (theta, amp, math.inf)
    total = amp.pow(2).sum()
    for r in range(restarts + 1):
        th = (theta if r == 0 else 2 * math.pi * torch.rand(theta.shape, generator=gen, dtype=torch.float64))
        log_amp = amp.log() if r == 0 else torch.full_like(amp, float(total / len(amp)) ** 0.5).log()
        th, log_amp = th.detach().double().contiguous().clone(), log_amp.detach().double().contiguous().clone()
        th.requires_grad_(True)
        log_amp.requires_grad_(True)
        opt = torch.optim.LBFGS([th, log_amp], lr=1.0, max_iter=iterations, history_size=30,
                                line_search_fn="strong_wolfe", tolerance_grad=1e-14, tolerance_change=1e-18)

        def closure() -> torch.Tensor:
            opt.zero_grad(set_to_none=True)
            d = cosine_defect(th, log_amp.exp(), p, zeta)
            d.backward()
            return d

        with torch.enable_grad():
            opt.step(closure)
        with torch.no_grad():
            d = float(cosine_defect(th, log_amp.exp(), p, zeta))
        if d < best[2]:
            a = log_amp.detach().exp()
            best = (th.detach().remainder(2 * math.pi), a * (total / a.pow(2).sum()).sqrt(), d)
        if best[2] < tol:
            break
    return best


@torch.no_grad()
def rephase_frequencies(model, seed: int, below: float = DEFECT_REPHASE) -> int:
    """Draw new phases for the neurons of every frequency with d(ζ) ≥ `below` (`frequency_defects`) and at
    least DESIGN_LOWER_BOUND[k] neurons (fewer cannot tie the wrong classes: no new phases help): each
    becomes a §5 cosine on its frequency with random phases and its own norm (`set_cosines`); from
    k = RESOLVE_FROM_K on, with the phases and amplitudes of `resolve_phases` instead (from the neurons' own
    phases, then random restarts), the frequency's total norm kept. Nothing moves while the features have not formed (as in
    `rebalance_frequencies`). Returns how many neurons were re-phased; the caller re-projects θ."""
    significant = significant_neurons(model)
    if float((neuron_max_power(model)[significant] >= SETTLED_POWER).double().mean()) < SETTLED_SHARE:
        return 0
    defects = frequency_defects(model)
    freq = neuron_dominant_frequency(model)
    fewest = DESIGN_LOWER_BOUND.get(model.n_inputs, 1)
    stuck = [z for z in range(1, len(defects) + 1) if bool(defects[z - 1] >= below) and int((freq == z).sum()) >= fewest]
    neurons = torch.nonzero(torch.isin(freq, torch.tensor(stuck, dtype=freq.dtype))).flatten()
    if not stuck or len(neurons) == 0:
        return 0
    gen, sq = torch.Generator().manual_seed(seed), model.neuron_sq_norms(torch.float64)
    if model.n_inputs < RESOLVE_FROM_K:
        set_cosines(model, neurons, freq[neurons], sq[neurons], gen)
        return len(neurons)
    p, k = model.vocab_size, model.n_inputs
    for z in stuck:
        on = torch.nonzero(freq == z).flatten()
        theta = torch.fft.fft(model.embed.detach().double()[..., on], dim=1)[:, z].angle().T      # (n, k)
        amp = (sq[on] * 2 / ((k + 1) * p)).sqrt()
        theta, amp, _ = resolve_phases(theta, amp, p, z, gen, RESOLVE_RESTARTS)
        set_cosines(model, on, freq[on], amp.pow(2) * (k + 1) * p / 2, None, theta=theta)
    return len(neurons)


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
    < REBALANCE_BELOW γ*, even out the neurons over the frequencies (`rebalance_frequencies`) or, when they are
    even, draw new phases for the frequencies whose pure part does not tie the wrong classes
    (`rephase_frequencies`: z^k nets trained on the whole population), and begin another Adam phase
    (`Trainer.begin_phase`). False when nothing is to be done, or nothing moved; then, if an earlier round
    ended higher than the last, the network goes back to it (`restore_best`: a re-phase can lose)."""
    cfg, ratio = trainer.cfg, trainer.history[-1].get("margin_ratio")
    if (cfg.rebalance_rounds == 0 or cfg.task != "modadd" or cfg.model != "polynet"
            or not cfg.normalize or ratio is None or ratio >= REBALANCE_BELOW):
        return False
    best = getattr(trainer, "refine_best", None)
    if best is None or ratio > best[0]:
        trainer.refine_best = (ratio, [q.detach().clone() for q in trainer.model.parameters()])
    moved = 0
    if trainer.rebalances < cfg.rebalance_rounds:
        seed = cfg.seed * 1_000_003 + trainer.step
        moved = rebalance_frequencies(trainer.model, seed)
        if moved == 0 and trainer.train.population and cfg.activation == "poly" and cfg.degree in (None, cfg.k):
            moved = rephase_frequencies(trainer.model, seed)
    if moved == 0:
        restore_best(trainer)
        return False
    trainer.project()
    trainer.begin_phase()
    return True


@torch.no_grad()
def restore_best(trainer) -> None:
    """At the end of the rounds: if an earlier round ended with a higher margin than the last
    (`trainer.refine_best`, kept by `rebalance_phase`), its parameters come back and are evaluated again."""
    best = getattr(trainer, "refine_best", None)
    if best is None or best[0] <= trainer.history[-1]["margin_ratio"]:
        return
    for q, saved in zip(trainer.model.parameters(), best[1]):
        q.copy_(saved)
    trainer.log(trainer.evaluate())
    if trainer.recorder is not None:
        trainer.recorder.save(trainer, checkpoint=True)


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
