"""New — the real minimal width against [LI]'s sufficient width 2^(2k−2)(p−1).

The question: at which width m does the fast recipe still reach ≥ 0.999 γ* on the whole population, and is
that answer a property of the task or of the budget? Trained margins are not monotone in m over short runs
(a seed can stall near 0.95 γ* at one width and reach γ* at a smaller one), so a bisection can skip the
threshold. The scan (`scan_widths`) therefore:
  1. trains every seed at the bound (it must succeed: [LI] Thm 4.1);
  2. walks down from the bound in strides of ⌈bound/8⌉ while the best seed still reaches the target;
  3. walks down one width at a time from the last success until `patience` consecutive widths fail on
     every seed: m_min is the smallest width that succeeded;
  4. retrains the `patience` widths just below m_min with twice the seeds and twice the steps: if one of
     them now succeeds, the answer was the budget's, and the claim says so (with the lower width found).
     Not at ci scale (it would double the recipe's time): cpu scale scans the ci case (5, 2) with the same
     seeds and steps, so its check is the ci answer's check too.
Seeds that miss the target at a width ≥ m_min are stalls; they are reported with their margins.

At k = 2 the fast recipe rebalances a stalled run's neurons over the frequencies (training/refine.py), so
m_min measures what the width can express rather than how evenly a random start split the neurons.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from fourier_circuits.reproduce.claims import Claim
from fourier_circuits.reproduce.scales import fast_modadd
from fourier_circuits.theory.modadd import min_width_modadd

if TYPE_CHECKING:
    from fourier_circuits.reproduce.figures import Context

TARGET = 0.999
PATIENCE = 2
# (p, k) per scale; seeds and steps (None: the fast recipe's own cap and stopping rule) of the scan. The
# check doubles both (steps None: twice the recipe's cap, RECIPE_DEFAULTS_BY_DEGREE).
CASES = {"ci": [(5, 2)], "cpu": [(5, 2), (7, 2), (11, 2), (5, 3)], "paper": [(5, 2), (7, 2), (11, 2), (13, 2), (5, 3), (7, 3)]}
SEEDS = {"ci": 3, "cpu": 3, "paper": 6}   # ci and cpu alike: cpu's check of (5, 2) is the ci answer's check
CHECKED = {"ci": False, "cpu": True, "paper": True}
STEPS: dict[int, int] = {}   # k -> steps; none set: the fast recipe's own cap and stopping rule at every k
# (its default at (5, 3, 40) gives 0.9979, 1.0000, 1.0000 γ* on seeds 0-2)
# significant neurons at the bound (k ≥ 3): the runs of li-fig5 (k = 3) and li-fig1 (k = 4), reused
SIGNIFICANT = {"ci": [(11, 3), (5, 4)], "cpu": [(23, 3), (11, 4)], "paper": [(23, 3), (11, 4)]}


@dataclass
class WidthScan:
    """Per-seed margin / γ* of every width trained, by budget: `ratios[m]` (scan), `check[m]` (doubled)."""
    bound: int
    ratios: dict[int, list[float]] = field(default_factory=dict)
    check: dict[int, list[float]] = field(default_factory=dict)

    def best(self, m: int, table: dict[int, list[float]] | None = None) -> float:
        return max((self.ratios if table is None else table)[m])

    @property
    def m_min(self) -> int | None:
        ok = [m for m in self.ratios if self.best(m) >= TARGET]
        return min(ok) if ok else None

    @property
    def m_min_doubled(self) -> int | None:
        """The answer once the doubled runs are counted too (None when the bound fails)."""
        if self.m_min is None:
            return None
        return min([self.m_min] + [m for m in self.check if self.best(m, self.check) >= TARGET])

    def stalls(self) -> list[tuple[int, int, float]]:
        """(width, seed index, ratio) of every seed below the target at a width ≥ m_min."""
        m_min = self.m_min or self.bound + 1
        return [(m, i, r) for m in sorted(self.ratios) if m >= m_min for i, r in enumerate(self.ratios[m]) if r < TARGET]


def scan_widths(ratios_at: Callable[[int, bool], list[float]], bound: int, patience: int = PATIENCE,
                check: bool = True) -> WidthScan:
    """The scan of the module docstring (step 4 only when `check`). `ratios_at(m, doubled)` trains width m
    (with the doubled budget when told) and returns margin / γ* per seed."""
    scan = WidthScan(bound)

    def ok(m: int) -> bool:
        if m not in scan.ratios:
            scan.ratios[m] = list(ratios_at(m, False))
        return scan.best(m) >= TARGET

    if not ok(bound):
        return scan
    stride, m = max(1, -(-bound // 8)), bound
    while m - stride >= 1 and ok(m - stride):
        m -= stride
    fails, m = 0, m - 1
    while m >= 1 and fails < patience:
        fails = 0 if ok(m) else fails + 1
        m -= 1
    for m in range(scan.m_min - 1, max(0, scan.m_min - 1 - patience), -1) if check else ():
        scan.check[m] = list(ratios_at(m, True))
    return scan


def _ratios(ctx: Context, p: int, k: int, width: int, doubled: bool) -> list[float]:
    from fourier_circuits.training.presets import recipe_values
    seeds, steps = SEEDS[ctx.scale], STEPS.get(k)
    if doubled:
        seeds, steps = 2 * seeds, 2 * (steps or recipe_values("fast", k)["steps"])
    budget = {} if steps is None else {"steps": steps}
    runs = ctx.runs(f"p={p} k={k}" + (" (doubled)" if doubled else ""),
                    [dict(p=p, k=k, width=width, seed=s, **budget) for s in range(seeds)], analyze=False)
    return [r.result.get("margin_ratio") or 0.0 for r in runs]


def _fmt_stalls(stalls: list[tuple[int, int, float]]) -> str:
    return "; ".join(f"m={m} seed {s}: {r:.4f}" for m, s, r in stalls) or "none"


def new_minimal_width(ctx: Context) -> tuple[list[Claim], list]:
    from fourier_circuits.analysis.plots import plot_minimal_width
    claims, table = [], []
    for p, k in CASES[ctx.scale]:
        bound = min_width_modadd(p, k)
        scan = scan_widths(lambda m, doubled: _ratios(ctx, p, k, m, doubled), bound, check=CHECKED[ctx.scale])
        m_min, again = scan.m_min, scan.m_min_doubled
        table.append(dict(p=p, k=k, bound=bound, m_min=m_min, ratios=scan.ratios, check=scan.check))
        seeds = SEEDS[ctx.scale]
        if m_min is None:
            claims.append(Claim(f"p={p}, k={k}: the bound {bound} reaches {TARGET} γ*", f"best of {seeds} seeds",
                                f"{scan.best(bound):.4f} γ*", False))
            continue
        below = scan.ratios.get(m_min - 1)
        claims.append(Claim(
            f"p={p}, k={k}: smallest width with best-of-{seeds} margin ≥ {TARGET} γ* (downward scan)",
            f"bound 2^(2k−2)(p−1) = {bound} suffices",
            f"m_min = {m_min} ({m_min / bound:.2f} × bound, {m_min / (p - 1):.2f} (p−1)); at m_min−1 best "
            f"{max(below):.4f} γ*" if below else f"m_min = {m_min}", True, m_min))
        if CHECKED[ctx.scale]:
            checked = ", ".join(f"m={m}: {scan.best(m, scan.check):.4f}" for m in sorted(scan.check, reverse=True))
            claims.append(Claim(f"p={p}, k={k}: twice the seeds and steps leave m_min = {m_min}",
                                f"no width below m_min reaches {TARGET} γ* with {2 * seeds} seeds",
                                f"{checked or 'nothing below m = 1'} → m_min = {again}", again == m_min, again))
        claims.append(Claim(f"p={p}, k={k}: seeds that stall at widths ≥ m_min (informational)",
                            "reported", _fmt_stalls(scan.stalls()), True, float(len(scan.stalls()))))
    claims += _significant_at_bound(ctx)
    figures = [plot_minimal_width(table, ctx.fig_dir / "minimal_width")[0]]
    return claims, figures


def _significant_at_bound(ctx: Context) -> list[Claim]:
    """k ≥ 3: how many of the bound's neurons a network at ≥ 0.999 γ* actually uses (‖θ_i‖ ≥ 1% of the largest),
    on the fast-recipe runs of the [LI] network figures (`figures.fast_modadd`; paper scale: their cpu runs)."""
    claims, scale = [], "cpu" if ctx.scale == "paper" else ctx.scale
    for p, k in SIGNIFICANT[ctx.scale]:
        bound = min_width_modadd(p, k)
        (run,) = ctx.runs(f"significant p={p} k={k}", [fast_modadd(p, k, scale)])
        ratio, n_sig = run.result.get("margin_ratio") or 0.0, run.analysis.get("n_significant")
        claims.append(Claim(f"p={p}, k={k}: significant neurons of a network at ≥ {TARGET} γ*, width = bound {bound}",
                            f"margin ≥ {TARGET} γ*; count reported",
                            f"{n_sig} of {bound} ({(n_sig or 0) / bound:.2f} × bound) at {ratio:.5f} γ*",
                            ratio >= TARGET and n_sig is not None, n_sig))
    return claims
