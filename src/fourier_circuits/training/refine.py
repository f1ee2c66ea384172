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
"""
from __future__ import annotations

import torch

from fourier_circuits.models.margins import l2nu_norm_pow
from fourier_circuits.training.objectives import rms_normalized_logit, softmin_value_and_grad

POLISH_TAU_FACTORS = (1.0, 3.0, 10.0, 30.0, 100.0)  # the polish stages' τ, in units of tau_end
POLISH_MIN_STAGES = 3      # after these, a stage that raised the normalized margin by < POLISH_MIN_GAIN
POLISH_MIN_GAIN = 1e-5     # (relative) ends the polish: (5, 5, 1024) gains 0.8%, 0.35%, 0.1% at τ_end·10, 30, 100


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
    half = 2.0 ** (-1.0 / model.nu)
    neuron = {"embed": lambda i: (..., i), "unembed": lambda i: (i,)}     # where neuron i sits in each tensor
    for j, i in enumerate(dead):
        src = live[j % len(live)]
        for name, at in neuron.items():
            q, state = getattr(model, name), optimizer.state.get(getattr(model, name), {})
            q[at(src)] *= half
            noise = 1 + 1e-3 * torch.randn(q[at(src)].shape, generator=gen, dtype=torch.float64).to(q.dtype)
            q[at(i)] = q[at(src)] * noise
            for moment in ("exp_avg", "exp_avg_sq"):
                if moment in state:
                    state[moment][at(i)] = state[moment][at(src)]
    return len(dead)


def lbfgs_polish(model, x, y: torch.Tensor, rows: int, tau: float, iterations: int) -> None:
    """Maximize the smoothed margin on (x, y) at inverse temperature τ (s fixed at its current value) with
    L-BFGS; x None is the population pass. The caller projects θ back to the unit sphere."""
    with torch.no_grad():
        s = rms_normalized_logit(model.logits(x, rows), float(l2nu_norm_pow(model)))
    opt = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=iterations, history_size=30,
                            line_search_fn="strong_wolfe", tolerance_grad=1e-14, tolerance_change=1e-16)

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        loss, grad = softmin_value_and_grad(model.logits(x, rows), y, l2nu_norm_pow(model), s, tau)
        model.backward_from_logits(x, grad, rows)
        return torch.tensor(loss, dtype=torch.float64)

    opt.step(closure)
