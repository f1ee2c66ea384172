"""Column generation reduced by the symmetry of THEORY.md §8 (a separate, group-aware certificate).

For the k-input composition task on G the rows (x, c ≠ y) fall into orbits indexed by the non-identity
class of t = y⁻¹c; the symmetrized network has margin a[C] = mean over the orbit. So the LP has one row per
class, a_i[C] = (1/|G|^k) Σ_x z_i(x)^k (w_i[y] − mean_{t∈C} w_i[y t]), and its dual is q over the classes,
τ_{x,c} = q_C / (|G|^k |C|). Lower bound = the LP value (the margin of the network symmetrized over the
group, not of the dictionary network itself); upper bound = the best neuron for the final q.
"""
from __future__ import annotations

import itertools
import time

import numpy as np

from fourier_circuits.algebra.groups import Group
from fourier_circuits.theory.solver.cg import NeuronSearch, _dedupe, lp_max_min
from fourier_circuits.theory.solver.lp import _group

__all__ = ["group_population", "products", "column_generation_group"]


def group_population(group: Group, k: int) -> tuple[np.ndarray, np.ndarray]:
    """All x ∈ G^k (first input slowest) and labels x_1 ⋯ x_k."""
    n = group.order
    x = np.array(list(itertools.product(range(n), repeat=k)), dtype=np.int64).reshape(-1, k)
    return x, products(group, x)


def products(group: Group, x: np.ndarray) -> np.ndarray:
    """x_1 ⋯ x_k of every row of x (element indices, shape (rows, k)), the Cayley table folded left to right."""
    y = x[:, 0].copy()
    for j in range(1, x.shape[1]):
        y = group.table[y, x[:, j]]
    return y


def column_generation_group(group, k: int = 2, *, tol: float = 1e-10, max_iter: int = 100,
                            restarts: int = 48, seeded: int = 16, steps: int = 600, n_add: int = 8,
                            seed: int = 0) -> dict:
    """Class-reduced column generation. Keys: lower, upper, gap, converged, q ({label: q_C}), weights,
    neurons, restart_spread, iterations, history, time_s."""
    t0 = time.perf_counter()
    group = _group(group)
    n = group.order
    x, y = group_population(group, k)
    N = len(y)
    classes = group.conjugacy_classes[1:]
    search = NeuronSearch(x, k, n, n)
    rng = np.random.default_rng(seed)
    vo = k * n
    # mean_{t ∈ C} w[y t] as a linear map: T_C[y, y'] = 1/|C| for y' = y t, t ∈ C
    ind = np.zeros((len(classes), n, n))
    for ci, cl in enumerate(classes):
        for t in cl:
            ind[ci, np.arange(n), group.table[:, t]] += 1.0 / len(cl)
    count = np.bincount(y, minlength=n) / N

    def S_of(q):
        """Rows s_x = (1/N)(e_y − Σ_C q_C mean_{t∈C} e_{y t}) for x with label y."""
        K = np.eye(n) - np.einsum("c,cab->ab", q, ind)
        return K[y] / N

    def class_margins(D):
        z = search.z(D)
        h = np.zeros((len(D), n))                         # h[i, y] = Σ_{x: y_x = y} z^k / N
        for i in range(len(D)):
            h[i] = np.bincount(y, weights=z[i] ** k, minlength=n) / N
        W = D[:, vo:]
        Kw = W[:, None, :] - np.einsum("cab,ib->ica", ind, W)   # (i, C, y)
        return np.einsum("iy,icy->ci", h, Kw)              # (C, i)

    def batch(S, D):
        parts = [rng.standard_normal((restarts, search.P))]
        if D is not None:
            F, _ = search.value_grad(D, S, grad=False)
            top = D[np.argsort(-F)[:seeded]]
            parts += [top, top + 0.05 * rng.standard_normal(top.shape) / np.sqrt(search.P)]
        return search.ascend(np.vstack(parts), S, steps)

    del count
    q = np.array([len(c) for c in classes], dtype=float)
    q /= q.sum()
    theta, F = batch(S_of(q), None)
    D = _dedupe(theta, F, -np.inf, n_add, None)
    best_upper, best_F, best_q = float(F.max()), F, q
    history = []
    converged = False
    for it in range(1, max_iter + 1):
        A = class_margins(D)
        val, rho, q = lp_max_min(A, central=True)
        D_lp = D
        theta, F = batch(S_of(q), D)
        if F.max() < best_upper:
            best_upper, best_F, best_q = float(F.max()), F, q
        history.append((it, val, best_upper, len(D)))
        if best_upper <= val * (1 + tol):
            converged = True
            break
        new = _dedupe(theta, F, val * (1 + tol), n_add, D)
        if not len(new):
            break
        D = np.vstack([D, new])
    Fs = np.sort(best_F)[::-1]
    return {
        "lower": float(val), "upper": best_upper, "gap": (best_upper - val) / best_upper, "converged": converged,
        "q": {group.labels[c[0]]: float(w) for c, w in zip(classes, best_q)},
        "neurons": D_lp[rho > 0], "weights": rho[rho > 0],
        "restart_spread": {"best": float(Fs[0]), "n_within_1e-9": int((Fs >= Fs[0] * (1 - 1e-9)).sum()),
                           "n_restarts": len(Fs), "median": float(np.median(Fs)), "worst": float(Fs[-1])},
        "iterations": it, "history": history, "time_s": time.perf_counter() - t0,
    }
