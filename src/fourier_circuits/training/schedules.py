"""Step schedules: the log-spaced steps of metric rows and checkpoints, the learning rate and the softmin
inverse temperature τ."""
from __future__ import annotations

import numpy as np


def log_spaced_steps(total: int, count: int) -> list[int]:
    """Distinct integer steps 0 = s_0 < .. < total, roughly geometric in between."""
    steps = {0, total}
    steps.update(int(round(x)) for x in np.geomspace(1, max(total, 1), num=max(count - 1, 1)))
    return sorted(s for s in steps if 0 <= s <= total)


def learning_rate(cfg, step: int, base: float) -> float:
    """constant; doubling (×2 at each of lr_doubling_steps); warmup (linear over warmup_steps, then constant);
    linear (warm-up, then linear decay to 0 at cfg.steps)."""
    if cfg.lr_schedule == "doubling":
        return base * 2 ** sum(step >= s for s in cfg.lr_doubling_steps)
    warm = min(1.0, (step + 1) / cfg.warmup_steps) if cfg.warmup_steps else 1.0
    if cfg.lr_schedule == "linear":
        return base * warm * max(0.0, 1 - step / cfg.steps)
    return base * warm if cfg.lr_schedule == "warmup" else base


def temperature(cfg, step: int) -> float:
    """τ_t = τ_start (τ_end/τ_start)^{t/steps}."""
    return cfg.tau_start * (cfg.tau_end / cfg.tau_start) ** min(1.0, step / cfg.steps)
