"""The phase designs behind the minimal-width law (docs/min_width.md): for k inputs, how many neurons one
frequency needs so that their phases cancel every output character except the one carrying a_1+..+a_k − c.

Neuron i at frequency ζ: u_{i,j}(a) = β cos(θ_{ij} + ωa), w_i(c) = β cos(θ_{i1}+..+θ_{ik} + ωc) (docs/theory.md §5).
(Σ_j u_j)^k w expands into characters (s_1 ζ, .., s_k ζ, −ζ) with s_j ≡ e_j (mod 2), |s_j| ≤ e_j, Σ e_j = k,
with coefficient ∝ r_i e^{i v·θ_i}, v = s − (1,..,1). All wrong classes tie (as they must at γ*: the optimal
dual weights every (x, c) pair) iff Σ_i r_i e^{i v·θ_i} = 0 for every v in V = {s − 1 : s ≠ 1} (p > 2k:
no two characters coincide mod p). Three numbers per k:
  clique   the largest T ⊂ Z^k with T − T ⊆ V ∪ −V ∪ {0}: any design has ≥ |T| atoms (a trigonometric
           polynomial with spectrum T that vanishes on the atoms has |P|² with mean > 0 but zero average
           over the design, while |P|² has spectrum in T − T where the design is exact);
  lattice  the smallest index of a sublattice L ⊂ Z^k missing V: the group (Z^k/L)^ ⊂ T^k is a design;
  search   the fewest atoms for which restarted L-BFGS drives Σ_v |Σ_i r_i e^{i v·θ_i}|² to ~0 (r ≥ 0 free).
Run:  OMP_NUM_THREADS=1 nice -n 10 python experiments/min_width_designs.py K [N ...]
"""
from __future__ import annotations

import itertools
import json
import math
import sys
import time
from pathlib import Path

import networkx as nx
import numpy as np
import torch

OUT = Path(__file__).parent / "results" / "min_width"


def achievable(k: int) -> set[tuple[int, ...]]:
    """Every s of the expansion: s_j ≡ e_j (mod 2), |s_j| ≤ e_j, over e ∈ N^k with Σ e_j = k."""
    out = set()
    for e in itertools.product(range(k + 1), repeat=k):
        if sum(e) == k:
            out.update(itertools.product(*[range(-ej, ej + 1, 2) for ej in e]))
    return out


def differences(k: int) -> set[tuple[int, ...]]:
    """V ∪ −V: the torus frequencies whose design coefficients must vanish."""
    v = {tuple(a - 1 for a in s) for s in achievable(k) if s != (1,) * k}
    return v | {tuple(-x for x in d) for d in v}


def clique_bound(k: int) -> tuple[int, list]:
    d = differences(k)
    verts = [(0,) * k] + sorted(d)
    g = nx.Graph()
    g.add_nodes_from(range(len(verts)))
    g.add_edges_from((i, j) for i, j in itertools.combinations(range(len(verts)), 2)
                     if tuple(a - b for a, b in zip(verts[i], verts[j])) in d)
    clique, size = nx.max_weight_clique(g, weight=None)
    return size, [verts[i] for i in clique]


def hermite_bases(n: int, k: int):
    """Upper-triangular Hermite normal forms of the sublattices of Z^k of index n."""
    def diagonals(n: int, k: int):
        if k == 1:
            yield (n,)
            return
        for d in (d for d in range(1, n + 1) if n % d == 0):
            for rest in diagonals(n // d, k - 1):
                yield (d,) + rest
    for diag in diagonals(n, k):
        offsets = [(i, j) for i in range(k) for j in range(i + 1, k)]
        for values in itertools.product(*[range(diag[j]) for _, j in offsets]):
            b = np.diag(diag).astype(float)
            for (i, j), v in zip(offsets, values):
                b[i, j] = v
            yield b


def lattice_design(k: int, start: int, stop: int) -> tuple[int | None, list | None]:
    d = np.array(sorted(differences(k)), dtype=float)
    for n in range(start, stop + 1):
        for b in hermite_bases(n, k):
            coords = d @ np.linalg.inv(b)       # v = c·B: v in L iff c is integral
            if not np.any(np.all(np.abs(coords - np.round(coords)) < 1e-9, axis=1)):
                return n, b.astype(int).tolist()
    return None, None


def search(k: int, n: int, restarts: int) -> float:
    """min over restarts of Σ_v |Σ_i r_i e^{i v·θ_i}|², r = softmax (Σ r = 1), v over V (one of ±v)."""
    d = sorted(differences(k))
    v = torch.tensor([x for x in d if x > tuple(-y for y in x)], dtype=torch.float64)
    best = math.inf
    for seed in range(restarts):
        gen = torch.Generator().manual_seed(seed)
        theta = (2 * math.pi * torch.rand(n, k, generator=gen, dtype=torch.float64)).requires_grad_()
        rho = torch.zeros(n, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([theta, rho], max_iter=500, line_search_fn="strong_wolfe",
                                tolerance_grad=1e-14, tolerance_change=1e-18)

        def loss() -> torch.Tensor:
            opt.zero_grad()
            r, angle = torch.softmax(rho, 0)[:, None], theta @ v.T
            value = (r * torch.cos(angle)).sum(0).pow(2).sum() + (r * torch.sin(angle)).sum(0).pow(2).sum()
            value.backward()
            return value
        for _ in range(4):
            opt.step(loss)
        best = min(best, float(loss().detach()))
        if best < 1e-16:
            break
    return best


def main() -> None:
    torch.set_num_threads(1)
    k = int(sys.argv[1])
    sizes = [int(a) for a in sys.argv[2:]]
    t0 = time.time()
    size, clique = clique_bound(k)
    row = {"k": k, "characters": len(differences(k)) // 2, "clique_bound": size, "clique": clique}
    if k <= 3:
        row["lattice_index"], row["lattice_basis"] = lattice_design(k, size, 2 ** (2 * k - 1))
    row["search"] = {n: search(k, n, 40 if k <= 3 else 10) for n in sizes}
    row["seconds"] = round(time.time() - t0, 1)
    print(json.dumps(row))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"designs_k{k}.json").write_text(json.dumps(row, indent=1))


if __name__ == "__main__":
    main()
