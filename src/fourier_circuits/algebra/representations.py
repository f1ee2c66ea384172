"""Real orthogonal irreducible representations and complex character tables (docs/theory.md §5, §6).

Over R the irreducible representations ρ of a finite group G come in three kinds, named by the
Frobenius–Schur indicator ν(χ) = (1/|G|) Σ_g χ(g²) of a complex irreducible constituent χ of ρ ⊗ C:

    kind          ν    ρ ⊗ C      dim_R ρ    character of ρ    span{ρ(·)_ij} (real dim)
    real          1    χ          χ(1)       χ                 d²
    complex       0    χ ⊕ χ̄      2χ(1)      χ + χ̄ = 2 Re χ    d²/2
    quaternionic −1    χ ⊕ χ      2χ(1)      2χ                d²/4

Every complex irrep lies in exactly one real irrep, so Σ_{complex χ} χ(1)² = |G| and the spans of
the matrix elements of the real irreps are mutually orthogonal and sum to R^G (completeness).
`Representation.complex_character` is the character χ of one chosen constituent (for a complex
pair the "unstarred" one; the character table lists χ as `name` and χ̄ as `name*`).

Constructions (all real orthogonal: R(g) R(g)^T = I, R(g) R(h) = R(gh), g·h = group.table):
- S_n: Young's orthogonal form on standard Young tableaux; the adjacent transposition s_i swapping
  points i, i+1 acts by ρ(s_i) e_T = (1/r) e_T + sqrt(1 − 1/r²) e_{s_i T}, r = c(i+1) − c(i) the
  axial distance (c = column − row of the box holding an entry); extended to all of S_n by a
  breadth-first search of the Cayley graph, R(g s_i) = R(g) R(s_i). Named by partition "[3,1]".
- C_n: "trivial", "sign" (n even, r^k ↦ (−1)^k), "freq{j}" (1 ≤ j < n/2): r^k ↦ rotation by
  2πjk/n, complex kind, complex_character e^{2πijk/n}.
- D_n: "trivial", "sign" (r ↦ 1, s ↦ −1), and for even n "alt" (r ↦ −1, s ↦ 1), "alt_sign"
  (r ↦ −1, s ↦ −1); "rho{j}" (1 ≤ j < n/2): r^k s^f ↦ rot(2πjk/n) diag(1, −1)^f. All real kind.
- Products G_1 × .. × G_k: Kronecker products of factor irreps, named "(a,b,..)". R ⊗ X stays
  irreducible of the kind of X; C ⊗ C splits into two inequivalent complex irreps (χ_a χ_b named
  "(a,b)" and χ_a χ̄_b named "(a,b*)"); C ⊗ H is two copies of one complex irrep, H ⊗ H four copies
  of one real irrep; those are split numerically (isotypic projector + a random symmetric element
  of the commutant).
- Everything else (A_n, Q8, perm: groups): complex characters by Burnside's algorithm (common
  eigenvectors of the class-multiplication matrices), then each real irrep is cut out of the
  regular representation: isotypic projector P[x,y] = Re Σ_χ (χ(1)/|G|) χ̄(x y^{-1}), then one
  copy = one eigenspace of a random symmetric element of the commutant (right multiplication),
  R(g) = B^T L(g) B. Named "d{dim}" (+ a letter when several irreps share a dimension).
Order: trivial first, then ascending real dimension, ties broken per family (partition order
[n] > .. for S_n, index order otherwise). All randomness is seeded: output is deterministic.
"""
from __future__ import annotations

import math
import string
from dataclasses import dataclass, field

import numpy as np

from fourier_circuits.algebra.groups import Group, parse_group

__all__ = [
    "Representation", "CharacterTable", "CharacterCondition", "irreps", "character_table",
    "real_irreps_all_real", "character_condition", "homomorphism_error", "orthogonality_error",
    "schur_orthogonality_error", "completeness_error", "validate_irreps",
]

_INDICATOR = {"real": 1, "complex": 0, "quaternionic": -1}


# ============================================================================ Representation

@dataclass(eq=False)
class Representation:
    """A real orthogonal representation g ↦ R(g) of a finite group G (R(g) R(g)^T = I, R(g) R(h) = R(gh)).

    Get them from `irreps(group)` rather than by hand. The representation's dimension is d = `dim`.

    Args:
        name: The irrep's name: a partition "[3,1]" for S_n, "freq1", "rho2", "d3a", ... (module docstring).
        matrices: (|G|, d, d) float64, matrices[g] = R(g) in the group's element order.
        kind: "real", "complex" or "quaternionic": the type over R, from the Frobenius–Schur indicator.
        complex_character: (|G|,) complex128, the character χ of one complex constituent of R ⊗ C.
        group: The group G.
    """

    name: str
    matrices: np.ndarray
    kind: str
    complex_character: np.ndarray
    group: Group = field(repr=False)
    _basis: np.ndarray | None = field(default=None, init=False, repr=False)

    @property
    def dim(self) -> int:
        return int(self.matrices.shape[1])

    @property
    def character(self) -> np.ndarray:
        """χ_R(g) = tr R(g), shape (|G|,)."""
        return np.einsum("gii->g", self.matrices)

    @property
    def indicator(self) -> int:
        """Frobenius–Schur indicator ν ∈ {1, 0, −1} of a complex constituent."""
        return _INDICATOR[self.kind]

    @property
    def complex_dim(self) -> int:
        """χ(1) of a complex constituent: d for real kind, d/2 otherwise."""
        return self.dim if self.kind == "real" else self.dim // 2

    @property
    def span_dim(self) -> int:
        """Real dimension of span{R(·)_ij}: d², d²/2 or d²/4 for real, complex, quaternionic kind."""
        return self.dim**2 // {"real": 1, "complex": 2, "quaternionic": 4}[self.kind]

    @property
    def is_trivial(self) -> bool:
        return self.dim == 1 and bool(np.allclose(self.matrices, 1.0))

    def matrix_elements(self) -> np.ndarray:
        """Orthonormal basis of span{g ↦ R(g)_ij} ⊂ R^G, shape (span_dim, |G|).

        Real kind: exactly the rows sqrt(d/|G|) R(·)_ij in (i, j) row-major order (Schur:
        ⟨R_ij, R_kl⟩ = (|G|/d) δ_ik δ_jl). Complex / quaternionic kind: the d² functions are
        linearly dependent, so an orthonormal basis of their span (from an SVD) is returned.

        Returns:
            (span_dim, |G|) float64 with orthonormal rows (computed once and cached).
        """
        if self._basis is None:
            N, d = self.matrices.shape[0], self.dim
            flat = self.matrices.reshape(N, d * d).T
            if self.kind == "real":
                self._basis = flat * math.sqrt(d / N)
            else:
                _, s, vt = np.linalg.svd(flat, full_matrices=False)
                r = self.span_dim
                assert s[r - 1] > 1e-6 * s[0] and (r == len(s) or s[r] < 1e-8 * s[0]), s
                self._basis = vt[:r]
        return self._basis

    def projector(self) -> np.ndarray:
        """The orthogonal projector P_R onto span{R(·)_ij} ⊂ R^G, used for the irrep power of a neuron
        (docs/theory.md §7): the power of u on R is ‖P_R u‖² / ‖u‖².

        Returns:
            (|G|, |G|) float64, symmetric and idempotent.
        """
        e = self.matrix_elements()
        return e.T @ e

    def as_torch(self, dtype=None):
        """The matrices R(g) as a torch tensor.

        Args:
            dtype: The torch dtype (default float64).

        Returns:
            (|G|, d, d) tensor.
        """
        import torch

        return torch.as_tensor(self.matrices, dtype=dtype or torch.float64)

    def __repr__(self) -> str:
        return f"Representation({self.name}, dim={self.dim}, kind={self.kind}, group={self.group.name})"


# ============================================================================ small helpers

def _extend(group: Group, gens: list[int], gen_mats: list[np.ndarray], d: int) -> np.ndarray:
    """Extend generator matrices to a homomorphism by BFS over the Cayley graph: R(g·s) = R(g) R(s)."""
    N = group.order
    R = np.zeros((N, d, d))
    R[0] = np.eye(d)
    seen = np.zeros(N, dtype=bool)
    seen[0] = True
    frontier = np.array([0])
    while frontier.size:
        new = []
        for s, M in zip(gens, gen_mats):
            nxt = group.table[frontier, s]
            mask = ~seen[nxt]
            tgt, first = np.unique(nxt[mask], return_index=True)
            R[tgt] = R[frontier[mask][first]] @ M
            seen[tgt] = True
            new.append(tgt)
        frontier = np.concatenate(new) if new else np.array([], dtype=np.int64)
    if not seen.all():
        raise ValueError(f"{group.name}: the generators do not generate the group")
    return R


def _kron(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise Kronecker product for the direct product (index = i_a |B| + i_b)."""
    na, da = a.shape[:2]
    nb, db = b.shape[:2]
    out = a[:, None, :, None, :, None] * b[None, :, None, :, None, :]
    return out.reshape(na * nb, da * db, da * db)


def _restrict(group: Group, B: np.ndarray) -> np.ndarray:
    """R(g) = B^T L(g) B for an orthonormal basis B (|G|, D) of an L-invariant subspace of R^G,
    with the left regular action (L(g) f)(x) = f(g^{-1} x)."""
    N, D = B.shape
    ginv_x = group.table[group.inverses]                 # [g, x] -> g^{-1} x
    out = np.empty((N, D, D))
    chunk = max(1, 4_000_000 // max(1, N * D))
    for s in range(0, N, chunk):
        out[s:s + chunk] = B.T @ B[ginv_x[s:s + chunk]]
    return out


def _one_copy(Q: np.ndarray, H: np.ndarray, D: int) -> np.ndarray | None:
    """Eigenvectors of the lowest eigenvalue cluster (size D) of the symmetric Q^T H Q, or None when
    the cluster is not separated (then the caller retries with another random H)."""
    w, V = np.linalg.eigh(Q.T @ H @ Q)
    scale = max(1.0, float(np.abs(w).max()))
    if D < len(w) and not (w[D - 1] - w[0] < 1e-7 * scale and w[D] - w[D - 1] > 1e-5 * scale):
        return None
    return Q @ V[:, :D]


def _orthogonal(mats: np.ndarray, tol: float = 1e-8) -> bool:
    d = mats.shape[1]
    return bool(np.abs(mats @ mats.transpose(0, 2, 1) - np.eye(d)).max() < tol)


def _letters(names: list[str]) -> list[str]:
    """Append a, b, c.. to names that occur more than once (_1, _2, .. beyond 26)."""
    counts = {n: names.count(n) for n in names}
    seen: dict[str, int] = {}
    out = []
    for n in names:
        if counts[n] > 1:
            i = seen.get(n, 0)
            seen[n] = i + 1
            out.append(n + string.ascii_lowercase[i] if counts[n] <= 26 else f"{n}_{i + 1}")
        else:
            out.append(n)
    return out


# ============================================================================ symmetric groups

def _partitions(n: int, largest: int | None = None) -> list[tuple[int, ...]]:
    """Partitions of n as non-increasing tuples."""
    largest = n if largest is None else largest
    if n == 0:
        return [()]
    return [(k,) + rest for k in range(min(n, largest), 0, -1) for rest in _partitions(n - k, k)]


def _standard_tableaux(shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Standard Young tableaux as row words (row of entry 0, 1, .., n−1), lexicographic order."""
    n = sum(shape)
    out: list[tuple[int, ...]] = []

    def place(word: list[int], lens: list[int]) -> None:
        if len(word) == n:
            out.append(tuple(word))
            return
        for r in range(len(shape)):
            if lens[r] < shape[r] and (r == 0 or lens[r - 1] > lens[r]):
                lens[r] += 1
                word.append(r)
                place(word, lens)
                word.pop()
                lens[r] -= 1

    place([], [0] * len(shape))
    return out


def young_generators(shape: tuple[int, ...]) -> list[np.ndarray]:
    """Young's orthogonal form of the adjacent transpositions s_0..s_{n−2} (s_i swaps i, i+1)."""
    tabs = _standard_tableaux(shape)
    index = {t: k for k, t in enumerate(tabs)}
    n, d = sum(shape), len(tabs)
    contents = []
    for word in tabs:
        col, counts = [], [0] * len(shape)
        for r in word:
            col.append(counts[r])
            counts[r] += 1
        contents.append([c - r for c, r in zip(col, word)])
    gens = []
    for i in range(n - 1):
        M = np.zeros((d, d))
        for k, word in enumerate(tabs):
            r = contents[k][i + 1] - contents[k][i]
            M[k, k] = 1.0 / r
            if abs(r) > 1:
                w = list(word)
                w[i], w[i + 1] = w[i + 1], w[i]
                M[index[tuple(w)], k] = math.sqrt(1.0 - 1.0 / r**2)
        gens.append(M)
    return gens


def _symmetric_irreps(group: Group) -> list[Representation]:
    n = group.n
    swaps = []
    for i in range(n - 1):
        p = list(range(n))
        p[i], p[i + 1] = p[i + 1], p[i]
        swaps.append(group.index(tuple(p)))
    out = []
    for shape in _partitions(n):
        gens = young_generators(shape)
        d = len(_standard_tableaux(shape))
        R = _extend(group, swaps, gens, d)
        chi = np.rint(np.einsum("gii->g", R)).astype(complex)
        out.append(Representation("[" + ",".join(map(str, shape)) + "]", R, "real", chi, group))
    order = sorted(range(len(out)), key=lambda k: (out[k].dim, [-x for x in _partitions(n)[k]]))
    return [out[k] for k in order]


# ============================================================================ cyclic, dihedral

def _rot(theta: np.ndarray) -> np.ndarray:
    c, s = np.cos(theta), np.sin(theta)
    return np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)


def _cyclic_irreps(group: Group) -> list[Representation]:
    n = group.n
    k = np.arange(n)
    out = [Representation("trivial", np.ones((n, 1, 1)), "real", np.ones(n, complex), group)]
    if n % 2 == 0:
        sign = (-1.0) ** k
        out.append(Representation("sign", sign[:, None, None], "real", sign.astype(complex), group))
    for j in range(1, (n + 1) // 2):
        theta = 2 * np.pi * j * k / n
        out.append(Representation(f"freq{j}", _rot(theta), "complex", np.exp(1j * theta), group))
    return out


def _dihedral_irreps(group: Group) -> list[Representation]:
    n = group.n
    idx = np.arange(2 * n)
    k, f = idx % n, idx // n
    ones = [("trivial", 1, 1), ("sign", 1, -1)] + ([("alt", -1, 1), ("alt_sign", -1, -1)] if n % 2 == 0 else [])
    out = []
    for name, a, b in ones:
        chi = (float(a) ** k) * (float(b) ** f)
        out.append(Representation(name, chi[:, None, None], "real", chi.astype(complex), group))
    refl = np.where(f[:, None, None] == 1, np.diag([1.0, -1.0]), np.eye(2))
    for j in range(1, (n + 1) // 2):
        R = _rot(2 * np.pi * j * k / n) @ refl
        out.append(Representation(f"rho{j}", R, "real", np.einsum("gii->g", R).astype(complex), group))
    return out


# ============================================================================ general groups

def _burnside_characters(group: Group, rng: np.random.Generator) -> np.ndarray:
    """Complex irreducible characters, (n_irreps, n_classes), by Burnside's algorithm.

    With class sums C_i C_j = Σ_k a_ijk C_k (a_ijk = #{x ∈ C_i : x^{-1} z_k ∈ C_j}, z_k ∈ C_k), the
    central characters ω_χ(C_i) = |C_i| χ(C_i)/χ(1) satisfy Σ_k a_ijk ω_k = ω_i ω_j: ω is a common
    eigenvector of all A_i = (a_ijk)_jk. Diagonalize a random combination Σ r_i A_i, scale ω_e = 1,
    then χ(1)² Σ_i |ω_i|²/|C_i| = |G| fixes the degree.
    """
    N, cls = group.order, group.class_of
    reps, sizes = group.class_representatives, group.class_sizes
    k = len(reps)
    Y = group.table[group.inverses[:, None], reps[None, :]]          # x^{-1} z_k, (N, k)
    flat = (cls[Y] * k + np.arange(k)[None, :]).ravel()
    for _ in range(8):
        r = rng.standard_normal(k)
        M = np.bincount(flat, weights=np.repeat(r[cls], k), minlength=k * k).reshape(k, k)
        _, V = np.linalg.eig(M)
        omega = V / V[0]
        deg = np.sqrt(N / (np.abs(omega) ** 2 / sizes[:, None]).sum(axis=0))
        if np.abs(deg - np.rint(deg)).max() > 1e-6:
            continue
        chars = (np.rint(deg) * omega / sizes[:, None]).T
        gram = (chars * sizes) @ chars.conj().T
        if np.abs(gram - N * np.eye(k)).max() < 1e-6 * N:
            chars[np.abs(chars.imag) < 1e-12] = chars[np.abs(chars.imag) < 1e-12].real
            chars[:, 0] = np.rint(deg)
            return chars
    raise RuntimeError(f"{group.name}: Burnside's algorithm did not converge")


def _indicators(group: Group, elem_chars: np.ndarray) -> np.ndarray:
    """ν(χ) = (1/|G|) Σ_g χ(g²) for each row of (n, |G|) element-level characters."""
    ar = np.arange(group.order)
    nu = elem_chars[:, group.table[ar, ar]].real.mean(axis=1)
    out = np.rint(nu).astype(int)
    if np.abs(nu - out).max() > 1e-6:
        raise RuntimeError(f"{group.name}: non-integral Frobenius–Schur indicator {nu}")
    return out


def _cut_from_regular(group: Group, orbits: list[list[np.ndarray]], dims: list[int], keys: list[int],
                      rng: np.random.Generator) -> dict[int, np.ndarray]:
    """One copy of each real irrep (given by its orbit of element-level complex characters) inside the
    left regular representation (L(g) f)(x) = f(g^{-1} x), with a single eigendecomposition of

        K = T + Σ_q 3(q+1) P_q,   P_q[x,y] = Re Σ_{χ∈orbit q} (χ(1)/|G|) χ̄(x y^{-1}),

    P_q the isotypic projectors (central, mutually orthogonal) and T[y,x] = a(y^{-1}x) right
    multiplication by a random symmetric a (a(h) = a(h^{-1}), Σ|a| = 1, so ‖T‖ ≤ 1), which commutes
    with L. On the isotypic component W_q, K = 3(q+1) + T, whose eigenspaces are single irreducible
    copies (the commutant of W_q is M_m(R), M_m(C) or M_m(H); a generic symmetric element of it has
    m distinct eigenvalues). The lowest cluster of dim_R eigenvectors in the window of W_q gives an
    orthonormal basis B of one copy, and R(g) = B^T L(g) B.
    """
    N = group.order
    xy = group.table[:, group.inverses]                               # [x, y] -> x y^{-1}
    central = np.zeros((N, N))
    ranks = []
    for q, orb in enumerate(orbits):
        central += 3.0 * (q + 1) * sum((chi[0].real / N) * chi.conj()[xy] for chi in orb).real
        ranks.append(sum(int(round(chi[0].real)) ** 2 for chi in orb))
    for _ in range(8):
        a = rng.standard_normal(N)
        a = a + a[group.inverses]
        a /= np.abs(a).sum()
        w, V = np.linalg.eigh(central + a[group.table[group.inverses]])
        result = {}
        for q, (D, rank) in enumerate(zip(dims, ranks)):
            idx = np.flatnonzero(np.abs(w - 3.0 * (q + 1)) < 1.5)
            if len(idx) != rank:
                break
            if len(idx) > D and not (w[idx[D - 1]] - w[idx[0]] < 1e-9 and w[idx[D]] - w[idx[D - 1]] > 1e-6):
                break
            mats = _restrict(group, V[:, idx[:D]])
            if not _orthogonal(mats):
                break
            result[keys[q]] = mats
        else:
            return result
    raise RuntimeError(f"{group.name}: could not split the regular representation")


def _generic_irreps(group: Group) -> list[Representation]:
    rng = np.random.default_rng(0)
    chars = _burnside_characters(group, rng)
    elem = chars[:, group.class_of]
    nu = _indicators(group, elem)
    orbits, used = [], set()
    for i in range(len(chars)):
        if i in used:
            continue
        if nu[i] != 0:
            orbits.append([i])
            used.add(i)
            continue
        j = int(np.argmin(np.abs(chars - chars[i].conj()).sum(axis=1)))
        nonreal = np.flatnonzero(np.abs(chars[i].imag) > 1e-9)
        first, second = (i, j) if chars[i, nonreal[0]].imag > 0 else (j, i)
        orbits.append([first, second])
        used.update((i, j))

    def info(orb):
        chi = chars[orb[0]]
        kind = {1: "real", 0: "complex", -1: "quaternionic"}[int(nu[orb[0]])]
        D = int(round(chi[0].real)) * (1 if kind == "real" else 2)
        psi = sum(chars[o] for o in orb).real * (2 if kind == "quaternionic" else 1)
        trivial = bool(np.allclose(chi, 1))
        return (not trivial, D, tuple(np.round(-psi, 6) + 0.0)), kind, D

    orbits.sort(key=lambda o: info(o)[0])
    mats_of: dict[int, np.ndarray] = {}
    need = []
    for q, orb in enumerate(orbits):
        chi, kind = elem[orb[0]], info(orb)[1]
        if chi[0].real == 1 and kind == "real":
            mats_of[q] = chi.real[:, None, None].copy()
        elif chi[0].real == 1 and kind == "complex":
            mats_of[q] = _rot(np.angle(chi))
        else:
            need.append(q)
    if need:
        mats_of.update(_cut_from_regular(group, [[elem[o] for o in orbits[q]] for q in need],
                                         [info(orbits[q])[2] for q in need], need, rng))
    out = [(info(orb)[1], mats_of[q], elem[orb[0]].astype(complex)) for q, orb in enumerate(orbits)]
    dims = [m.shape[1] for _, m, _ in out]
    names = ["trivial"] + _letters([f"d{d}" for d in dims[1:]])
    return [Representation(nm, m, kind, chi, group) for nm, (kind, m, chi) in zip(names, out)]


# ============================================================================ direct products

def _split(mats: np.ndarray, orbit: list[np.ndarray], D: int, rng: np.random.Generator) -> np.ndarray:
    """One irreducible copy (dim D) of the isotypic component of `orbit` (element-level complex
    characters) inside the orthogonal representation `mats`, returned as its matrices."""
    N = len(mats)
    P = sum((chi[0].real / N) * np.einsum("g,gij->ij", chi.conj(), mats) for chi in orbit).real
    w, V = np.linalg.eigh((P + P.T) / 2)
    Q = V[:, w > 0.5]
    if Q.shape[1] == D:
        B = Q
    else:
        for _ in range(8):
            X = rng.standard_normal((mats.shape[1],) * 2)
            H = np.einsum("gab,bc,gdc->ad", mats, X + X.T, mats) / N     # in the commutant
            B = _one_copy(Q, H, D)
            if B is not None:
                break
        else:
            raise RuntimeError("could not split a Kronecker product")
    return B.T @ mats @ B


def _product_irreps(group: Group) -> list[Representation]:
    rng = np.random.default_rng(0)
    lists = [irreps(f) for f in group.factors]
    # items: (sort key, name parts, kind, matrices, complex character)
    items = [((i,), [r.name], r.kind, r.matrices, r.complex_character) for i, r in enumerate(lists[0])]
    for reps in lists[1:]:
        new = []
        for key, parts, ka, ma, ca in items:
            for j, rb in enumerate(reps):
                kb, mats, D = rb.kind, _kron(ma, rb.matrices), ma.shape[1] * rb.dim
                chi = np.outer(ca, rb.complex_character).ravel()
                if ka == "real" or kb == "real":
                    kind = kb if ka == "real" else ka
                    pieces = [(kind, mats, chi, "")]
                elif ka == "complex" and kb == "complex":
                    chi2 = np.outer(ca, rb.complex_character.conj()).ravel()
                    pieces = [("complex", _split(mats, [c, c.conj()], D // 2, rng), c, s)
                              for c, s in ((chi, ""), (chi2, "*"))]
                elif ka == "quaternionic" and kb == "quaternionic":
                    pieces = [("real", _split(mats, [chi], D // 4, rng), chi, "")]
                else:  # complex ⊗ quaternionic
                    pieces = [("complex", _split(mats, [chi, chi.conj()], D // 2, rng), chi, "")]
                for p, (kind, m, c, star) in enumerate(pieces):
                    new.append((key + (j, p), parts + [rb.name + star], kind, m, c))
        items = new
    items.sort(key=lambda it: (it[3].shape[1], it[0]))
    out = []
    for key, parts, kind, m, c in items:
        name = "trivial" if m.shape[1] == 1 and np.allclose(m, 1) else "(" + ",".join(parts) + ")"
        out.append(Representation(name, m, kind, c, group))
    return out


# ============================================================================ public API

def _as_group(group: Group | str) -> Group:
    return parse_group(group) if isinstance(group, str) else group


def irreps(group: Group | str) -> list[Representation]:
    """The real orthogonal irreducible representations of a finite group G (cached on the group).

    Each real irrep has a kind (real, complex or quaternionic); for the all-real groups ([MO] Theorem 9's
    setting) Σ_R d_R² = |G|. Names and constructions: the module docstring of
    `fourier_circuits.algebra.representations`.

    Args:
        group: A `Group` or a spec string such as "S4" (see `parse_group`).

    Returns:
        A list of `Representation`, the trivial irrep first, then by ascending real dimension d_R.

    Raises:
        TaskError: If `group` is a spec string that does not parse.
    """
    group = _as_group(group)
    build = {"symmetric": _symmetric_irreps, "cyclic": _cyclic_irreps,
             "dihedral": _dihedral_irreps, "product": _product_irreps}.get(group.family, _generic_irreps)
    return list(group.derived("irreps", build))


@dataclass(eq=False)
class CharacterTable:
    """Complex irreducible characters of `group`.

    values: (n_irreps, n_classes) complex128, **rows = complex irreps, columns = conjugacy classes**
    in `group.conjugacy_classes` order. Rows follow `irreps(group)`: each real irrep contributes its
    constituent χ (real / quaternionic kind) or χ then χ̄ (complex kind, names `name`, `name*`);
    real_index[i] is the position in irreps(group) of the real irrep containing row i.
    """

    group: Group
    names: list[str]
    values: np.ndarray
    indicators: np.ndarray
    real_index: np.ndarray

    @property
    def dims(self) -> np.ndarray:
        return np.rint(self.values[:, 0].real).astype(int)

    @property
    def kinds(self) -> list[str]:
        return [{1: "real", 0: "complex", -1: "quaternionic"}[int(v)] for v in self.indicators]

    @property
    def class_sizes(self) -> np.ndarray:
        return self.group.class_sizes

    def orthogonality_error(self) -> float:
        """Max deviation from Σ_C |C| χ_i(C) χ̄_j(C) = |G| δ_ij (rows) and
        Σ_χ χ(C_i) χ̄(C_j) = (|G|/|C_i|) δ_ij (columns)."""
        N, X, s = self.group.order, self.values, self.class_sizes
        rows = np.abs((X * s) @ X.conj().T - N * np.eye(len(X))).max()
        cols = np.abs(X.T @ X.conj() - np.diag(N / s)).max()
        return float(max(rows, cols))


def character_table(group: Group | str) -> CharacterTable:
    """The complex character table χ_n(C) of a finite group, derived from `irreps(group)` (fast for S6:
    Young's orthogonal form).

    Args:
        group: A `Group` or a spec string such as "S4" (see `parse_group`).

    Returns:
        A `CharacterTable`: `values` (n_irreps, n_classes) complex128 with rows the complex irreps (in the
        order of `irreps(group)`, χ then χ̄ for a complex pair) and columns the conjugacy classes; also
        `names`, `indicators`, `dims`, `kinds`, `class_sizes` and `real_index` (row → real irrep).

    Raises:
        TaskError: If `group` is a spec string that does not parse.
    """
    return _as_group(group).derived("chartable", _build_character_table)


def _build_character_table(group: Group) -> CharacterTable:
    reps = group.class_representatives
    names, rows, index = [], [], []
    for q, r in enumerate(irreps(group)):
        chi = r.complex_character[reps]
        names.append(r.name)
        rows.append(chi)
        index.append(q)
        if r.kind == "complex":
            names.append(r.name + "*")
            rows.append(chi.conj())
            index.append(q)
    values = np.array(rows, dtype=complex)
    ind = _indicators(group, values[:, group.class_of])
    return CharacterTable(group, names, values, ind, np.array(index))


def real_irreps_all_real(group: Group | str) -> bool:
    """True iff every irrep is of real kind (ν = 1), i.e. complex irreps = real irreps."""
    group = _as_group(group)
    return all(r.kind == "real" for r in irreps(group))


@dataclass(frozen=True)
class CharacterCondition:
    """[MO] Theorem 9 hypotheses: all irreps real and, for every non-identity class C,
    S(C) = Σ_{non-trivial irreps n} d_n^{1.5} χ_n(C) < 0.

    sums: S(C) for every class (entry 0, the identity class, is Σ d_n^{2.5}); computed over the
    complex irreps (real part), so it is defined even when not all irreps are real.
    """

    group_name: str
    all_real: bool
    sums: np.ndarray
    failing_classes: list[int]

    @property
    def holds(self) -> bool:
        return self.all_real and not self.failing_classes


def character_condition(group: Group | str, tol: float = 1e-9) -> CharacterCondition:
    """Evaluate the [MO] Theorem 9 condition; failing_classes are class indices with S(C) ≥ −tol."""
    group = _as_group(group)
    ct = character_table(group)
    d = ct.dims.astype(float)
    nontrivial = np.array([not np.allclose(row, 1) for row in ct.values])
    sums = (d[nontrivial, None] ** 1.5 * ct.values[nontrivial].real).sum(axis=0)
    failing = [c for c in range(1, len(sums)) if sums[c] >= -tol]
    return CharacterCondition(group.name, real_irreps_all_real(group), sums, failing)


# ============================================================================ validation

def homomorphism_error(rep: Representation) -> float:
    """max_{g,h} |R(g) R(h) − R(gh)|, chunked over g."""
    R, t = rep.matrices, rep.group.table
    N, d = R.shape[:2]
    chunk = max(1, 2_000_000 // max(1, N * d * d))
    err = 0.0
    for s in range(0, N, chunk):
        prod = np.einsum("aij,bjk->abik", R[s:s + chunk], R)
        err = max(err, float(np.abs(prod - R[t[s:s + chunk]]).max()))
    return err


def orthogonality_error(rep: Representation) -> float:
    """max_g |R(g) R(g)^T − I|."""
    R = rep.matrices
    return float(np.abs(R @ R.transpose(0, 2, 1) - np.eye(rep.dim)).max())


def schur_orthogonality_error(reps: list[Representation]) -> float:
    """Schur orthogonality of the scaled matrix elements sqrt(d/|G|) R(·)_ij.

    Holds for every kind: elements of inequivalent irreps are orthogonal. Within a real-kind irrep
    the Gram matrix is the identity (⟨R_ij, R_kl⟩ = (|G|/d) δ_ik δ_jl). Within a complex or
    quaternionic real form it is not (the commutant is C or H, not R); only its trace, d², is fixed.
    """
    N = reps[0].group.order
    blocks = [r.matrices.reshape(N, -1).T * math.sqrt(r.dim / N) for r in reps]
    E = np.concatenate(blocks)
    G = E @ E.T
    expected = np.zeros_like(G)
    mask = np.ones_like(G, dtype=bool)
    o = 0
    for r, b in zip(reps, blocks):
        n = len(b)
        if r.kind == "real":
            expected[o:o + n, o:o + n] = np.eye(n)
        else:
            mask[o:o + n, o:o + n] = False
            expected[o, o] = G[o, o]  # unused (masked)
        o += n
    err = float(np.abs((G - expected)[mask]).max())
    o = 0
    for r, b in zip(reps, blocks):  # block traces = d² for every kind
        n = len(b)
        err = max(err, abs(float(np.trace(G[o:o + n, o:o + n])) - r.dim**2))
        o += n
    return err


def completeness_error(reps: list[Representation]) -> float:
    """max |Σ_R P_R − I| plus |Σ_R span_dim − |G||: the matrix-element spans tile R^G."""
    N = reps[0].group.order
    total = sum(r.projector() for r in reps)
    return float(np.abs(total - np.eye(N)).max()) + abs(sum(r.span_dim for r in reps) - N)


def validate_irreps(group: Group) -> dict[str, float]:
    """All checks for irreps(group) and character_table(group) as max errors (0 = exact)."""
    reps = irreps(group)
    ct = character_table(group)
    ind_err = max(abs(_indicators(group, r.complex_character[None])[0] - r.indicator) for r in reps)
    char_err = max(float(np.abs(r.character - _real_character(r)).max()) for r in reps)
    return {
        "homomorphism": max(homomorphism_error(r) for r in reps),
        "orthogonality": max(orthogonality_error(r) for r in reps),
        "schur": schur_orthogonality_error(reps),
        "completeness": completeness_error(reps),
        "sum_d2": float(abs((ct.dims**2).sum() - group.order)),
        "character_table": ct.orthogonality_error(),
        "indicator": float(ind_err),
        "character": char_err,
    }


def _real_character(r: Representation) -> np.ndarray:
    """The character of R predicted from its complex constituent: χ, 2 Re χ, or 2χ."""
    chi = r.complex_character
    return chi.real if r.kind == "real" else 2 * chi.real
