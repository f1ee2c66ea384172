"""Column generation reduced by the symmetry of docs/theory.md §8 (a separate, group-aware certificate).

For the k-input composition task on G the rows (x, c ≠ y) fall into orbits indexed by the non-identity
class of t = y⁻¹c; the symmetrized network has margin a[C] = mean over the orbit. So the LP has one row per
class, a_i[C] = (1/|G|^k) Σ_x z_i(x)^k (w_i[y] − mean_{t∈C} w_i[y t]), and its dual is q over the classes,
τ_{x,c} = q_C / (|G|^k |C|). Lower bound = the LP value (the margin of the network symmetrized over the
group, not of the dictionary network itself); upper bound = the best neuron for the final q.
"""
from __future__ import annotations

import itertools
import math
import time

import numpy as np

from fourier_circuits.algebra.groups import Group
from fourier_circuits.theory.solver.cg import NeuronSearch, _dedupe, lp_max_min
from fourier_circuits.theory.solver.lp import _group

__all__ = ["group_population", "products", "GroupNeuronSearch", "column_generation_group"]


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


class GroupNeuronSearch(NeuronSearch):
    """NeuronSearch for the symmetrized objective, computed on the group instead of the population.

    With s_x = (K w)[y_x] / |G|^k (K = I − Σ_C q_C T_C, Σ q = 1) only the multilinear term of
    z(x)^k = (Σ_j u_j[x_j])^k depends on the label: a monomial missing some input j sums over x_j freely
    (one x_j completes each product), so it is the same for every y and meets Σ_y (K w)[y] = 0. Hence

        F(θ) = (k! / |G|^k) ⟨K w, u_1 ∗ ⋯ ∗ u_k⟩,   (u ∗ v)[g] = Σ_{ab = g} u[a] v[b],

    O(k |G|²) per neuron instead of O(k |G|^k); still no irreps, only the Cayley table.
    """

    def __init__(self, group: Group, k: int):
        n = group.order
        self.k, self.V, self.C, self.n_in = k, n, n, k
        self.P = k * n + n
        self.scale = math.factorial(k) / float(n) ** k
        self.table = group.table
        self.left = group.table[group.inverses]          # left[a, g] = a⁻¹ g: (u ∗ v)[g] = Σ_a u[a] v[a⁻¹ g]

    def conv(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """(u ∗ v) row by row, (R, n)."""
        return np.einsum("ra,rag->rg", u, v[:, self.left])

    def _chains(self, theta: np.ndarray) -> tuple[list, list]:
        """prefix[j] = u_1 ∗ ⋯ ∗ u_j and suffix[j] = u_{j+1} ∗ ⋯ ∗ u_k (None for the empty product δ_e)."""
        n, k = self.V, self.k
        u = [theta[:, j * n:(j + 1) * n] for j in range(k)]
        prefix, suffix = [None], [None]
        for j in range(k):
            prefix.append(u[j] if prefix[-1] is None else self.conv(prefix[-1], u[j]))
            suffix.append(u[k - 1 - j] if suffix[-1] is None else self.conv(u[k - 1 - j], suffix[-1]))
        return prefix, suffix[::-1]

    def full_product(self, theta: np.ndarray) -> np.ndarray:
        """u_1 ∗ ⋯ ∗ u_k, (R, n)."""
        return self._chains(theta)[0][-1]

    def value_grad(self, theta: np.ndarray, K: np.ndarray, grad: bool = True):
        """F and ∂F/∂θ for the class operator K (n, n) in place of the population's S."""
        nu = self.k * self.V
        prefix, suffix = self._chains(theta)
        s = theta[:, nu:] @ K.T                              # (R, n): K w
        F = self.scale * np.einsum("rg,rg->r", s, prefix[-1])
        if not grad:
            return F, None
        g = np.empty_like(theta)
        g[:, nu:] = self.scale * prefix[-1] @ K
        n = self.V
        for j in range(self.k):
            # ∂/∂u_j[a] = Σ_{l, r} P[l] Q[r] s[l a r]: t[m] = Σ_l P[l] s[l m], then Σ_r Q[r] t[a r]
            t = s if prefix[j] is None else np.einsum("rl,rlm->rm", prefix[j], s[:, self.table])
            d = t if suffix[j + 1] is None else np.einsum("rb,rab->ra", suffix[j + 1], t[:, self.table])
            g[:, j * n:(j + 1) * n] = self.scale * d
        return F, g

    def ascend(self, theta: np.ndarray, K: np.ndarray, steps: int = 600, tol: float = 1e-15):
        """Maximize F on the unit sphere by exact block maximization (the higher-order power method).

        F is (k+1)-linear in the blocks (u_1, .., u_k, w), so its maximum on Σ_j ‖u_j‖² + ‖w‖² = 1 has every
        block of norm (k+1)^(−1/2) (AM–GM) and value (k+1)^(−(k+1)/2) max F over unit blocks; each block's
        maximizer with the others fixed is its normalized partial gradient. Sweeping the blocks in turn (u_1
        .. u_k, then w) never lowers F; stop when no restart gains more than tol (relative) or after `steps`
        sweeps. Returns (θ, F) on the unit sphere.
        """
        n, k, nu = self.V, self.k, self.k * self.V

        def unit(v):
            return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-300)

        u = [unit(theta[:, j * n:(j + 1) * n]) for j in range(k)]
        w = unit(theta[:, nu:])
        value = np.full(len(theta), -np.inf)
        for _ in range(steps):
            suffix = [None] * (k + 1)                        # suffix[j] = u_j ∗ ⋯ ∗ u_{k−1} (0-based)
            for j in range(k - 1, 0, -1):
                suffix[j] = u[j] if suffix[j + 1] is None else self.conv(u[j], suffix[j + 1])
            s = w @ K.T
            prefix = None
            for j in range(k):
                t = s if prefix is None else np.einsum("rl,rlm->rm", prefix, s[:, self.table])
                u[j] = unit(t if suffix[j + 1] is None else np.einsum("rb,rab->ra", suffix[j + 1], t[:, self.table]))
                prefix = u[j] if prefix is None else self.conv(prefix, u[j])
            gw = prefix @ K
            new = np.linalg.norm(gw, axis=1)                 # F over unit blocks, before the scale
            w = gw / np.maximum(new[:, None], 1e-300)
            done = (new - value <= tol * np.abs(new)).all()
            value = new
            if done:
                break
        theta = np.hstack(u + [w]) / math.sqrt(k + 1)
        return theta, self.scale * (k + 1) ** (-(k + 1) / 2) * value


def column_generation_group(group, k: int = 2, *, tol: float = 1e-10, max_iter: int = 100,
                            restarts: int = 48, class_starts: int = 16, seeded: int = 16, steps: int = 600,
                            n_add: int = 8, seed: int = 0) -> dict:
    """Class-reduced column generation. Keys: lower, upper, gap, converged, q ({label: q_C}), weights,
    neurons, restart_spread, iterations, history, search_failures (bounds found invalid: below a later
    LP value, and dropped), time_s."""
    t0 = time.perf_counter()
    group = _group(group)
    n = group.order
    classes = group.conjugacy_classes[1:]
    search = GroupNeuronSearch(group, k)
    rng = np.random.default_rng(seed)
    vo = k * n
    # mean_{t ∈ C} w[y t] as a linear map: T_C[y, y'] = 1/|C| for y' = y t, t ∈ C
    ind = np.zeros((len(classes), n, n))
    for ci, cl in enumerate(classes):
        for t in cl:
            ind[ci, np.arange(n), group.table[:, t]] += 1.0 / len(cl)

    def S_of(q):
        """The class operator K = I − Σ_C q_C T_C (s_x = (K w)[y_x] / |G|^k), q renormalized to Σ q = 1."""
        return np.eye(n) - np.einsum("c,cab->ab", q / q.sum(), ind)

    def class_margins(D):
        # the label-dependent part of h[i, y] = Σ_{x: y_x = y} z^k / N; the rest is constant in y and
        # meets Σ_y (w − T_C w)[y] = 0
        h = search.scale * search.full_product(D)
        W = D[:, vo:]
        Kw = W[:, None, :] - np.einsum("cab,ib->ica", ind, W)   # (i, C, y)
        return np.einsum("iy,icy->ci", h, Kw)              # (C, i)

    # class-function starts (every block a random combination of class indicators): random Gaussian starts
    # put little weight on the few-dimensional class functions, and the block power method then misses
    # maxima there (D23 at the first q: 0.9935 γ* from 48 Gaussian starts, 1.405 γ* from class starts)
    indicator = np.eye(len(group.conjugacy_classes))[group.class_of].T      # (classes, n): 1[g ∈ C]

    def batch(S, D):
        parts = [rng.standard_normal((restarts, search.P)),
                 np.hstack([rng.standard_normal((class_starts, len(indicator))) @ indicator for _ in range(k + 1)])]
        if D is not None:
            F, _ = search.value_grad(D, S, grad=False)
            top = D[np.argsort(-F)[:seeded]]
            parts += [top, top + 0.05 * rng.standard_normal(top.shape) / np.sqrt(search.P)]
        return search.ascend(np.vstack(parts), S, steps)

    q = np.array([len(c) for c in classes], dtype=float)
    q /= q.sum()
    theta, F = batch(S_of(q), None)
    D = _dedupe(theta, F, -np.inf, n_add, None)
    best_upper, best_F, best_q = float(F.max()), F, q
    history = []
    converged = False
    search_failures = 0
    for it in range(1, max_iter + 1):
        A = class_margins(D)
        val, rho, q = lp_max_min(A, central=True)
        D_lp = D
        if best_upper < val:
            # an earlier search missed its q's best neuron (every q's maximum is ≥ every network's margin):
            # that bound was not one; forget it
            search_failures += 1
            best_upper = np.inf
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
        "iterations": it, "history": history, "search_failures": search_failures, "time_s": time.perf_counter() - t0,
    }
