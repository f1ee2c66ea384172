"""Norms and margins (docs/theory.md §3), evaluated in float64 over the whole population.

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
    """The (2, ν) norm ‖θ‖_{2,ν} = (Σ_i ‖θ_i‖_2^ν)^{1/ν} of a network, in float64 (docs/theory.md §3).

    Args:
        model: A PolyNet or ParityNet (anything with `neuron_sq_norms` and `nu`).
        nu: The exponent ν (default the model's homogeneity degree, k + 1 for z^k).

    Returns:
        ‖θ‖_{2,ν} as a float (not raised to the power ν; the normalized margin divides by its ν-th power).
    """
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
    """The margin, accuracy and loss of a network on a dataset, in float64, in chunks that fit the budget.

    Args:
        model: A PolyNet or ParityNet.
        inputs: The inputs, e.g. `task.inputs()` (the whole population, as in the theory).
        labels: The labels, e.g. `task.labels()`.
        budget_bytes: The memory budget of one chunk's hidden activations, in bytes.

    Returns:
        A dict: `margin` h(θ) = min over the rows of f(x)[y] − max_{y'≠y} f(x)[y'] (not normalized),
        `accuracy` (share of rows with argmax f = y) and `loss` (mean cross-entropy).
    """
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
    """The normalized margin h(θ) / ‖θ‖_{2,ν}^ν, in float64 (docs/theory.md §3).

    It is scale invariant (= h(θ/‖θ‖) by homogeneity) and at most γ* for any network of the architecture:
    `margin_ratio` in the run store is this value over γ*.

    Args:
        model: A PolyNet or ParityNet.
        inputs: The inputs, e.g. `task.inputs()` (the theory's γ* is over the whole population).
        labels: The labels, e.g. `task.labels()`.
        budget_bytes: The memory budget of one chunk's hidden activations, in bytes.

    Returns:
        h(θ) / ‖θ‖_{2,ν}^ν as a float (negative when some row is misclassified).
    """
    h = evaluate_margins(model, inputs, labels, budget_bytes)["margin"]
    return h / l2nu_norm(model) ** model.nu


# ----------------------------------------------------------------------------------------------------
# The fast metric row: a float32 screen of the whole population with a rigorous rounding bound, then a
# float64 recomputation of every row the bound cannot decide (`screen_population`).

UNIT32, UNIT64 = 2.0**-24, 2.0**-53        # unit roundoff u of float32 and float64
TINY32 = 2.0**-125                         # ≥ any float32 value flushed to zero (subnormals, `flush_subnormals`)
GEMM_TILE_VALUES = 1 << 22                 # logits per float32 matmul of the screen (16 MB)
SCREEN_TILE_VALUES = 1 << 18               # logits per sub-tile processed in cache (1 MB)
SIDE_CHUNK_ROWS = 512                      # rows per chunk of the side-term nets
SIDE_BLOCK = 128                           # hidden-block size of the side-term matmuls (a tighter bound)


def gamma(n: int, unit: float = UNIT32) -> float:
    """γ_n = n·u / (1 − n·u) (Higham): Π_{t≤n} (1 + δ_t)^{±1} = 1 + θ_n with |θ_n| ≤ γ_n when every |δ_t| ≤ u."""
    return n * unit / (1 - n * unit)


def screen_applies(model) -> bool:
    """The float32 screen covers PolyNet with σ(z) = z^k and k ≥ 2 inputs (the polarization identity below).
    Everything else (ReLU nets, d ≠ k, parity and other models) keeps the float64 pass `evaluate_margins`."""
    return isinstance(model, PolyNet) and model.activation == "poly" and model.degree == model.n_inputs >= 2


def population_index(x: torch.Tensor, vocab: int) -> torch.Tensor:
    """Lexicographic index Σ_j x_j p^{k−1−j} of each row of x (N, k) in Z_p^k (a_1 slowest)."""
    powers = vocab ** torch.arange(x.shape[1] - 1, -1, -1, device=x.device)
    return (x * powers).sum(1)


def _table(embed: torch.Tensor, inputs, product: bool = False) -> torch.Tensor:
    """(p^n, m) table over the values of `inputs`, rows lexicographic: Σ_{j∈inputs} u_j[a_j] (or Π_j).
    Always a new tensor (never a view of `embed`)."""
    out = embed[inputs[0]].clone()
    for j in inputs[1:]:
        rhs = embed[j][None]
        out = (out[:, None] * rhs if product else out[:, None] + rhs).flatten(0, 1)
    return out


def _power(z: torch.Tensor, k: int, out: torch.Tensor | None = None) -> torch.Tensor:
    """z^k by square-and-multiply, into `out` if given (else a new tensor): 2 passes for z^4. Any multiplication
    chain rounds to z^k (1 + θ_{k−1})."""
    bits = bin(k)[3:]                                   # the exponent's bits after the leading 1
    if not bits:
        return z.clone() if out is None else out.copy_(z)
    out = torch.mul(z, z, out=out)
    for i, bit in enumerate(bits):
        if i > 0:
            out.mul_(out)
        if bit == "1":
            out.mul_(z)
    return out


def _blocked_depth(m: int, block: int = SIDE_BLOCK) -> int:
    """Additions a term passes in `_blocked_mm` over m hidden neurons."""
    return m if m // block < 2 else block + m // block + 1


def _blocked_mm(h: torch.Tensor, w: torch.Tensor, block: int = SIDE_BLOCK) -> torch.Tensor:
    """h @ w in float32 with the hidden dimension m summed in blocks of `block` (one batched matmul), then the
    blocks' partials summed: every term of a result passes ≤ block + m // block + 1 additions, not m (m < 2·block:
    one plain matmul, m < block + m // block + 1 additions)."""
    n_blocks = h.shape[1] // block
    if n_blocks < 2:
        return h @ w
    split = n_blocks * block
    parts = torch.bmm(h[:, :split].view(-1, n_blocks, block).transpose(0, 1), w[:split].view(n_blocks, block, -1))
    out = parts.sum(0)
    return out.add_(h[:, split:] @ w[split:]) if split < h.shape[1] else out


def _fold(terms: dict[tuple, torch.Tensor], k: int, p: int) -> list[torch.Tensor]:
    """Sum tables t_S (p^|S|, *rest) over subsets S ⊊ [k] into k broadcastable tables: the j-th (p on every axis
    but size 1 at axis j, then *rest) holds the t_S whose first missing input is j."""
    rest = next(iter(terms.values())).shape[1:]
    some = next(iter(terms.values()))
    folded = [some.new_zeros(*(1 if a == j else p for a in range(k)), *rest) for j in range(k)]
    for S, t in terms.items():
        folded[min(set(range(k)) - set(S))] += t.view(*(p if a in S else 1 for a in range(k)), *rest)
    return folded


def _side_terms(model: PolyNet, embed32: torch.Tensor, w32: torch.Tensor) -> tuple[dict, dict]:
    """The 2^k − 2 side terms of the polarization identity, ε_S g_S[a_S, c] = ε_S Σ_i (Σ_{j∈S} u_ij[a_j])^k w_ic
    with ε_S = (−1)^{k−|S|+1}, in float32 (p^|S|, C), and their row bounds B_S[a_S] = Σ_i A_Si^k max_c |w_ic|,
    A_Si = Σ_{j∈S} |u_ij[a_j]|, in float64: for S = S' ∪ {l}, (α + β)^k = Σ_r C(k,r) α^r β^{k−r} with
    α = A_S' (p^{|S|−1} rows) and β = |u_l| (p rows) makes B_S one small matmul, exact up to float64."""
    k, p, m = model.n_inputs, model.vocab_size, model.width
    embed64 = model.embed.detach().double()
    w_max = model.unembed.detach().double().abs().amax(1)
    terms, bounds = {}, {}
    chunk = max(1, SIDE_CHUNK_ROWS // p)
    z_buf, h_buf = embed32.new_empty(chunk * p, m), embed32.new_empty(chunk * p, m)
    for size in range(1, k):
        for S in itertools.combinations(range(k), size):
            head = _table(embed32, S[:-1]) if size > 1 else embed32.new_zeros(1, m)
            g = w32.new_empty(head.shape[0] * p, w32.shape[1])
            for start in range(0, head.shape[0], chunk):
                rows = min(chunk, head.shape[0] - start) * p
                z = torch.add(head[start:start + chunk, None], embed32[S[-1]][None],
                              out=z_buf[:rows].view(-1, p, m)).view(rows, m)
                g[start * p:start * p + rows] = _blocked_mm(_power(z, k, out=h_buf[:rows]), w32)
            terms[S] = g.mul_((-1) ** (k - size + 1))
            # B_S = Σ_r C(k,r) (α^r w̄) (β^{k−r})^T, α^r built in place
            alpha = _table(embed64.abs(), S[:-1]) if size > 1 else embed64.new_zeros(1, m)
            beta = embed64[S[-1]].abs()
            alpha_w = w_max.expand_as(alpha).clone()                        # α^0 w̄
            bound = embed64.new_zeros(alpha.shape[0], p)
            for r in range(k + 1):
                bound.addmm_(alpha_w, (beta ** (k - r)).T, alpha=math.comb(k, r))
                if r < k:
                    alpha_w.mul_(alpha)
            bounds[S] = bound.flatten()
    return terms, bounds


def _bounds(model: PolyNet, split: int, n_terms: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """(E_pre (p^L,), E_suf (p^R,), e64) of `screen_population`: Σ_i k! Π_j |u_ij[a_j]| |w_ic| ≤ min(E_pre[a], E_suf[s])
    for every class, and e64 bounding the float64 reference's own error plus float32 flush-to-zero."""
    k, m = model.n_inputs, model.width
    embed64, w64 = model.embed.detach().double(), model.unembed.detach().double().abs()
    x_abs = math.factorial(k) * _table(embed64, range(split), product=True).abs()     # k!·Π_{j<L} |u_ij|
    y_abs = _table(embed64, range(split, k), product=True).abs()                       # Π_{j≥L} |u_ij|
    e_pre = (x_abs @ (y_abs.amax(0)[:, None] * w64)).amax(1)
    e_suf = (y_abs @ (x_abs.amax(0)[:, None] * w64)).amax(1)
    # the reference: z = Σ_j u_j (k − 1 adds), z^k (pow, ≤ 1 ulp: 2 roundings), a float64 matmul over m
    a_max = embed64.abs().amax(1).sum(0)                                                 # Σ_j max_a |u_ij|
    e64 = gamma(m + k * k + 2, UNIT64) * float((a_max[:, None] ** k * w64).sum(0).max())
    # flush-to-zero: each float32 operation may lose ≤ TINY32, scaled by at most the other factors
    scale = (1 + float(x_abs.max())) * (1 + float(y_abs.max())) * (1 + float(w64.max())) * (1 + float(a_max.max())) ** k
    e64 += n_terms * m * TINY32 * scale
    return e_pre, e_suf, e64


def _screen_tiles(model: PolyNet, block: int | None = None):
    """Yield (rows, f̂, e) over the population Z_p^k in tiles: population indices (n,), float32 logits (n, C) and
    a bound e (n,) float64 with |f̂_c − f̃_c| ≤ e for every class c, f̃ the float64 reference (`evaluate_margins`).

    Polarization (d = k; L = ⌈k/2⌉ prefix inputs a, R = k − L suffix inputs s):
        f[a, s, c] = Σ_i k!·X_ai·Y_(s,c)i + Σ_{∅≠S⊊[k]} ε_S g_S[a_S, c],
        X_ai = Π_{j<L} u_ij[a_j],  Y_(s,c)i = Π_{j≥L} u_ij[s_j] · w_ic.
    The first term is the only O(N·m·C) work: float32 matmuls, accumulated over hidden blocks of `block`
    neurons (default: all m). The side terms g_S are dense nets on p^|S| ≤ p^{k−1} rows (`_side_terms`).
    Tiles: a range of the first prefix digit a_1 × a range of the first suffix digit a_{L+1}."""
    k, p, m, C = model.n_inputs, model.vocab_size, model.width, model.n_classes
    L, R = (k + 1) // 2, k - (k + 1) // 2
    block = min(block or m, m)
    gemm_threads = torch.get_num_threads()
    torch.set_num_threads(1)    # many small cached ops: threads cost more in OpenMP waits than they give
    n_blocks = -(-m // block)
    embed32, w32 = model.embed.detach().float(), model.unembed.detach().float()
    X = _table(embed32, range(L), product=True).mul_(math.factorial(k))        # (p^L, m)
    XB = _table(embed32, range(L, k), product=True)                             # (p^R, m)
    terms, side_bounds = _side_terms(model, embed32, w32)
    side = _fold(terms, k, p)
    # every logit is one float32 sum of m + 2^k − 2 terms; a leaf passes ≤ block + n_blocks + 2^k additions
    depth = block + n_blocks + 2**k + k
    e_pre, e_suf, e64 = _bounds(model, L, depth + 2 * k + 2)
    g_T = gamma(depth + 2 * k + 2) * (1 + 1e-10)     # X̂: 2L roundings, Ŷ: 2R + 1 (weights' own included), X̂Ŷ: 1
    # t̂_S: 2|S| − 1 roundings, z^k: k(2|S|) + k − 1, ŵ and the product: 2, the blocked dot: `_blocked_mm`
    g_S = gamma(2**k + k + 2 * k * k + k + 2 + _blocked_depth(m)) * (1 + 1e-10)
    side_bound = _fold({S: g_S * b for S, b in side_bounds.items()}, k, p)
    pre, suf = p ** (L - 1), p ** (R - 1)          # prefixes per value of a_1, suffixes per value of a_{L+1}
    r_suf = max(1, min(p, (1 << 23) // (suf * C * m)))                    # Y ≤ 32 MB
    r_gemm = max(1, min(p, GEMM_TILE_VALUES // (pre * r_suf * suf * C)))  # a_1 values per matmul
    r_sub = max(1, min(r_gemm, SCREEN_TILE_VALUES // (pre * r_suf * suf * C)))  # ... per cached sub-tile
    try:
        for j0 in range(0, p, r_suf):
            j1 = min(j0 + r_suf, p)
            s_rows = torch.arange(j0 * suf, j1 * suf)
            Y = (XB[s_rows][:, None, :] * w32.T[None]).reshape(-1, m)             # ((s, c), m)
            e_s = e_suf[s_rows][None, :]
            for i0 in range(0, p, r_gemm):
                i1 = min(i0 + r_gemm, p)
                Xa = X[i0 * pre:i1 * pre]
                torch.set_num_threads(gemm_threads)          # only the large matmuls use every thread
                f = Xa[:, :block] @ Y[:, :block].T
                for h in range(block, m, block):
                    f.addmm_(Xa[:, h:h + block], Y[:, h:h + block].T)
                torch.set_num_threads(1)
                for t0 in range(i0, i1, r_sub):            # the rest runs on sub-tiles that stay in cache
                    t1 = min(t0 + r_sub, i1)
                    a_rows = torch.arange(t0 * pre, t1 * pre)
                    shape = (t1 - t0, *[p] * (L - 1), j1 - j0, *[p] * (R - 1))
                    logits = f[(t0 - i0) * pre:(t1 - i0) * pre].view(*shape, C)
                    e = torch.minimum(e_pre[a_rows][:, None], e_s).mul_(g_T).add_(e64).view(shape)
                    for j in range(k):                                              # + Σ_S ε_S g_S, broadcast
                        index = [slice(None)] * k
                        if j != 0:
                            index[0] = slice(t0, t1)
                        if j != L:
                            index[L] = slice(j0, j1)
                        logits += side[j][tuple(index)]
                        e += side_bound[j][tuple(index)]
                    rows = (a_rows[:, None] * p**R + s_rows[None, :]).flatten()
                    yield rows, logits.view(-1, C), e.flatten()
    finally:
        torch.set_num_threads(gemm_threads)


@torch.no_grad()
def screen_population(model: PolyNet, labels: torch.Tensor, train_mask: torch.Tensor, block: int | None = None,
                      visit: Callable[[torch.Tensor, torch.Tensor], None] | None = None,
                      budget_bytes: int = DEFAULT_MEMORY_BUDGET) -> dict | None:
    """Margin h over the train rows, and accuracy and mean cross-entropy of the train and test rows, of the WHOLE
    population Z_p^k from one float32 pass at matmul speed, h exact to float64. `labels` (p^k,) and `train_mask`
    (p^k,) are in lexicographic population order; the rows outside the mask are the test rows. Returns None when
    the float32 pass overflows (then use `evaluate_margins`).

    Screen. `_screen_tiles` computes every logit f̂ in float32 by the polarization identity. With Higham's
    γ_n = nu/(1 − nu), u = 2^-24, and floating-point sums in ANY order (blocked, FMA or not) rounding each
    leaf at most once per level of its summation tree, every row r = (a, s) and class c satisfy
        |f̂_c − f̃_c| ≤ e_r = γ_{n_T} min(E_pre[a], E_suf[s]) + Σ_S γ_{n_S} B_S[a_S] + e64,
      • multilinear term: X̂ = fl(k!·Π_{j<L} u_j) and Ŷ = fl(Π_{j≥L} u_j · w) round ≤ 2L and ≤ 2R + 1 times (the
        weights' own rounding to float32 included), X̂Ŷ once, and the sum adds ≤ b + m/b + 2^k + k levels
        (hidden blocks of b neurons); Σ_i k!Π_j|u_ij[a_j]||w_ic| ≤ min(E_pre[a], E_suf[s]) with
        E_pre[a] = max_c Σ_i k!Π_{j<L}|u_ij[a_j]| · max_s Π_{j≥L}|u_ij[s_j]| · |w_ic| and E_suf[s] the same
        with the max over a: two small matmuls, no second pass over the population;
      • side terms ε_S g_S: |t̂_S − t_S| ≤ γ_{2|S|−1} A_S with A_S = Σ_{j∈S}|u_j[a_j]|, so |fl(t̂^k) − t^k|
        ≤ γ_{k(2|S|−1)+k−1} A_S^k, and the dot product over m: B_S[a_S] = Σ_i A_Si^k max_c|w_ic| (exact, by
        the binomial expansion over one input; `_side_terms`), n_S ≤ m + 2k² + k + 1 + the sum's levels;
      • e64: the float64 reference's own error, γ^{(64)}_{m+k²+2} max_c Σ_i (Σ_j max_a|u_ij|)^k |w_ic|, plus
        what float32 flush-to-zero can lose.
    The float32 point margin ĝ = fl(f̂_y − max_{c≠y} f̂_c) adds one rounding, so for the reference margin g̃
        |ĝ_r − g̃_r| ≤ D_r = 2 e_r + 2^-23 |ĝ_r|.
    Decision. If r* minimizes g̃ over the train rows, then ĝ_{r*} − D_{r*} ≤ g̃_{r*} ≤ g̃_{r'} ≤ ĝ_{r'} + D_{r'}
    for every train row r': every possible minimizer has ĝ_r − D_r ≤ min_train(ĝ + D). A row is correct
    (argmax = y) iff g̃ > 0, up to exact ties, so the sign of ĝ decides it unless |ĝ_r| ≤ D_r. Both candidate
    sets are recomputed in float64 with `PolyNet.forward_with` (the reference's own path), and h is the
    float64 margin of the minimizing row: exact to float64, not a float32 approximation of it.
    Worst case. A network at the max margin has nearly every row tied (in the construction of docs/theory.md §6
    every margin is equal): then nearly every train row is a candidate, the result stays exact, and the cost
    falls back to the float64 pass's. The counts are returned ("candidates", "min_candidates",
    "flip_candidates") with the largest D_r ("max_bound").
    Cross-entropy. Per row lse(f̂) − f̂_y in float32, summed in float64; lse and f_y are 1-Lipschitz in the
    max-norm, so a row's loss is within 2 e_r (plus a few float32 ulps of lse and f̂_y) of the float64 one;
    candidate rows use the float64 loss.
    `visit(logits, y)`, if given, receives the float32 logits f̂ of the train rows of every tile."""
    k, p = model.n_inputs, model.vocab_size
    n = p**k
    margin_hat = torch.empty(n, dtype=torch.float64)
    ce = torch.empty(n, dtype=torch.float64)
    bound = torch.empty(n, dtype=torch.float64)
    threads = torch.get_num_threads()          # `_screen_tiles` runs its small ops on one thread
    try:
        for rows, f, e in _screen_tiles(model, block):
            y = labels[rows]
            if visit is not None:
                keep = train_mask[rows]
                visit(f[keep], y[keep])
            f_y = f.gather(1, y[:, None])[:, 0]
            top = f.amax(1)
            lse = torch.sub(f, top[:, None]).exp_().sum(1).log_().add_(top)     # torch.logsumexp is slower here
            ce[rows] = lse.sub_(f_y).double()
            margin_hat[rows] = f_y.sub_(f.scatter_(1, y[:, None], float("-inf")).amax(1)).double()
            bound[rows] = e
    finally:
        torch.set_num_threads(threads)
    if not (torch.isfinite(margin_hat).all() and torch.isfinite(bound).all()):
        return None
    D = 2 * bound + 2.0**-23 * margin_hat.abs()
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
        correct[rows] = f.argmax(1) == y
        ce[rows] = torch.nn.functional.cross_entropy(f, y, reduction="none")
        in_min = maybe_min[rows]
        if in_min.any():
            h = min(h, float(point_margins(f[in_min], y[in_min]).min()))
    out = {"margin": h, "candidates": len(recompute), "min_candidates": int(maybe_min.sum()),
           "flip_candidates": int(maybe_flip.sum()), "max_bound": float(D.max())}
    for name, mask in (("train", train_mask), ("test", ~train_mask)):
        count = int(mask.sum())
        out[name] = {"accuracy": int(correct[mask].sum()) / count if count else None,
                     "loss": float(ce[mask].sum()) / count if count else None}
    return out
