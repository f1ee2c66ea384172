"""Progress measures for grokking (Nanda et al. 2023), generalized to k-input modular addition.

Pure functions of a trained model and a task (no training loop): apply them to saved checkpoints.

Notation. p odd prime, population a = (a_1..a_k) ∈ Z_p^k (N = p^k rows, `ModularAddition.inputs()` order),
logits L(a, c) for classes c ∈ Z_p, s(a) = Σ_j a_j mod p, d = s(a) − c mod p. Inner products of logit
tensors are taken over all N·p entries (a, c) with uniform weight.

Key frequencies (`embedding_key_frequencies`). Merged power (fourier.merged_power) of each column of the
token embedding restricted to the p number tokens, W_E[0:p] (shape (p, d_model)), summed over the columns:
    S(ζ) = Σ_col P_col(ζ),   ζ = 0..(p−1)/2,   Σ_ζ S(ζ) = p ‖W_E[0:p]‖_F².
Selection rule: the frequencies ζ ≥ 1 in decreasing order of S(ζ); either the top `n`, or (default) the
smallest such set whose power is ≥ `mass` (default 0.8) of the non-DC power Σ_{ζ≥1} S(ζ). The DC bin
(the constant part of the embedding) is never a key frequency. A trained grokked model puts most of
its embedding power on a few ζ; at initialization the spectrum is flat, so the rule returns many.

Restricted / excluded logits (`decompose_logits`). The key-frequency logit directions are
    C_ζ(a, c) = cos(2πζ(s(a) − c)/p),   S_ζ(a, c) = sin(2πζ(s(a) − c)/p),   ζ ∈ F,
which depend on (a, c) only through d. Over the full population every residue d is hit by exactly p^k
entries, so these 2|F| functions are mutually orthogonal and orthogonal to constants, each with squared
norm N·p/2. The orthogonal projection of L onto them is computed in two steps:
  1. Projection onto *all* functions of d (a conditional expectation, since the d-classes are equal):
         g(d) = mean{ L(a, c) : s(a) − c ≡ d }.
     Computed by grouping rows by s: M(s, c) = mean_{a: s(a)=s} L(a, c) (a (p, p) table), then
         g(d) = (1/p) Σ_c M(c + d mod p, c).
  2. The directions {1, C_ζ, S_ζ} span a subspace of the functions of d, so projecting g further is a
     Fourier filter on Z_p: with ĝ(j) = Σ_d g(d) e^{−2πijd/p},
         g_F(d) = (1/p) Σ_{ζ ∈ F} [ĝ(ζ) e^{2πiζd/p} + ĝ(−ζ) e^{−2πiζd/p}]      (real),
     and ĝ(0)/p = mean of L (the constant direction).
Then
    restricted logits  L_r(a, c) = ĝ(0)/p + g_F(s(a) − c)      (projection onto span{1, C_ζ, S_ζ : ζ ∈ F}),
    excluded logits    L_x(a, c) = L(a, c) − g_F(s(a) − c)      (the C_ζ, S_ζ components removed).
Adding the constant ĝ(0)/p does not change any cross-entropy; it is kept so that L_r is the projection.
Consequence: L_r depends only on d, and the correct class of row a is d = 0, so every row has the same
restricted loss  −g_r(0) + logsumexp_d g_r(d)  — the restricted loss is the same on train, test and all.

`basis="per_class"` (excluded loss only) follows the Nanda et al. reference code instead: for each class c
separately it projects the column L(·, c) off the directions cos(2πζ s(a)/p), sin(2πζ s(a)/p), i.e. off
span{h₁(c) cos(2πζs/p) + h₂(c) sin(2πζs/p)} for arbitrary h₁, h₂, ζ ∈ F. That subspace contains C_ζ, S_ζ
(cos(ζ(s − c)) = cos ζs cos ζc + sin ζs sin ζc), so it removes at least as much. Per class it is the same
two-step computation along s: P(s, c) = the ζ ∈ F Fourier filter of M(·, c), L_x = L − P(s(a), c).

Logit variance explained (`fourier_variance_fraction`): ‖Π_F L‖² / ‖L − mean_c L‖², where Π_F L =
g_F(s − c) is the key-frequency component and the denominator removes each row's mean over classes (a
per-row shift is invisible to the softmax; C_ζ, S_ζ have zero mean over c, so the ratio is in [0, 1]).

Everything is computed in float64 and vectorized over the population.
"""
from __future__ import annotations

import math
from typing import Iterable, NamedTuple, Protocol, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from fourier_circuits.analysis.fourier import merged_power
from fourier_circuits.models.base import forward_rows
from fourier_circuits.models.polynet import PolyNet
from fourier_circuits.models.transformer import Transformer

BASES = ("diagonal", "per_class")


# ---------------------------------------------------------------------------------------------------------
# helpers

class Population(Protocol):
    """The k-input modular-addition population (`tasks.modadd.ModularAddition`), as these measures read it."""

    p: int
    k: int

    def inputs(self, device=...) -> torch.Tensor: ...

    def labels(self, device=...) -> torch.Tensor: ...


def _check_freqs(p: int, freqs: Iterable[int]) -> list[int]:
    """Sorted distinct frequencies, each an integer in 1..(p−1)/2."""
    half = (p - 1) // 2
    out = sorted({int(f) for f in freqs})
    bad = [f for f in out if not 1 <= f <= half]
    if bad:
        raise ValueError(f"frequencies must lie in 1..{half} for p={p}, got {bad}")
    return out


def _freq_mask(p: int, freqs: Sequence[int], dc: bool = False) -> torch.Tensor:
    """(p,) float64 mask over DFT bins: 1 at ±ζ for ζ in freqs (and at 0 if dc)."""
    mask = torch.zeros(p, dtype=torch.float64)
    for f in freqs:
        mask[f] = mask[p - f] = 1.0
    if dc:
        mask[0] = 1.0
    return mask


def _filter(x: torch.Tensor, mask: torch.Tensor, dim: int) -> torch.Tensor:
    """Keep only the DFT bins of x (along dim, length p) where mask = 1; real float64 result."""
    shape = [1] * x.ndim
    shape[dim] = -1
    return torch.fft.ifft(torch.fft.fft(x, dim=dim) * mask.view(shape), dim=dim).real


def _model_device(model: nn.Module) -> torch.device:
    param = next(iter(model.parameters()), None)
    return param.device if param is not None else torch.device("cpu")


# ---------------------------------------------------------------------------------------------------------
# key frequencies of the embedding

class KeyFrequencies(NamedTuple):
    freqs: list[int]              # sorted key frequencies ζ in 1..(p−1)/2
    spectrum: torch.Tensor        # (p+1)/2 float64, index ζ = 0..(p−1)/2, S(ζ) / Σ_ζ' S(ζ') (DC included)


def number_embedding(model: nn.Module | torch.Tensor, p: int) -> torch.Tensor:
    """The embedding of the p number tokens as (p, features) float64.

    Transformer: W_E[0:p] (op / '=' rows dropped). PolyNet: the k input embeddings side by side,
    (p, k·m). A tensor is taken as (vocab ≥ p, features) and its first p rows are used.
    """
    if isinstance(model, Transformer):
        w = model.W_E
    elif isinstance(model, PolyNet):
        w = model.embed.permute(1, 0, 2).reshape(model.vocab_size, -1)
    elif isinstance(model, torch.Tensor):
        w = model
    else:
        raise TypeError(f"need a Transformer, PolyNet or an embedding tensor, got {type(model).__name__}")
    if w.ndim != 2 or w.shape[0] < p:
        raise ValueError(f"embedding must have shape (vocab >= {p}, features), got {tuple(w.shape)}")
    return w.detach()[:p].to(torch.float64)


def embedding_spectrum(model: nn.Module | torch.Tensor, p: int) -> torch.Tensor:
    """S(ζ) = Σ over embedding dimensions of the merged power at ζ = 0..(p−1)/2 (unnormalized, float64)."""
    return merged_power(number_embedding(model, p).T).sum(dim=0)


def embedding_key_frequencies(
    model: nn.Module | torch.Tensor, p: int, n: int | None = None, mass: float = 0.8
) -> KeyFrequencies:
    """Key frequencies of the number-token embedding (rule in the module docstring).

    n given: the n frequencies ζ ≥ 1 of largest power. Otherwise the smallest set of largest-power ζ ≥ 1
    holding ≥ `mass` of the non-DC power. Returns (sorted freqs, normalized spectrum over ζ = 0..(p−1)/2).
    """
    spec = embedding_spectrum(model, p)
    total = spec.sum()
    spectrum = spec / total if total > 0 else torch.zeros_like(spec)
    nondc = spec[1:]
    order = torch.argsort(nondc, descending=True, stable=True)
    if n is not None:
        if not 0 <= n <= nondc.numel():
            raise ValueError(f"n must be in 0..{nondc.numel()}, got {n}")
        count = n
    else:
        if not 0.0 < mass <= 1.0:
            raise ValueError(f"mass must be in (0, 1], got {mass}")
        if nondc.sum() <= 0:
            return KeyFrequencies([], spectrum)
        cum = torch.cumsum(nondc[order], dim=0) / nondc.sum()
        # first index where cum ≥ mass (tolerance for rounding when mass = 1)
        count = int(torch.searchsorted(cum, torch.tensor([mass - 1e-12], dtype=torch.float64))[0]) + 1
        count = min(count, nondc.numel())
    return KeyFrequencies(sorted(int(z) + 1 for z in order[:count]), spectrum)


# ---------------------------------------------------------------------------------------------------------
# logit directions and their projections

def logit_fourier_basis(p: int, freqs: Iterable[int], k: int | None = None, constant: bool = False) -> torch.Tensor:
    """Orthonormal key-frequency logit directions, float64.

    Rows (in order, for each ζ in sorted freqs): cos(2πζd/p), sin(2πζd/p), with d = s − c; a leading
    constant row if `constant`. k None: functions of d ∈ Z_p, shape (n_dirs, p), orthonormal on Z_p.
    k given: expanded to the population, shape (n_dirs, p^k, p) with d = s(a) − c for row a of
    `ModularAddition(p, k).inputs()`, orthonormal over all p^{k+1} entries (use small p^k only).
    """
    fs = _check_freqs(p, freqs)
    d = torch.arange(p, dtype=torch.float64)
    rows = [torch.ones(p, dtype=torch.float64) / math.sqrt(p)] if constant else []
    for f in fs:
        angle = 2 * math.pi * f * d / p
        rows += [torch.cos(angle) * math.sqrt(2 / p), torch.sin(angle) * math.sqrt(2 / p)]
    basis = torch.stack(rows) if rows else torch.zeros(0, p, dtype=torch.float64)
    if k is None:
        return basis
    digits = (torch.arange(p**k)[:, None] // p ** torch.arange(k - 1, -1, -1)) % p   # population order
    s = digits.sum(dim=1) % p
    idx = (s[:, None] - torch.arange(p)[None, :]) % p                   # (p^k, p): d(a, c)
    return basis[:, idx] / math.sqrt(p**k)                               # each d is hit p^k times


def _sums(inputs_or_sums: torch.Tensor, p: int) -> torch.Tensor:
    x = torch.as_tensor(inputs_or_sums).long().cpu()
    return (x.sum(dim=1) if x.ndim == 2 else x) % p


def _class_means(logits: torch.Tensor, s: torch.Tensor, p: int) -> torch.Tensor:
    """M(s, c) = mean over rows with Σa ≡ s of L(row, c), (p, p); checks that the s-classes are equal."""
    counts = torch.bincount(s, minlength=p)
    if counts.numel() != p or bool((counts != counts[0]).any()) or int(counts[0]) == 0:
        raise ValueError(
            "the projection needs a balanced population (every residue Σa mod p equally often), "
            f"got counts {counts.tolist()}; pass the logits of the whole population"
        )
    sums = torch.zeros(p, p, dtype=torch.float64).index_add_(0, s, logits)
    return sums / counts[0]


def diagonal_profile(logits: torch.Tensor, inputs_or_sums: torch.Tensor, p: int) -> torch.Tensor:
    """g(d) = mean{ L(a, c) : Σa − c ≡ d }, shape (p,): the projection of L onto functions of Σa − c."""
    L = torch.as_tensor(logits).detach().to(torch.float64).cpu()
    M = _class_means(L, _sums(inputs_or_sums, p), p)
    c = torch.arange(p)
    return M[(c[None, :] + c[:, None]) % p, c[None, :]].mean(dim=1)    # row d: M(c + d, c) over c


def key_component(
    logits: torch.Tensor, inputs_or_sums: torch.Tensor, p: int, freqs: Iterable[int], basis: str = "diagonal"
) -> torch.Tensor:
    """Orthogonal projection of the logits (N, p) onto the key-frequency directions, (N, p) float64.

    basis="diagonal": onto span{cos, sin(2πζ(Σa − c)/p)}; "per_class": per class c, onto
    span{cos, sin(2πζΣa/p)} (Nanda et al. code). No constant term. `inputs_or_sums`: (N, k) inputs or
    (N,) sums; the rows must form a balanced population (e.g. all p^k tuples).
    """
    if basis not in BASES:
        raise ValueError(f"basis must be one of {BASES}, got {basis!r}")
    fs = _check_freqs(p, freqs)
    L = torch.as_tensor(logits).detach().to(torch.float64).cpu()
    s = _sums(inputs_or_sums, p)
    if L.ndim != 2 or L.shape != (s.numel(), p):
        raise ValueError(f"logits must have shape ({s.numel()}, {p}), got {tuple(L.shape)}")
    mask = _freq_mask(p, fs)
    c = torch.arange(p)
    if basis == "diagonal":
        g_f = _filter(diagonal_profile(L, s, p), mask, dim=0)
        return g_f[(s[:, None] - c[None, :]) % p]
    P = _filter(_class_means(L, s, p), mask, dim=0)                     # filter along s, per class
    return P[s]


def decompose_logits(
    logits: torch.Tensor, inputs_or_sums: torch.Tensor, p: int, freqs: Iterable[int], basis: str = "diagonal"
) -> tuple[torch.Tensor, torch.Tensor]:
    """(restricted, excluded) logits, both (N, p) float64 (see the module docstring).

    restricted = mean(L) + key component (diagonal basis only, whatever `basis` says);
    excluded = L − key component in `basis`.
    """
    L = torch.as_tensor(logits).detach().to(torch.float64).cpu()
    diag = key_component(L, inputs_or_sums, p, freqs, "diagonal")
    restricted = diag + L.mean()
    excluded = L - (diag if basis == "diagonal" else key_component(L, inputs_or_sums, p, freqs, basis))
    return restricted, excluded


def fourier_variance_fraction(logits: torch.Tensor, inputs_or_sums: torch.Tensor, p: int, freqs: Iterable[int]) -> float:
    """‖key component‖² / ‖L − row mean over classes‖²  ∈ [0, 1] (NaN if the logits are row-constant)."""
    L = torch.as_tensor(logits).detach().to(torch.float64).cpu()
    comp = key_component(L, inputs_or_sums, p, freqs, "diagonal")
    denom = (L - L.mean(dim=1, keepdim=True)).pow(2).sum()
    return float(comp.pow(2).sum() / denom) if denom > 0 else float("nan")


def cross_entropy64(logits: torch.Tensor, labels: torch.Tensor, subset: torch.Tensor | None = None) -> float:
    """Mean cross-entropy in float64, optionally over the rows `subset` (indices or bool mask)."""
    L = torch.as_tensor(logits).to(torch.float64).cpu()
    y = torch.as_tensor(labels).long().cpu()
    if subset is not None:
        idx = torch.as_tensor(subset).cpu()
        L, y = L[idx], y[idx]
    if y.numel() == 0:
        return float("nan")
    return float(F.cross_entropy(L, y))


# ---------------------------------------------------------------------------------------------------------
# model-level measures

@torch.no_grad()
def population_logits(model: nn.Module, task: Population, batch_size: int = 16384) -> torch.Tensor:
    """Logits of the whole population (p^k, p), float64 on the CPU, rows in `task.inputs()` order, in
    chunks of `batch_size` rows (at most CPU_FORWARD_ROWS on the CPU: `models.base.forward_rows`).

    A Transformer is fed its own tokens (`Transformer.tokenize`); any other module (e.g. PolyNet) the raw (N, k) inputs.
    """
    device = _model_device(model)
    inputs = task.inputs(device)
    batch_size = forward_rows(batch_size, inputs)
    was_training = model.training
    model.eval()
    try:
        out = []
        for start in range(0, inputs.shape[0], batch_size):
            x = inputs[start : start + batch_size]
            if isinstance(model, Transformer):
                x = model.tokenize(x)
            out.append(model(x).detach().to(torch.float64).cpu())
    finally:
        model.train(was_training)
    return torch.cat(out)


def full_loss(model: nn.Module, task: Population, subset: torch.Tensor | None = None) -> float:
    """Cross-entropy (float64) of the model on the population, or on the rows `subset`."""
    return cross_entropy64(population_logits(model, task), task.labels(), subset)


def restricted_loss(
    model: nn.Module, task: Population, freqs: Iterable[int], subset: torch.Tensor | None = None
) -> float:
    """Cross-entropy of the restricted logits (projection onto {1, cos, sin(2πζ(Σa − c)/p) : ζ ∈ freqs}).

    The restricted logits depend only on Σa − c, so the value is the same for every subset.
    """
    logits = population_logits(model, task)
    restricted, _ = decompose_logits(logits, task.inputs(), task.p, freqs)
    return cross_entropy64(restricted, task.labels(), subset)


def excluded_loss(
    model: nn.Module,
    task: Population,
    freqs: Iterable[int],
    subset: torch.Tensor | None = None,
    basis: str = "diagonal",
) -> float:
    """Cross-entropy of the logits with the key-frequency directions removed, on `subset` (Nanda: train)."""
    logits = population_logits(model, task)
    _, excluded = decompose_logits(logits, task.inputs(), task.p, freqs, basis)
    return cross_entropy64(excluded, task.labels(), subset)


def _accuracy(logits: torch.Tensor, labels: torch.Tensor, subset: torch.Tensor | None) -> float | None:
    if subset is not None:
        logits, labels = logits[subset], labels[subset]
    return float((logits.argmax(dim=1) == labels).double().mean()) if labels.numel() else None


def _finite_or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None


def progress_measures(
    model: nn.Module,
    task: Population,
    freqs: Iterable[int] | None = None,
    train_idx: torch.Tensor | None = None,
    n_key: int | None = None,
    mass: float = 0.8,
) -> dict:
    """JSON-ready progress measures of one checkpoint (one forward pass over the population).

    freqs None: key frequencies from the embedding (`embedding_key_frequencies(model, p, n_key, mass)`);
    pass fixed freqs (e.g. those of the final checkpoint) to track the same directions over training,
    as Nanda et al. do. train_idx: row indices of the training set (test = the rest); None = the whole
    population is the training set (test_* are None).

    Keys: p, k, key_frequencies, embedding_spectrum (normalized, index ζ = 0..(p−1)/2; None for a model
    without a Transformer/PolyNet embedding, which then needs explicit freqs), train_loss,
    test_loss, all_loss, train_acc, test_acc, restricted_loss (same on every subset), excluded_loss
    (train rows, diagonal basis), excluded_loss_per_class (train rows, Nanda's per-class basis),
    excluded_loss_test (test rows, diagonal basis), fourier_variance_fraction.

    These are Nanda et al.'s measures of grokking: the restricted loss keeps only the key frequencies'
    components cos/sin(2πζ(Σa − c)/p) of the logits, the excluded loss removes them (module docstring).

    Args:
        model: A Transformer or PolyNet on addition mod p (any model with explicit `freqs`).
        task: The `ModularAddition` task.
        freqs: The key frequencies ζ in 1..(p−1)/2; None reads them off the embedding
            (`embedding_key_frequencies(model, p, n_key, mass)`).
        train_idx: Row indices of the training set (test = the rest); None = the whole population.
        n_key: The number of key frequencies to take when `freqs` is None (None: by `mass`).
        mass: The share of the embedding's non-DC power the key frequencies hold when n_key is None.

    Returns:
        The JSON-ready dict of the keys above (test_* None without a test set).

    Raises:
        TypeError: If freqs is None and the model has no Transformer/PolyNet embedding.
        ValueError: If a frequency is outside 1..(p−1)/2.
    """
    p = task.p
    has_embedding = isinstance(model, (Transformer, PolyNet))
    key = embedding_key_frequencies(model, p, n_key, mass) if has_embedding else None
    if freqs is None and key is None:
        raise TypeError(f"freqs=None needs a Transformer or PolyNet embedding, got {type(model).__name__}")
    fs = _check_freqs(p, key.freqs if freqs is None else freqs)
    logits = population_logits(model, task)
    labels = task.labels()
    inputs = task.inputs()
    n = labels.numel()
    if train_idx is None:
        train, test = None, torch.zeros(0, dtype=torch.long)
    else:
        train = torch.as_tensor(train_idx).long().cpu()
        is_train = torch.zeros(n, dtype=torch.bool)
        is_train[train] = True
        test = (~is_train).nonzero().squeeze(1)
    restricted, excluded = decompose_logits(logits, inputs, p, fs)
    _, excluded_pc = decompose_logits(logits, inputs, p, fs, "per_class")
    has_test = test.numel() > 0
    return {
        "p": p,
        "k": task.k,
        "key_frequencies": fs,
        "embedding_spectrum": [float(v) for v in key.spectrum] if key is not None else None,
        "train_loss": cross_entropy64(logits, labels, train),
        "test_loss": cross_entropy64(logits, labels, test) if has_test else None,
        "all_loss": cross_entropy64(logits, labels),
        "train_acc": _accuracy(logits, labels, train),
        "test_acc": _accuracy(logits, labels, test) if has_test else None,
        "restricted_loss": cross_entropy64(restricted, labels),
        "excluded_loss": cross_entropy64(excluded, labels, train),
        "excluded_loss_per_class": cross_entropy64(excluded_pc, labels, train),
        "excluded_loss_test": cross_entropy64(excluded, labels, test) if has_test else None,
        "fourier_variance_fraction": _finite_or_none(fourier_variance_fraction(logits, inputs, p, fs)),
    }
