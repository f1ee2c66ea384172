"""Why the fast recipe stalls below γ* at k = 5 (issue 13): is it the neurons' off-frequency parts, or their phases?

Trains (p, k, m) = (5, 5, 1024) (the sufficient width; --p, --k, --width for others) with the default recipe and `--steps` Adam steps, in
memory, then measures the normalized margin / γ* of
  trained      the polished network, as `fourier-circuits train` returns it;
  purified     every neuron projected onto its dominant frequency ζ_i (u_{i,j} and w_i onto span{cos, sin}
               of 2πζ_i a/p; the DC and the other frequency removed), nothing retrained;
  free_polish  the L-BFGS polish stages (refine.lbfgs_polish, τ = τ_end·3^s) from the purified network;
  pure_polish  the same stages with every gradient projected onto each neuron's frequency subspace, so the
               neurons stay single-frequency and only their amplitudes and phases move.
If the stall were the leftover off-frequency parts, pure_polish would reach γ*. One JSON line per stage.

    OMP_NUM_THREADS=1 python experiments/k5_stall.py --steps 2000
"""
from __future__ import annotations

import argparse
import json
import math
import time

import torch

from fourier_circuits.analysis.fourier import neuron_dominant_frequency, neuron_max_power
from fourier_circuits.training.config import resolve_config
from fourier_circuits.training.refine import lbfgs_polish
from fourier_circuits.training.trainer import Trainer

TAU_FACTORS = (1, 3, 10, 30, 100, 300, 1000)


def frequency_projectors(model, p: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(neuron indices, P_ζ) per dominant frequency ζ, P_ζ[a, b] = (2/p) cos(2πζ(a − b)/p): the orthogonal
    projector onto span{cos(2πζa/p), sin(2πζa/p)} (p odd, ζ ≠ 0)."""
    a = torch.arange(p, dtype=torch.float64)
    freq = neuron_dominant_frequency(model)
    return [((freq == z).nonzero().flatten(),
             ((2.0 / p) * torch.cos(2 * math.pi * z * (a[:, None] - a[None, :]) / p)).to(model.embed.dtype))
            for z in torch.unique(freq).tolist()]


@torch.no_grad()
def project_onto_frequencies(embed: torch.Tensor, unembed: torch.Tensor, projectors) -> None:
    """In place: embed[j, :, i] ← P_ζi embed[j, :, i] and unembed[i] ← P_ζi unembed[i]."""
    for idx, P in projectors:
        embed[:, :, idx] = torch.einsum("ab,jbi->jai", P, embed[:, :, idx])
        unembed[idx, :] = unembed[idx, :] @ P.T


def pure_polish(trainer, projectors, tau: float, iterations: int) -> None:
    """lbfgs_polish with the gradient projected onto each neuron's frequency subspace."""
    model = trainer.model
    lbfgs_polish(model, trainer.train.model_input(model), trainer.train.y, model.rows_per_chunk(trainer.budget),
                 tau, iterations,
                 grad_hook=lambda m: project_onto_frequencies(m.embed.grad, m.unembed.grad, projectors))


def report(stage: str, trainer, t0: float, **extra) -> dict:
    row = {"stage": stage, "margin_ratio": trainer.evaluate()["margin_ratio"],
           "min_max_power": float(neuron_max_power(trainer.model).min()), "seconds": round(time.time() - t0, 1),
           **extra}
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--p", type=int, default=5, help="an odd prime")
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--width", type=int, default=1024, help="default: the sufficient width 2^(2k−2)(p−1) at (5, 5)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = resolve_config(p=args.p, k=args.k, width=args.width, steps=args.steps, seed=args.seed)
    trainer, t0 = Trainer(cfg, None, progress=False), time.time()
    trainer.run()
    report("trained", trainer, t0, steps=args.steps)
    trained = [q.detach().clone() for q in trainer.model.parameters()]
    projectors = frequency_projectors(trainer.model, cfg.p)
    for stage in ("free_polish", "pure_polish"):
        with torch.no_grad():
            for q, q0 in zip(trainer.model.parameters(), trained):
                q.copy_(q0)
            project_onto_frequencies(trainer.model.embed.data, trainer.model.unembed.data, projectors)
        trainer.project()
        if stage == "free_polish":
            report("purified", trainer, t0)
        for factor in TAU_FACTORS:
            tau = cfg.tau_end * factor
            if stage == "free_polish":
                lbfgs_polish(trainer.model, trainer.train.model_input(trainer.model), trainer.train.y,
                             trainer.model.rows_per_chunk(trainer.budget), tau, cfg.polish_iters)
            else:
                pure_polish(trainer, projectors, tau, cfg.polish_iters)
            trainer.project()
        report(stage, trainer, t0, tau_max=cfg.tau_end * TAU_FACTORS[-1])


if __name__ == "__main__":
    main()
