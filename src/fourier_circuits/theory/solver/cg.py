"""A generic max-margin certificate by column generation (docs/theory.md §3, §8), with no group theory.

Polynomial net f(x)[c] = Σ_i (Σ_j u_ij[x_j])^k w_i[c] on a one-hot population (inputs (N, n_in) indices
into a vocabulary of size V, labels (N,)). A unit neuron θ = (u_1..u_{n_in}, w), Σ_j‖u_j‖² + ‖w‖² = 1,
contributes g_θ(x, c) = z(x)^k (w[y_x] − w[c]), z(x) = Σ_j u_j[x_j], to the margin against class c; by
homogeneity (ν = k+1) a network of neurons of norms r_i is the measure ρ_i = r_i^ν / Σ r^ν, and

    γ* = max_ρ min_{(x, c≠y)} Σ_i ρ_i g_i(x, c)        (Σρ = 1, ρ ≥ 0, unit neurons).

Column generation: the LP over a growing dictionary (rows (x, c) themselves generated: only violated rows
are added, so the full N (C−1) rows are never formed), its dual distribution τ over (x, c), then the best
unit neuron for τ, F_τ(θ) = Σ τ_{x,c} g_θ(x, c) = Σ_x z(x)^k (S w)_x with s_x = Σ_c τ_{x,c}(e_{y_x} − e_c),
by a restarted, vectorized Riemannian gradient ascent on the unit sphere. Lower bound = the LP value (a
real network); upper bound = max_θ F_τ(θ) for the final τ (any τ bounds every network: its min margin is
≤ its τ-average = Σ ρ_i F_τ(θ_i)), valid only as far as the search finds the maximum.
"""
from __future__ import annotations

import time
import warnings

import numpy as np
import scipy.sparse as sp
from scipy.optimize import OptimizeWarning, linprog

__all__ = ["NeuronSearch", "column_generation", "lp_max_min", "mixture_weights", "smoothed_margin_polish"]

POLISH_TAUS = (30.0, 300.0, 3e3, 3e4, 3e5, 3e6, 3e7)   # smoothed_margin_polish's stages: τ in units of the RMS normalized logit


class NeuronSearch:
    """F(θ) = Σ_x z_θ(x)^k (S w)_x on the unit sphere, vectorized over a batch of R neurons θ (R, P).

    P = n_in V + C; θ[:, :n_in V] holds u_1..u_{n_in} (each of length V), θ[:, n_in V:] holds w.
    """

    def __init__(self, inputs: np.ndarray, k: int, vocab: int, n_classes: int):
        self.x = np.asarray(inputs, dtype=np.int64)
        self.N, self.n_in = self.x.shape
        self.k, self.V, self.C = k, vocab, n_classes
        self.P = self.n_in * vocab + n_classes
        ones = np.ones(self.N)
        # one-hot (N, n_in V): column j V + v is 1 where x_j = v
        cols = (self.x + np.arange(self.n_in) * vocab).ravel()
        rows = np.repeat(np.arange(self.N), self.n_in)
        self.E = sp.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(self.N, self.n_in * vocab))
        self.ET = self.E.T.tocsr()
        del ones

    def z(self, theta: np.ndarray) -> np.ndarray:
        """z(x) for every example, (R, N)."""
        return (self.E @ theta[:, : self.n_in * self.V].T).T

    def value_grad(self, theta: np.ndarray, S: np.ndarray, grad: bool = True):
        nu = self.n_in * self.V
        z = self.z(theta)                                    # (R, N)
        zk1 = z ** (self.k - 1)
        zk = zk1 * z
        sw = theta[:, nu:] @ S.T                             # (R, N): (S w)_x
        F = np.einsum("rn,rn->r", zk, sw)
        if not grad:
            return F, None
        g = np.empty_like(theta)
        g[:, nu:] = zk @ S
        g[:, :nu] = (self.ET @ (self.k * zk1 * sw).T).T
        return F, g

    def ascend(self, theta: np.ndarray, S: np.ndarray, steps: int = 400, gtol: float = 1e-12):
        """Riemannian gradient ascent with a per-restart adaptive angle; returns (θ, F)."""
        theta = theta / np.linalg.norm(theta, axis=1, keepdims=True)
        eta = np.full(len(theta), 0.3)
        F, _ = self.value_grad(theta, S, grad=False)
        theta[F < 0, self.n_in * self.V:] *= -1        # F(u, −w) = −F(u, w): start on the ascending side
        F, g = self.value_grad(theta, S)
        for _ in range(steps):
            rg = g - np.einsum("rp,rp->r", g, theta)[:, None] * theta
            rn = np.linalg.norm(rg, axis=1)
            scale = np.maximum(np.abs(F), 1e-300)
            active = rn > gtol * scale
            if not active.any():
                break
            cand = theta + (eta / np.maximum(rn, 1e-300))[:, None] * rg
            cand /= np.linalg.norm(cand, axis=1, keepdims=True)
            Fc, gc = self.value_grad(cand, S)
            acc = (Fc >= F) & active
            theta[acc], F[acc], g[acc] = cand[acc], Fc[acc], gc[acc]
            eta = np.where(acc, np.minimum(eta * 1.5, 1.0), eta * 0.4)
            eta = np.maximum(eta, 1e-14)
        return theta, F


def lp_max_min(A: np.ndarray, central: bool = True) -> tuple[float, np.ndarray, np.ndarray]:
    """max_ρ min_r (A ρ)_r over the simplex (A: rows × neurons); returns (value, ρ, τ) with τ the dual
    distribution over the rows (HiGHS marginals, normalized) and value = min_r (A ρ)_r recomputed.

    central: interior point without presolve and crossover, so τ is (near) the analytic centre of the
    optimal dual face rather than a vertex: spread over every tight row, e.g. uniform over the orbits of a
    symmetric problem, which makes the separating neuron's value a much tighter upper bound.
    """
    m, n = A.shape
    obj = np.zeros(n + 1)
    obj[-1] = -1.0
    scale = float(np.abs(A).max()) or 1.0
    A_ub = np.hstack([-A / scale, np.ones((m, 1))])
    A_eq = np.hstack([np.ones((1, n)), np.zeros((1, 1))])
    kw = dict(method="highs-ipm", options={"presolve": False, "run_crossover": "off",
                                            "ipm_optimality_tolerance": 1e-12}) if central else dict(method="highs")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        res = linprog(obj, A_ub=A_ub, b_ub=np.zeros(m), A_eq=A_eq, b_eq=[1.0],
                      bounds=[(0, None)] * n + [(None, None)], **kw)
    if res.status != 0 or res.x is None or res.ineqlin.marginals is None:
        if central:
            return lp_max_min(A, central=False)
        raise RuntimeError(f"dictionary LP failed: {res.message}")
    rho = np.clip(res.x[:n], 0, None)
    rho[rho < 1e-14 * rho.max()] = 0.0
    rho /= rho.sum()
    tau = np.clip(-np.asarray(res.ineqlin.marginals), 0, None)
    tau[tau < 1e-14 * tau.max()] = 0.0
    tau /= tau.sum()
    return float((A @ rho).min()), rho, tau


def entropic_prox(A: np.ndarray, center: np.ndarray, t: float, iters: int = 300) -> tuple[np.ndarray, float]:
    """The entropic proximal bundle step  argmin_{τ ∈ Δ} max_i (A τ)_i + KL(τ ‖ centre)/t.

    A: (n, M), row i = neuron i's margins on the M rows (so F_τ(θ_i) = (A τ)_i). Solved through its smooth
    dual max_{λ ∈ Δ_n} −(1/t) log Σ_r centre_r exp(−t (Aᵀλ)_r) by accelerated projected gradient with
    backtracking; τ(λ) ∝ centre · exp(−t Aᵀλ). Returns (τ, model value max_i (A τ)_i).
    """
    n = A.shape[0]
    logc = np.log(np.maximum(center, 1e-300))

    def tau_of(lam):
        e = logc - t * (lam @ A)
        e -= e.max()
        w = np.exp(e)
        return w / w.sum()

    def h(lam):
        e = logc - t * (lam @ A)
        mx = e.max()
        return -(mx + np.log(np.exp(e - mx).sum())) / t

    lam = np.full(n, 1.0 / n)
    L0 = 1e-6 * (t * float(np.abs(A).max()) ** 2 + 1e-300)
    z, lam_old, L, k_it = lam.copy(), lam.copy(), 1e6 * L0, 1.0
    for _ in range(iters):
        hz, gz = h(z), A @ tau_of(z)
        while True:
            cand = _proj_simplex(z + gz / L)
            if h(cand) >= hz + gz @ (cand - z) - 0.5 * L * ((cand - z) ** 2).sum() - 1e-18:
                break
            L *= 2.0
        k_new = 0.5 * (1 + np.sqrt(1 + 4 * k_it * k_it))
        z = cand + ((k_it - 1) / k_new) * (cand - lam_old)
        z = _proj_simplex(z)
        lam_old, lam, k_it = cand, cand, k_new
        L = max(L * 0.9, L0)
    tau = tau_of(lam)
    return tau, float((A @ tau).max())


def _proj_simplex(v: np.ndarray) -> np.ndarray:
    u = np.sort(v)[::-1]
    css = np.cumsum(u) - 1.0
    idx = np.arange(1, len(v) + 1)
    r = idx[u - css / idx > 0][-1]
    return np.maximum(v - css[r - 1] / r, 0.0)


def mixture_weights(theta: np.ndarray, rho: np.ndarray, n_in: int, vocab: int, k: int):
    """Network weights (embed (n_in, V, m), unembed (m, C)) of the measure ρ on unit neurons θ:
    neuron i is scaled to norm ρ_i^{1/ν} so that ‖θ‖_{2,ν}^ν = Σρ = 1 and f = Σ ρ_i f_{θ_i}."""
    keep = rho > 0
    th = theta[keep] * (rho[keep] ** (1.0 / (k + 1)))[:, None]
    nu = n_in * vocab
    embed = th[:, :nu].reshape(-1, n_in, vocab).transpose(1, 2, 0)
    return np.ascontiguousarray(embed), np.ascontiguousarray(th[:, nu:])


def _dedupe(theta: np.ndarray, F: np.ndarray, threshold: float, n_add: int, existing: np.ndarray | None):
    order = np.argsort(-F)
    chosen: list[int] = []
    for i in order:
        if F[i] <= threshold or len(chosen) >= n_add:
            break
        cand = theta[i]
        if chosen and (np.abs(theta[chosen] @ cand) > 1 - 1e-9).any():
            continue
        if existing is not None and len(existing) and (existing @ cand > 1 - 1e-9).any():
            continue
        chosen.append(i)
    return theta[chosen]


def column_generation(inputs, labels, n_classes: int, k: int, *, vocab: int | None = None,
                      tol: float = 1e-9, max_iter: int = 200, restarts: int = 48, seeded: int = 16,
                      steps: int = 400, n_add: int = 8, rows_per_round: int | None = None,
                      seed: int = 0, time_limit: float | None = None, full_rows: int = 20000,
                      central: bool = True, smoothing: float = 0.7, prox: bool = True,
                      polish_taus: tuple[float, ...] = POLISH_TAUS) -> dict:
    """Column generation for γ* of the polynomial net (degree k) on the population (inputs, labels).

    Returns a dict with keys
      lower (the normalized margin of the network `embed`/`unembed`: the LP mixture over the final
        dictionary, then `smoothed_margin_polish` at polish_taus where that raises it; () skips it),
      lower_lp (the LP mixture's margin before the polish),
      upper (best single-neuron value for the final τ; valid only as good as the search),
      gap ((upper − lower)/upper), converged (upper ≤ lower (1 + tol)),
      neurons ((m, P) unit neurons with ρ > 0), weights (ρ), embed, unembed (the network's weights),
      restart_values (the final search's value per restart, sorted decreasingly),
      restart_spread: {best, n_within_1e-9 (restarts reaching best within 1e-9 relative), median, worst},
      tau_rows ((x index, c) of the final dual's support), tau (its weights),
      iterations, history [(iteration, lower, upper, dictionary size, working rows)], time_s.
    """
    t0 = time.perf_counter()
    x = np.asarray(inputs, dtype=np.int64)
    if x.ndim == 1:
        x = x[:, None]
    y = np.asarray(labels, dtype=np.int64)
    N, n_in = x.shape
    C = int(n_classes)
    V = int(vocab if vocab is not None else x.max() + 1)
    search = NeuronSearch(x, k, V, C)
    rng = np.random.default_rng(seed)
    nu = n_in * V
    rows_per_round = rows_per_round or max(2 * C, 64)
    wrong = np.ones((N, C), dtype=bool)
    wrong[np.arange(N), y] = False

    def S_of(tau_dense):
        """s_x = Σ_c τ_{x,c} (e_{y_x} − e_c) for a dense (N, C) τ (zero on the correct class)."""
        S = -tau_dense.copy()
        S[np.arange(N), y] += tau_dense.sum(axis=1)
        return S

    def restart_batch(S, dictionary, n_random):
        parts = [rng.standard_normal((n_random, search.P))]
        if dictionary is not None and len(dictionary):
            F, _ = search.value_grad(dictionary, S, grad=False)
            top = dictionary[np.argsort(-F)[:seeded]]
            parts.append(top)
            parts.append(top + 0.05 * rng.standard_normal(top.shape) / np.sqrt(search.P))
        return search.ascend(np.vstack(parts), S, steps)

    # start: τ uniform over every (x, c ≠ y)
    S0 = np.where(wrong, -1.0 / (N * (C - 1)), 1.0 / N)
    theta, F = restart_batch(S0, None, restarts)
    D = _dedupe(theta, F, -np.inf, n_add, None)
    all_x, all_c = np.nonzero(wrong)
    use_all = len(all_x) <= full_rows
    rows_x, rows_c = (all_x, all_c) if use_all else (np.zeros(0, np.int64), np.zeros(0, np.int64))
    history = []
    converged = False
    best_upper, best_F, best_tau = float(F.max()), F, np.where(wrong, 1.0 / (N * (C - 1)), 0.0)
    t_prox = 5.0 / max(abs(best_upper), 1e-300)
    t_min, t_max = 1e-3 * t_prox, 1e12 * t_prox
    for it in range(1, max_iter + 1):
        zk, W = search.z(D) ** k, D[:, nu:]
        while True:                    # row generation (a single pass when every row is used)
            if len(rows_x):
                A = (zk[:, rows_x] * (W[:, y[rows_x]] - W[:, rows_c])).T        # (rows, n)
                val, rho, tau = lp_max_min(A, central)
            else:
                val, rho = np.inf, np.full(len(D), 1.0 / len(D))
            f = (zk.T * rho) @ W                                              # (N, C) mixture logits
            g = f[np.arange(N), y][:, None] - f
            g[~wrong] = np.inf
            full_min = float(g.min())
            if use_all:
                break
            slack = 1e-9 * max(abs(full_min), 1e-300)
            near = g <= min(val, full_min) + slack if len(rows_x) else g <= full_min + slack
            have = np.zeros((N, C), dtype=bool)
            have[rows_x, rows_c] = True
            fresh = near & ~have
            if not fresh.any():
                violated = g < val - slack
                fresh = violated & ~have
            if not fresh.any():
                break
            fx, fc = np.nonzero(fresh)
            if len(fx) > rows_per_round:
                pick = np.argsort(g[fx, fc])[:rows_per_round]
                fx, fc = fx[pick], fc[pick]
            rows_x, rows_c = np.concatenate([rows_x, fx]), np.concatenate([rows_c, fc])
        lower = full_min                                   # the mixture's true min margin: a real network
        D_lp, rho_lp = D, rho
        tau_lp = np.zeros((N, C))
        tau_lp[rows_x, rows_c] = tau
        if use_all and prox:
            # entropic proximal bundle on φ(τ) = max_θ F_τ(θ): the next τ stays near the best τ so far
            G_rows = (zk[:, all_x] * (W[:, y[all_x]] - W[:, all_c]))                 # (n, M): F_τ = G τ
            tau_c_flat, model = entropic_prox(G_rows, best_tau[all_x, all_c], t_prox)
            tau_c = np.zeros((N, C))
            tau_c[all_x, all_c] = tau_c_flat
            theta, F = restart_batch(S_of(tau_c), D, restarts)
            phi_c = float(F.max())
            if phi_c <= best_upper - 0.1 * (best_upper - model):          # serious step
                t_prox = min(t_prox * 1.5, t_max)
            else:
                t_prox = max(t_prox * 0.7, t_min)
            if phi_c < best_upper:
                best_upper, best_F, best_tau = phi_c, F, tau_c
            F_lp, _ = search.value_grad(theta, S_of(tau_lp), grad=False)
            new = np.vstack([_dedupe(theta, F, model * (1 + tol), n_add, D),
                             _dedupe(theta, F_lp, val * (1 + tol), n_add, D)])
            if len(new):
                new = _dedupe(new, np.ones(len(new)), 0.0, 2 * n_add, D)
        else:
            # Wentges smoothing: separate between the stability centre (best τ so far) and the LP dual
            tau_sep = smoothing * best_tau + (1 - smoothing) * tau_lp
            theta, F = restart_batch(S_of(tau_sep), D, restarts)
            if F.max() < best_upper:
                best_upper, best_F, best_tau = float(F.max()), F, tau_sep
            F_lp, _ = search.value_grad(theta, S_of(tau_lp), grad=False)
            new = _dedupe(theta, F_lp, val * (1 + tol), n_add, D)
        if len(new) == 0 and best_tau is not tau_lp:         # mispricing: separate at the LP dual itself
            theta, F = restart_batch(S_of(tau_lp), D, restarts)
            if F.max() < best_upper:
                best_upper, best_F, best_tau = float(F.max()), F, tau_lp
            new = _dedupe(theta, F, val * (1 + tol), n_add, D)
        history.append((it, lower, best_upper, len(D), len(rows_x)))
        if best_upper <= lower * (1 + tol) or (time_limit is not None and time.perf_counter() - t0 > time_limit):
            converged = best_upper <= lower * (1 + tol)
            break
        if len(new) == 0:
            break
        D = np.vstack([D, new])
    D, rho = D_lp, rho_lp
    embed, unembed = mixture_weights(D, rho, n_in, V, k)
    lower_lp = lower
    if polish_taus and not converged:
        embed, unembed, lower = smoothed_margin_polish(embed, unembed, x, y, k, polish_taus)
        D, rho = unit_neurons(embed, unembed, k)
        converged = converged or best_upper <= lower * (1 + tol)
    Fs = np.sort(best_F)[::-1]
    best = float(Fs[0])
    rows_x, rows_c = np.nonzero(best_tau)
    tau = best_tau[rows_x, rows_c]
    keep = rho > 0
    return {
        "lower": float(lower), "lower_lp": float(lower_lp), "upper": best, "gap": (best - lower) / abs(best) if best else float("nan"),
        "converged": bool(converged), "neurons": D[keep], "weights": rho[keep], "embed": embed,
        "unembed": unembed, "restart_values": Fs,
        "restart_spread": {"best": best, "n_within_1e-9": int((Fs >= best - 1e-9 * abs(best)).sum()),
                           "n_restarts": len(Fs), "median": float(np.median(Fs)), "worst": float(Fs[-1])},
        "tau_rows": np.stack([rows_x, rows_c], axis=1), "tau": tau,
        "iterations": it, "history": history, "time_s": time.perf_counter() - t0,
    }


def unit_neurons(embed: np.ndarray, unembed: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The inverse of `mixture_weights`: unit neurons θ_i (m, n_in V + C) and their measure
    ρ_i = ‖θ_i‖^ν / Σ_j ‖θ_j‖^ν of a network's weights."""
    phi = np.concatenate([embed.transpose(2, 0, 1).reshape(embed.shape[2], -1), unembed], axis=1)
    r = np.linalg.norm(phi, axis=1)
    rho = r ** (k + 1)
    return phi / np.maximum(r, 1e-300)[:, None], rho / rho.sum()


def smoothed_margin_polish(embed: np.ndarray, unembed: np.ndarray, inputs: np.ndarray, labels: np.ndarray,
                           k: int, taus: tuple[float, ...] = POLISH_TAUS, iterations: int = 500):
    """Raise a network's normalized margin with L-BFGS on the smoothed margin, float64, at increasing τ:

        L(θ) = (s/τ) log Σ_{(x, c≠y)} exp(−τ G_{x,c}(θ) / (s ‖θ‖_{2,ν}^ν)),   G = f_y − f_c,

    s the RMS normalized logit at the stage's start (docs/theory.md §3; the fast recipe's polish, here without
    the training layer). The column-generation mixture is a finite sample of a continuous family of optimal
    neurons, so its LP value stops short of γ* (Q8, k = 2: 1.4e−4 below the class LP after 60 s); moving the neurons
    themselves closes that to 2.5e−8 in 9 s. Returns (embed, unembed, margin) of the best network met,
    the margin measured in float64 on every row: a real network, so still a lower bound."""
    import torch

    from fourier_circuits.models.base import flush_subnormals
    from fourier_circuits.models.margins import l2nu_norm_pow, normalized_margin, softmin_loss
    from fourier_circuits.models.polynet import PolyNet
    flush_subnormals()   # far-off gaps' softmin weights underflow at large τ
    net = PolyNet.from_weights(torch.as_tensor(embed, dtype=torch.float64),
                               torch.as_tensor(unembed, dtype=torch.float64), "poly", k)
    X, Y = torch.as_tensor(np.asarray(inputs, dtype=np.int64)), torch.as_tensor(np.asarray(labels, dtype=np.int64))

    def snapshot():
        return net.embed.detach().numpy().copy(), net.unembed.detach().numpy().copy(), normalized_margin(net, X, Y)

    best = snapshot()
    for tau in taus:
        with torch.no_grad():
            s = float(net(X).pow(2).mean().sqrt()) / float(l2nu_norm_pow(net))
        opt = torch.optim.LBFGS(net.parameters(), lr=1.0, max_iter=iterations, history_size=30,
                                line_search_fn="strong_wolfe", tolerance_grad=1e-15, tolerance_change=1e-18)

        def closure() -> torch.Tensor:
            opt.zero_grad(set_to_none=True)
            loss = softmin_loss(net(X), Y, l2nu_norm_pow(net), s, tau)
            loss.backward()
            return loss

        opt.step(closure)
        with torch.no_grad():                       # back to ‖θ‖_{2,ν} = 1 (f is ν-homogeneous)
            scale = l2nu_norm_pow(net).pow(1.0 / net.nu)
            net.embed.div_(scale)
            net.unembed.div_(scale)
        current = snapshot()
        if current[2] > best[2]:
            best = current
    return best


def network_margins(phi: np.ndarray, x: np.ndarray, y: np.ndarray, n_classes: int, k: int, vocab: int):
    """Margins f[y] − f[c] on every (x, c ≠ y) of the network with unnormalized neurons φ (m, P), plus
    its norm ‖φ‖_{2,ν}^ν; returns (margins (N, C) with +inf on the correct class, norm)."""
    N, n_in = x.shape
    nu = n_in * vocab
    z = sum(phi[:, j * vocab + x[:, j]] for j in range(n_in))          # (m, N)
    f = (z.T ** k) @ phi[:, nu:]
    g = f[np.arange(N), y][:, None] - f
    g[np.arange(N), y] = np.inf
    return g, float((np.einsum("mp,mp->m", phi, phi) ** ((k + 1) / 2)).sum())


def polish(phi: np.ndarray, x: np.ndarray, y: np.ndarray, n_classes: int, k: int, vocab: int,
           iters: int = 30, radius: float = 0.05, tol: float = 1e-13) -> tuple[np.ndarray, float]:
    """Sequential linear programming on a network's weights φ (m, P) to raise its normalized margin:
    maximize t s.t. m_r(φ) + J_r Δ ≥ t on every row, ∇‖φ‖^ν · Δ = 0, |Δ| ≤ δ (trust region), then
    renormalize; steps that do not raise min m/‖φ‖^ν are rejected and δ shrinks. Returns (φ, margin)."""
    N, n_in = x.shape
    m, P = phi.shape
    nu_k = k + 1
    vo = n_in * vocab
    g, norm = network_margins(phi, x, y, n_classes, k, vocab)
    phi = phi / norm ** (1 / nu_k)
    best = float(g.min()) / norm
    rx, rc = np.nonzero(np.isfinite(g))
    M = len(rx)
    for _ in range(iters):
        if radius < 1e-14:
            break
        z = sum(phi[:, j * vocab + x[:, j]] for j in range(n_in))       # (m, N)
        zk1 = z ** (k - 1)
        W = phi[:, vo:]
        g, _ = network_margins(phi, x, y, n_classes, k, vocab)
        marg = g[rx, rc]
        # sparse Jacobian: per neuron i, columns i P + (j V + x_j) and i P + vo + y, i P + vo + c
        ii = np.arange(m)
        dw = (W[:, y[rx]] - W[:, rc])                                     # (m, M)
        zr = zk1[:, rx]
        vals = [k * zr * dw for _ in range(n_in)] + [zr * z[:, rx], -zr * z[:, rx]]
        cols = [ii[:, None] * P + j * vocab + x[rx, j][None, :] for j in range(n_in)]
        cols += [ii[:, None] * P + vo + y[rx][None, :], ii[:, None] * P + vo + rc[None, :]]
        rows = np.broadcast_to(np.arange(M)[None, :], (m, M))
        J = sp.csr_matrix((np.concatenate([v.ravel() for v in vals]),
                           (np.concatenate([rows.ravel()] * (n_in + 2)),
                            np.concatenate([c.ravel() for c in cols]))), shape=(M, m * P))
        A_ub = sp.hstack([-J, sp.csr_matrix(np.ones((M, 1)))]).tocsr()
        sq = np.einsum("mp,mp->m", phi, phi)
        grad_norm = (nu_k * sq[:, None] ** ((nu_k - 2) / 2) * phi).ravel()
        A_eq = sp.csr_matrix(np.concatenate([grad_norm, [0.0]])[None, :])
        obj = np.zeros(m * P + 1)
        obj[-1] = -1.0
        scale = float(np.abs(phi).max())
        bounds = [(-radius * scale, radius * scale)] * (m * P) + [(None, None)]
        res = linprog(obj, A_ub=A_ub, b_ub=marg, A_eq=A_eq, b_eq=[0.0], bounds=bounds, method="highs")
        if res.status != 0:
            radius *= 0.3
            continue
        cand = phi + res.x[:-1].reshape(m, P)
        gc, nc = network_margins(cand, x, y, n_classes, k, vocab)
        val = float(gc.min()) / nc
        if val > best * (1 + tol):
            gain_pred = res.x[-1] - marg.min()
            phi, best = cand / nc ** (1 / nu_k), val
            radius = min(radius * 2, 0.5) if val - best >= 0.5 * gain_pred else radius
        else:
            radius *= 0.3
    return phi, best
