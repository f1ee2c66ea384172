"""Norms and margins (THEORY.md §3), evaluated in float64 over the whole population.

‖θ‖_{2,ν}^ν = Σ_i ‖θ_i‖_2^ν,  point margin g(θ,x,y) = f(x)[y] − max_{y'≠y} f(x)[y'],
h(θ) = min_D g, normalized margin h(θ)/‖θ‖_{2,ν}^ν  (= h(θ/‖θ‖) by homogeneity).
"""
from __future__ import annotations

import itertools
import math
from typing import Callable

import torch

from fourier_circuits.models.polynet import PolyNet

DEFAULT_MEMORY_BUDGET = 512 * 2**20  # bytes for one chunk's hidden activations


def l2nu_norm_pow(model: PolyNet, nu: float | None = None) -> torch.Tensor:
    """‖θ‖_{2,ν}^ν = Σ_i (‖θ_i‖_2²)^{ν/2} (differentiable, in the model's dtype)."""
    nu = model.nu if nu is None else nu
    return model.neuron_sq_norms().pow(nu / 2).sum()


def l2nu_norm(model: PolyNet, nu: float | None = None) -> float:
    """‖θ‖_{2,ν} in float64."""
    nu = model.nu if nu is None else nu
    sq = model.neuron_sq_norms(torch.float64).detach()
    return float(sq.pow(nu / 2).sum().pow(1 / nu))


def softmin_loss(logits: torch.Tensor, y: torch.Tensor, norm: torch.Tensor, s: float, tau: float) -> torch.Tensor:
    """The smoothed margin L = (s/τ) log Σ_{x, c≠y} exp(−τ G_{x,c}/s), G = (f_y − f_c)/‖θ‖^ν, as a differentiable
    function of the logits and of ‖θ‖^ν = `norm` (training/objectives.py; the solver's polish)."""
    gaps = logits.gather(1, y[:, None]) - logits               # ‖θ‖^ν G_{x,c} = f_y − f_c
    # one scalar factor −τ/(s‖θ‖^ν) on the gaps: F = f/‖θ‖^ν is never formed
    exponents = (gaps * (-tau / s / norm)).scatter(1, y[:, None], float("-inf"))   # drop c = y
    return (s / tau) * torch.logsumexp(exponents.flatten(), 0)


def chunk_rows(width: int, budget_bytes: int = DEFAULT_MEMORY_BUDGET, bytes_per_value: int = 8) -> int:
    """Rows per chunk so that a (rows, width) float64 activation (x3 for temporaries) fits the budget."""
    return max(1, budget_bytes // (3 * bytes_per_value * max(width, 1)))


def point_margins(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """g = f[y] − max_{y'≠y} f[y'] for each row."""
    correct = logits.gather(1, labels[:, None]).squeeze(1)
    others = logits.scatter(1, labels[:, None], float("-inf"))
    return correct - others.max(dim=1).values


def class_weighted_margins(logits: torch.Tensor, labels: torch.Tensor, tau: torch.Tensor | None = None) -> torch.Tensor:
    """g' = f[y] − Σ_{y'≠y} τ[y'] f[y'] with τ a distribution over wrong classes (uniform if None).

    g' ≥ g always; [MO] Lemmas 2–6 use E[g'] to reduce max-margin to a single neuron.
    """
    n, c = logits.shape
    if tau is None:
        tau = torch.full((n, c), 1.0 / (c - 1), dtype=logits.dtype, device=logits.device)
    tau = tau.scatter(1, labels[:, None], 0.0)
    correct = logits.gather(1, labels[:, None]).squeeze(1)
    return correct - (tau * logits).sum(dim=1)


@torch.no_grad()
def evaluate_margins(model: PolyNet, inputs: torch.Tensor, labels: torch.Tensor,
                     budget_bytes: int = DEFAULT_MEMORY_BUDGET) -> dict:
    """Float64 pass over (inputs, labels) in chunks: min margin h, accuracy, mean cross-entropy."""
    w_embed, w_unembed = model.embed.double(), model.unembed.double()
    rows = chunk_rows(model.width, budget_bytes)
    h, correct, ce_sum, n = float("inf"), 0, 0.0, len(labels)
    for start in range(0, n, rows):
        x, y = inputs[start:start + rows], labels[start:start + rows]
        logits = model.forward_with(w_embed, w_unembed, x)
        h = min(h, float(point_margins(logits, y).min()))
        correct += int((logits.argmax(dim=1) == y).sum())
        ce_sum += float(torch.nn.functional.cross_entropy(logits, y, reduction="sum"))
    return {"margin": h, "accuracy": correct / max(n, 1), "loss": ce_sum / max(n, 1)}


def normalized_margin(model: PolyNet, inputs: torch.Tensor, labels: torch.Tensor,
                      budget_bytes: int = DEFAULT_MEMORY_BUDGET) -> float:
    """h(θ) / ‖θ‖_{2,ν}^ν in float64."""
    h = evaluate_margins(model, inputs, labels, budget_bytes)["margin"]
    return h / l2nu_norm(model) ** model.nu


# ----------------------------------------------------------------------------------------------------
# The fast metric row: a float32 screen of the whole population with a rigorous rounding bound, then a
# float64 recomputation of every row the bound cannot decide.

UNIT32, UNIT64 = 2.0**-24, 2.0**-53        # unit roundoff u of float32 and float64
TINY32 = 2.0**-125                         # ≥ any float32 value flushed to zero (subnormals, `flush_subnormals`)


def gamma(n: int, unit: float = UNIT32) -> float:
    """γ_n = n·u / (1 − n·u) (Higham): Π_{t≤n} (1 + δ_t)^{±1} = 1 + θ_n with |θ_n| ≤ γ_n when every |δ_t| ≤ u."""
    return n * unit / (1 - n * unit)


def screen_applies(model) -> bool:
    """The float32 screen covers PolyNet with σ(z) = z^k and k ≥ 2 inputs (the polarization identity below).
    Everything else (ReLU nets, d ≠ k, other models) keeps the plain float64 pass `evaluate_margins`."""
    return isinstance(model, PolyNet) and model.activation == "poly" and model.degree == model.n_inputs >= 2


def population_index(x: torch.Tensor, vocab: int) -> torch.Tensor:
    """Lexicographic index Σ_j x_j p^{k−1−j} of each row of x (N, k) in Z_p^k (a_1 slowest)."""
    powers = vocab ** torch.arange(x.shape[1] - 1, -1, -1, device=x.device)
    return (x * powers).sum(1)


def _table(embed: torch.Tensor, inputs: range | tuple, product: bool = False) -> torch.Tensor:
    """(p^n, m) table over the values of `inputs`, rows lexicographic: Σ_{j∈inputs} u_j[a_j] (or Π_j).
    Always a new tensor (never a view of `embed`)."""
    out = embed[inputs[0]].clone()
    for j in inputs[1:]:
        rhs = embed[j][None]
        out = (out[:, None] * rhs if product else out[:, None] + rhs).flatten(0, 1)
    return out


def _power(z: torch.Tensor, k: int) -> torch.Tensor:
    """z^k by k − 1 multiplications (each rounds once: fl(z^k) = z^k (1 + θ_{k−1}))."""
    out = z.clone()
    for _ in range(k - 1):
        out.mul_(z)
    return out


def _side_tables(w64: torch.Tensor, embed64: torch.Tensor) -> list[torch.Tensor]:
    """The 2^k − 2 side terms of the polarization identity in float64, folded into k broadcast tables:
    side[j] (shape p on every axis but a 1 at axis j, then C) sums ε_S g_S over the S whose first missing
    input is j, with g_S[a_S, c] = Σ_i (Σ_{j∈S} u_ij[a_j])^k w_ic and ε_S = (−1)^{k−|S|+1}."""
    k, p, _ = embed64.shape
    C = w64.shape[1]
    side = [w64.new_zeros(*(1 if a == j else p for a in range(k)), C) for j in range(k)]
    for size in range(1, k):
        for S in itertools.combinations(range(k), size):
            g = (_power(_table(embed64, S), k) @ w64).mul_((-1) ** (k - size + 1))
            side[min(set(range(k)) - set(S))] += g.view(*(p if a in S else 1 for a in range(k)), C)
    return side


def _bounds(model: PolyNet, split: int, block: int, n_blocks: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Rounding bounds of the screen's logits (see `screen_population`): (e_pre (p^L,), e_suf (p^R,), e64)
    with |f̂_c(a, s) − f_c(a, s)| ≤ min(e_pre[a], e_suf[s]) + e64 for every class c, and the same e64
    bounding the float64 reference's own error. All in float64, inflated by 1 + 1e−10 for their own rounding."""
    k, m = model.n_inputs, model.width
    embed64, w64 = model.embed.detach().double(), model.unembed.detach().double().abs()
    x_abs = math.factorial(k) * _table(embed64, range(split), product=True).abs()     # k!·Π_{j<L} |u_ij|
    y_abs = _table(embed64, range(split, k), product=True).abs()                       # Π_{j≥L} |u_ij|
    g32 = gamma(block + 2 * k + 1) * (1 + 1e-10)
    e_pre = g32 * (x_abs @ (y_abs.amax(0)[:, None] * w64)).amax(1)
    e_suf = g32 * (y_abs @ (x_abs.amax(0)[:, None] * w64)).amax(1)
    # float64 parts (side terms, partial sums, the reference forward): every term of every sum is bounded by
    # Σ_S (Σ_{j∈S} max_a |u_ij|)^k |w_ic| or k! Π_j max_a |u_ij| |w_ic|, over at most m + k² + 2^k + n_blocks
    # roundings each; flushed float32 subnormals add ≤ TINY32 per product term.
    u_max = embed64.abs().amax(1)                                                       # (k, m)
    per_neuron = math.factorial(k) * u_max.prod(0)
    for size in range(1, k + 1):
        for S in itertools.combinations(range(k), size):
            per_neuron = per_neuron + u_max[list(S)].sum(0) ** k
    n_round = 4 * (m + k * k + 2**k + n_blocks)
    e64 = gamma(n_round, UNIT64) * float((per_neuron[:, None] * w64).sum(0).max()) * (1 + 1e-10)
    # flush-to-zero: each of the ≤ (2k + 2 + block)·m float32 operations may lose ≤ TINY32, which a later
    # product scales by at most (1 + max|X|)(1 + max|Y|)
    scale = (1 + float(x_abs.max())) * (1 + float(y_abs.max())) * (1 + float(w64.max()))
    e64 += (2 * k + 2 + block) * m * TINY32 * scale
    return e_pre, e_suf, e64


SCREEN_TILE_VALUES = 1 << 22   # logits per tile of the screen (32 MB in float64)


def _screen_tiles(model: PolyNet, block: int | None = None):
    """Yield (rows, f̂, e) over the population Z_p^k in tiles: population indices (n,), logits (n, C) in
    float64 (float32 accuracy, see `screen_population`) and the row bound e (n,) with |f̂_c − f_c| ≤ e.

    Polarization (d = k, L = ⌈k/2⌉ prefix inputs a, R = k − L suffix inputs s):
        f[a, s, c] = Σ_i k!·X_ai·Y_(s,c)i + Σ_{∅≠S⊊[k]} ε_S g_S[a_S, c],
        X_ai = Π_{j<L} u_ij[a_j],  Y_(s,c)i = Π_{j≥L} u_ij[s_j] · w_ic.
    The first term is the only O(N·m·C) work: float32 matmuls over hidden blocks of `block` neurons (default
    all m), each block's partial added in float64. The side terms g_S are small (p^|S| rows) and float64.
    Tiles: a range of the first prefix digit a_1 × a range of the first suffix digit a_{L+1}."""
    k, p, m, C = model.n_inputs, model.vocab_size, model.width, model.n_classes
    L, R = (k + 1) // 2, k - (k + 1) // 2
    block = min(block or m, m)
    n_blocks = -(-m // block)
    embed32, w32 = model.embed.detach().float(), model.unembed.detach().float()
    X = _table(embed32, range(L), product=True).mul_(math.factorial(k))        # (p^L, m) float32
    XB = _table(embed32, range(L, k), product=True)                             # (p^R, m) float32
    side = _side_tables(model.unembed.detach().double(), model.embed.detach().double())
    e_pre, e_suf, e64 = _bounds(model, L, block, n_blocks)
    pre, suf = p ** (L - 1), p ** (R - 1)          # prefixes per value of a_1, suffixes per value of a_{L+1}
    r_suf = max(1, min(p, (1 << 23) // (suf * C * m)))                    # Y tile ≤ 32 MB of float32
    r_pre = max(1, min(p, SCREEN_TILE_VALUES // (pre * r_suf * suf * C)))
    for j0 in range(0, p, r_suf):
        j1 = min(j0 + r_suf, p)
        s_rows = torch.arange(j0 * suf, j1 * suf)
        Y = (XB[s_rows][:, None, :] * w32.T[None]).reshape(-1, m)             # ((s, c), m)
        for i0 in range(0, p, r_pre):
            i1 = min(i0 + r_pre, p)
            a_rows = torch.arange(i0 * pre, i1 * pre)
            Xa = X[a_rows]
            acc = None
            for h in range(0, m, block):
                part = Xa[:, h:h + block] @ Y[:, h:h + block].T                # float32, one rounding set
                acc = part.double() if acc is None else acc.add_(part)
            tile = acc.view(i1 - i0, *[p] * (L - 1), j1 - j0, *[p] * (R - 1), C)
            for j, table in enumerate(side):                                   # + Σ_S ε_S g_S, broadcast
                index = [slice(None)] * (k + 1)
                if j != 0:
                    index[0] = slice(i0, i1)
                if j != L:
                    index[L] = slice(j0, j1)
                tile += table[tuple(index)]
            rows = (a_rows[:, None] * p**R + s_rows[None, :]).flatten()
            bound = torch.minimum(e_pre[a_rows][:, None], e_suf[s_rows][None, :]).flatten() + e64
            yield rows, acc.view(-1, C), bound


@torch.no_grad()
def screen_population(model: PolyNet, labels: torch.Tensor, train_mask: torch.Tensor, block: int | None = None,
                      visit: Callable[[torch.Tensor, torch.Tensor], None] | None = None,
                      budget_bytes: int = DEFAULT_MEMORY_BUDGET) -> dict | None:
    """Margin, accuracy and cross-entropy of the train and test parts of the WHOLE population Z_p^k, from one
    float32 pass at matmul speed, exact to float64 where it matters. `labels` (p^k,) and `train_mask` (p^k,)
    are in lexicographic population order (every row is train or test). Returns None when the float32 pass
    overflows (then use `evaluate_margins`).

    Screen. `_screen_tiles` computes every logit f̂ with the polarization identity: the multilinear term in
    float32 matmuls over hidden blocks of b neurons (partials summed in float64), the side terms in float64.
    Rounding bound, for every row (a, s) and class c (Higham's γ_n = nu/(1 − nu), u = 2^-24):
      X̂ = fl(k!·Π_{j<L} u_j) and Ŷ = fl(Π_{j≥L} u_j · w) carry ≤ 2L and ≤ 2R + 1 roundings (the weights'
      own rounding to float32 included), and a float32 dot product of b terms in ANY order (blocked, FMA or
      not) gives Σ X̂Ŷ(1 + θ_b); so each term is k!Π_j u_ij w_ic (1 + θ_{b+2k+1}) and
        |f̂_c − f_c| ≤ γ_{b+2k+1} Σ_i k! Π_j |u_ij[a_j]| |w_ic| ≤ γ_{b+2k+1} min(E_pre[a], E_suf[s]) + e64,
      E_pre[a] = max_c Σ_i k!Π_{j<L}|u_ij[a_j]| · max_s Π_{j≥L}|u_ij[s_j]| · |w_ic|, E_suf[s] likewise with
      the max over a: two small matmuls, no second pass. e64 bounds every float64 rounding (partials, side
      terms, and the float64 reference forward's own error, all ≤ γ^{(64)}_{4(m+k²+2^k+m/b)} times the
      row-independent Σ_i (k!Π_j max|u_ij| + Σ_S (Σ_{j∈S} max|u_ij|)^k)|w_ic|) and float32 flush-to-zero.
      The point margin adds one float64 subtraction: with e_r the row's logit bound,
        |ĝ_r − g̃_r| ≤ D_r = 2 e_r + 2^-52 |ĝ_r|,   g̃ the float64 reference margin (`evaluate_margins`).
    Decision. If r* minimizes g̃ over the train rows and r' minimizes ĝ, then ĝ_{r*} − D_{r*} ≤ g̃_{r*} ≤
      g̃_{r'} ≤ ĝ_{r'} + D_{r'}: every possible minimizer has ĝ_r − D_r ≤ min_train(ĝ + D). A row is correct
      (argmax = y) iff g̃ > 0 up to exact ties, so the sign of ĝ decides it unless |ĝ_r| ≤ D_r. Both
      candidate sets are recomputed in float64 with `PolyNet.forward_with` (the reference's own gather
      path), and the reported margin is the float64 margin of the minimizing row: exact to float64.
    Worst case. A network at the max margin has nearly every row tied (the construction of THEORY.md §6:
      all margins equal), so nearly every row is a candidate: the result stays exact, and the cost falls back
      to the float64 pass's. The counts are returned ("candidates").
    Cross-entropy. Per row lse(f̂) − f̂_y in float64, summed in float64; lse and f_y are 1-Lipschitz in the
      max-norm, so each row's loss is within 2 e_r of the float64 one (candidate rows are float64 exactly).
    `visit(logits, y)` receives the train rows of every tile as float32 logits (f̂ rounded once)."""
    k, p = model.n_inputs, model.vocab_size
    n = p**k
    margin_hat = torch.empty(n, dtype=torch.float64)
    ce = torch.empty(n, dtype=torch.float64)
    bound = torch.empty(n, dtype=torch.float64)
    for rows, f, e in _screen_tiles(model, block):
        y = labels[rows]
        if visit is not None:
            keep = train_mask[rows]
            visit(f[keep].float(), y[keep])
        f_y = f.gather(1, y[:, None])[:, 0]
        ce[rows] = torch.logsumexp(f, 1) - f_y
        margin_hat[rows] = f_y - f.scatter_(1, y[:, None], float("-inf")).amax(1)
        bound[rows] = e
    if not torch.isfinite(margin_hat).all():
        return None
    D = 2 * bound + 2.0**-52 * margin_hat.abs()
    top = (margin_hat + D)[train_mask].min()
    maybe_min = train_mask & (margin_hat - D <= top)
    maybe_flip = margin_hat.abs() <= D
    recompute = (maybe_min | maybe_flip).nonzero()[:, 0]
    correct = margin_hat > 0
    h = float("inf")
    w_embed, w_unembed = model.embed.detach().double(), model.unembed.detach().double()
    powers = p ** torch.arange(k - 1, -1, -1)
    chunk = chunk_rows(model.width, budget_bytes)
    for start in range(0, len(recompute), chunk):
        rows = recompute[start:start + chunk]
        y = labels[rows]
        f = model.forward_with(w_embed, w_unembed, (rows[:, None] // powers) % p)
        g = point_margins(f, y)
        correct[rows] = f.argmax(1) == y
        ce[rows] = torch.nn.functional.cross_entropy(f, y, reduction="none")
        if maybe_min[rows].any():
            h = min(h, float(g[maybe_min[rows]].min()))
    out = {"margin": h, "candidates": len(recompute), "min_candidates": int(maybe_min.sum()),
           "flip_candidates": int(maybe_flip.sum()), "max_bound": float(D.max())}
    for name, mask in (("train", train_mask), ("test", ~train_mask)):
        count = int(mask.sum())
        out[name] = {"accuracy": int(correct[mask].sum()) / count if count else None,
                     "loss": float(ce[mask].sum()) / count if count else None}
    return out
