"""The metric row of a training step, measured in float64 over the whole training (and test) set.

Homogeneous models (ν-homogeneous in θ: PolyNet, ParityNet): loss, accuracy, margin h(θ), ‖θ‖_{2,ν}, the
normalized margin h/‖θ‖^ν and margin_ratio = normalized margin / γ* (None without γ*). Models that are not
homogeneous (the transformer): float64 cross-entropy and accuracy only; margin, norm, normalized_margin and
margin_ratio are None (the logits are not homogeneous in θ).

Cross-entropy rows (`loss_row`; `margin_collapse_row` for homogeneous models trained on cross-entropy) also
carry softmax-collapse diagnostics (Prieto et al. 2025, "Grokking at the edge of numerical stability"),
measured over the training set on the logits as the model computes them (in the run's dtype), see
`collapse_stats`: sc_fraction, max_logit_gap, nlm_cosine, nlm_fraction.

Fast rows. When train ∪ test is the whole population Z_p^k of a PolyNet with σ(z) = z^k (`population_layout`)
and the row is large (N·m·C ≥ FAST_ROW_MIN_WORK), the row is ONE float32 pass over the population at matmul
speed, `models.margins.screen_population`: the margin h is the float64 margin of the minimizing row (exact,
chosen by a rigorous float32 rounding bound), accuracies are exact, the losses are within the bound's 2·e_r per
row of the float64 ones (its docstring), and for a float32 run the collapse statistics come from the same
pass (the train rows' float32 logits, rounded once from the screen's). Everything else (ReLU nets, d ≠ k,
parity nets and the other models, test sets that are not the rest of the population, small rows) is the float64
pass `evaluate_margins`.
"""
from __future__ import annotations

import torch

from fourier_circuits.models.base import forward_rows
from fourier_circuits.models.margins import (
    evaluate_margins,
    l2nu_norm,
    population_index,
    screen_applies,
    screen_population,
)

FAST_ROW_MIN_WORK = 1 << 28   # N·m·C from which a metric row is the float32 screen (smaller: the float64 pass)


def population_layout(model, train, test) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(labels, train_mask) of the population Z_p^k in lexicographic order, when the screen applies to the
    model (`screen_applies`), the model and data are on the CPU (the screen is written for it), the row is
    large enough, and the train and test inputs together are every tuple of Z_p^k exactly once; else None."""
    if not screen_applies(model) or len(train.y) == 0 or model.embed.device.type != "cpu":
        return None
    p, k = model.vocab_size, model.n_inputs
    n = p**k
    if n * model.width * model.n_classes < FAST_ROW_MIN_WORK or len(train.y) + len(test.y) != n:
        return None
    x = torch.cat([train.x, test.x])
    if x.dim() != 2 or x.shape[1] != k or x.dtype.is_floating_point or x.device.type != "cpu":
        return None
    if int(x.min()) < 0 or int(x.max()) >= p:
        return None
    index = population_index(x, p)
    if not bool((torch.bincount(index, minlength=n) == 1).all()):
        return None
    labels = torch.empty(n, dtype=torch.long)
    labels[index] = torch.cat([train.y, test.y]).cpu()
    train_mask = torch.zeros(n, dtype=torch.bool)
    train_mask[index[:len(train.y)]] = True
    return labels, train_mask


def _row(model, train_stats: dict, test_stats: dict | None, gamma_star: float | None) -> dict:
    norm = l2nu_norm(model)
    row = {"train_loss": train_stats["loss"], "train_accuracy": train_stats["accuracy"],
           "margin": train_stats["margin"], "norm": norm, "normalized_margin": train_stats["margin"] / norm**model.nu,
           "test_loss": test_stats["loss"] if test_stats else None,
           "test_accuracy": test_stats["accuracy"] if test_stats else None}
    row["margin_ratio"] = row["normalized_margin"] / gamma_star if gamma_star else None
    return row


def _fast_row(model, train, test, gamma_star: float | None, collapse: "CollapseAccumulator | None") -> dict | None:
    """The row from one `screen_population` pass, or None where it does not apply (or overflowed)."""
    layout = population_layout(model, train, test)
    if layout is None:
        return None
    stats = screen_population(model, *layout, visit=collapse.add if collapse is not None else None)
    if stats is None:
        return None
    train_stats = {**stats["train"], "margin": stats["margin"]}
    return _row(model, train_stats, stats["test"] if len(test.y) else None, gamma_star)


def margin_row(model, train, test, budget: int, gamma_star: float | None) -> dict:
    fast = _fast_row(model, train, test, gamma_star, None)
    if fast is not None:
        return fast
    stats = evaluate_margins(model, train.x, train.y, budget)
    held_out = evaluate_margins(model, test.x, test.y, budget) if len(test.y) else None
    return _row(model, stats, held_out, gamma_star)


@torch.no_grad()
def _scan(model, batch, budget: int, keep: bool) -> tuple[float, int, list[torch.Tensor]]:
    """One pass over `batch` in memory-budget chunks (at most CPU_FORWARD_ROWS rows on the CPU): the float64
    cross-entropy sum, the number correct, and (keep) the logits of every chunk in the model's dtype."""
    rows, ce_sum, correct, kept = forward_rows(model.rows_per_chunk(budget), batch.x), 0.0, 0, []
    for start in range(0, len(batch.y), rows):
        logits, y = model(batch.x[start:start + rows]), batch.y[start:start + rows]
        z = logits.double()
        ce_sum += float(torch.nn.functional.cross_entropy(z, y, reduction="sum"))
        correct += int((z.argmax(1) == y).sum())
        if keep:
            kept.append(logits)
    return ce_sum, correct, kept


def loss_accuracy(model, batch, budget: int) -> tuple[float | None, float | None]:
    """Float64 mean cross-entropy and accuracy of `model` over `batch`, in memory-budget chunks."""
    n = len(batch.y)
    if n == 0:
        return None, None
    ce_sum, correct, _ = _scan(model, batch, budget, keep=False)
    return ce_sum / n, correct / n


class CollapseAccumulator:
    """`collapse_stats` over logits that arrive in chunks: `add(logits, y)` per chunk, then `stats()`."""

    def __init__(self) -> None:
        self.rows, self.collapsed, self.max_gap = 0, 0, float("-inf")
        self.dot, self.descent_sq, self.centred_sq = 0.0, 0.0, 0.0

    @torch.no_grad()
    def add(self, logits: torch.Tensor, y: torch.Tensor) -> None:
        if len(y) == 0:
            return
        z = logits.double()
        top = z.amax(1, keepdim=True)
        at_top = z == top
        second = z.masked_fill(at_top, float("-inf")).amax(1, keepdim=True)
        tied = (at_top.sum(1, keepdim=True) > 1) | (z.shape[1] == 1)
        second = torch.where(tied, top, second)                                 # a tie at the top: gap 0
        gap = (top - second)[:, 0]
        # the softmax in the logits' dtype can be exactly 1 at y only if y is the top class by far: a gap
        # under 10 nats leaves Σ_{c≠y} e^{z_c − z_y} > 4e−5, far above half an ulp of 1 in any float dtype
        wide = ((z.gather(1, y[:, None]) == top)[:, 0] & ((gap > 10) | (z.shape[1] == 1))).nonzero()[:, 0]
        p_y = logits[wide].softmax(1).gather(1, y[wide][:, None])
        prob = torch.sub(z, top).exp_()
        prob /= prob.sum(1, keepdim=True)
        descent = prob.neg_().scatter_add_(1, y[:, None], torch.ones_like(gap)[:, None]).flatten()  # −N ∂L/∂z
        centred = (z - z.mean(1, keepdim=True)).flatten()
        self.rows += len(y)
        self.collapsed += int((p_y == 1).sum())
        self.max_gap = max(self.max_gap, float(gap.max()))
        self.dot += float(torch.dot(descent, centred))
        self.descent_sq += float(torch.dot(descent, descent))
        self.centred_sq += float(torch.dot(centred, centred))

    def stats(self) -> dict:
        if self.rows == 0:
            return {"sc_fraction": None, "max_logit_gap": None, "nlm_cosine": None, "nlm_fraction": None}
        denom = (self.descent_sq * self.centred_sq) ** 0.5
        cos = self.dot / denom if denom > 0 else 0.0
        return {"sc_fraction": self.collapsed / self.rows, "max_logit_gap": self.max_gap, "nlm_cosine": cos,
                "nlm_fraction": cos * cos}


def collapse_stats(logits: torch.Tensor, y: torch.Tensor) -> dict:
    """Softmax-collapse diagnostics of (N, C) logits in their own dtype (Prieto et al. 2025):

    sc_fraction    fraction of rows whose softmax, computed in the logits' dtype, is exactly 1.0 at the label:
                   one-hot at the label to that precision (every other entry below half an ulp of 1), so the
                   row's cross-entropy and its gradient 1 − softmax_y are exactly 0 there (Softmax Collapse).
                   In float32 that needs a gap of ~17 nats (Σ_c≠y e^{z_c − z_y} < 2^-24), in float64 ~37; the
                   check is on the run's own dtype, so a float64 run reports 0 where a float32 one collapses.
    max_logit_gap  max over rows of (top logit − second logit), in float64.
    nlm_cosine     cosine between the descent direction −∂L/∂z of the mean cross-entropy and the logits
                   scaled up (the row-centred logits z − mean_c z: softmax ignores a per-row shift), over all
                   (row, class) entries: the "naive loss minimization" direction taken in logit space, where it
                   is exact (scaling the logits) for any model; +1 = the gradient only grows the logits.
    nlm_fraction   nlm_cosine², the fraction of ‖∂L/∂z‖² along that direction.
    Computed in float64 except the softmax test; sums over chunks (`CollapseAccumulator`) give the same
    statistics up to float64 rounding. Empty input: all None."""
    acc = CollapseAccumulator()
    acc.add(logits, y)
    return acc.stats()


def train_loss_accuracy_collapse(model, batch, budget: int) -> tuple[float | None, float | None, dict]:
    """`loss_accuracy` of the training batch and its `collapse_stats`, from one pass (the (N, C) logits of
    the training set are kept: N·C values, as small as the training batch itself)."""
    n = len(batch.y)
    if n == 0:
        return None, None, collapse_stats(batch.y.new_zeros((0, 1), dtype=torch.float32), batch.y)
    ce_sum, correct, kept = _scan(model, batch, budget, keep=True)
    return ce_sum / n, correct / n, collapse_stats(torch.cat(kept), batch.y)


def margin_collapse_row(model, train, test, budget: int, gamma_star: float | None) -> dict:
    """`margin_row` plus the `collapse_stats` of the training logits in the run's dtype: the cross-entropy
    runs of homogeneous models ([MO], [LI] recipes), whose logits grow without bound. A float32 run on the
    fast path takes them from the screen's own pass; otherwise a second pass in the run's dtype."""
    if getattr(model, "embed", None) is not None and model.embed.dtype == torch.float32:
        collapse = CollapseAccumulator()
        fast = _fast_row(model, train, test, gamma_star, collapse)
        if fast is not None:
            return {**fast, **collapse.stats()}
    return {**margin_row(model, train, test, budget, gamma_star), **train_loss_accuracy_collapse(model, train, budget)[2]}


def loss_row(model, train, test, budget: int, gamma_star: float | None = None) -> dict:
    train_loss, train_acc, collapse = train_loss_accuracy_collapse(model, train, budget)
    test_loss, test_acc = loss_accuracy(model, test, budget)
    return {"train_loss": train_loss, "train_accuracy": train_acc, "margin": None, "norm": None,
            "normalized_margin": None, "test_loss": test_loss, "test_accuracy": test_acc, "margin_ratio": None,
            **collapse}
