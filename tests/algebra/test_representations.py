"""Real orthogonal irreps, complex character tables and the [MO] Theorem 9 character condition."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fourier_circuits.algebra.groups import parse_group
from fourier_circuits.algebra.representations import (
    character_condition,
    character_table,
    irreps,
    real_irreps_all_real,
    validate_irreps,
)

SPECS = [
    "C1", "C2", "C5", "C12", "D3", "D4", "D5", "D6", "S1", "S2", "S3", "S4", "S5", "A4", "A5", "Q8",
    "C2xC2", "C2xS3", "C3xC3",
    "perm:(0 1 2)(3 4),(0 1)",                     # S3 x C2 on 5 points
    "perm:(0 1 2 3 4 5 6),(1 2 4)(3 6 5)",         # Frobenius group F21: complex 3-dim irreps
    "perm:(0 1 2 3)(4 5 6 7),(0 4 2 6)(1 7 3 5)",  # Q8 (regular action), through the generic path
    "C4xC6", "A4xC3", "C2xC2xC3",                  # complex x complex splits
    "Q8xC3", "Q8xQ8", "D4xQ8",                     # quaternionic x complex / quaternionic
]
TOL = 1e-9


@pytest.mark.parametrize("spec", SPECS)
def test_validations(spec):
    """Homomorphism, orthogonality, Schur, completeness, Σd² = |G|, character-table orthogonality,
    Frobenius–Schur indicator vs kind, character vs complex constituent."""
    errors = validate_irreps(parse_group(spec))
    assert all(v < TOL for v in errors.values()), errors


@pytest.mark.parametrize("spec", SPECS)
def test_structure(spec):
    g = parse_group(spec)
    reps = irreps(g)
    assert reps[0].is_trivial and reps[0].name in ("trivial", f"[{g.n}]")
    assert not any(r.is_trivial for r in reps[1:])
    assert [r.dim for r in reps[1:]] == sorted(r.dim for r in reps[1:])
    assert len({r.name for r in reps}) == len(reps)
    ct = character_table(g)
    assert ct.values.shape == (len(g.conjugacy_classes),) * 2
    assert sum(r.span_dim for r in reps) == g.order
    assert (ct.dims ** 2).sum() == g.order
    for r in reps:
        assert r.matrices.dtype == np.float64 and r.matrices.shape == (g.order, r.dim, r.dim)
        rows = [i for i, q in enumerate(ct.real_index) if reps[q] is r]
        assert len(rows) == (2 if r.kind == "complex" else 1)
        assert all(ct.kinds[i] == r.kind for i in rows)
        e = r.matrix_elements()
        assert e.shape == (r.span_dim, g.order)
        assert np.allclose(e @ e.T, np.eye(r.span_dim), atol=TOL)
        P = r.projector()
        assert np.allclose(P, P.T) and np.allclose(P @ P, P, atol=TOL)
        # the span of the matrix elements is exactly span{R_ij}
        flat = r.matrices.reshape(g.order, -1).T
        assert np.allclose(flat @ P, flat, atol=1e-8)


@pytest.mark.parametrize("spec,dims", [
    ("S1", [1]), ("S2", [1, 1]), ("S3", [1, 1, 2]), ("S4", [1, 1, 2, 3, 3]), ("S5", [1, 1, 4, 4, 5, 5, 6]),
    ("D3", [1, 1, 2]), ("D4", [1, 1, 1, 1, 2]), ("D5", [1, 1, 2, 2]), ("A4", [1, 2, 3]),
    ("A5", [1, 3, 3, 4, 5]), ("Q8", [1, 1, 1, 1, 4]), ("C5", [1, 2, 2]), ("C12", [1, 1, 2, 2, 2, 2, 2]),
])
def test_real_dims(spec, dims):
    assert [r.dim for r in irreps(parse_group(spec))] == dims


def test_symmetric_names_and_characters():
    g = parse_group("S4")
    reps = {r.name: r for r in irreps(g)}
    assert list(reps) == ["[4]", "[1,1,1,1]", "[2,2]", "[3,1]", "[2,1,1]"]
    perms = np.array(g.elements)
    fixed = (perms == np.arange(4)).sum(axis=1)
    assert np.allclose(reps["[3,1]"].character, fixed - 1)           # standard = fixed points − 1
    inversions = np.array([sum(p[i] > p[j] for i in range(4) for j in range(i + 1, 4)) for p in g.elements])
    assert np.allclose(reps["[1,1,1,1]"].character, (-1.0) ** inversions)
    assert np.allclose(reps["[2,1,1]"].character, reps["[3,1]"].character * (-1.0) ** inversions)


def test_young_orthogonal_form_on_adjacent_transpositions():
    """s_i acts with diagonal 1/r (r the axial distance) and is symmetric: R(s_i) = R(s_i)^T."""
    g = parse_group("S5")
    rep = next(r for r in irreps(g) if r.name == "[3,2]")
    s0 = g.index((1, 0, 2, 3, 4))
    M = rep.matrices[s0]
    assert np.allclose(M, M.T) and np.allclose(M @ M, np.eye(5))
    assert set(np.round(np.diag(M), 12)) <= {1.0, -1.0, 0.5, -0.5, round(1 / 3, 12), round(-1 / 3, 12)}


def test_cyclic_and_dihedral_explicit_forms():
    g = parse_group("C5")
    reps = irreps(g)
    assert [r.name for r in reps] == ["trivial", "freq1", "freq2"]
    assert [r.kind for r in reps] == ["real", "complex", "complex"]
    th = 2 * np.pi * 2 * 3 / 5
    assert np.allclose(reps[2].matrices[3], [[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    ct = character_table(g)
    assert ct.names == ["trivial", "freq1", "freq1*", "freq2", "freq2*"]
    assert list(ct.indicators) == [1, 0, 0, 0, 0]
    assert not real_irreps_all_real(g)
    d6 = parse_group("D6")
    assert [r.name for r in irreps(d6)] == ["trivial", "sign", "alt", "alt_sign", "rho1", "rho2"]
    assert real_irreps_all_real(d6)


def test_quaternion_group_kinds():
    for spec in ("Q8", "perm:(0 1 2 3)(4 5 6 7),(0 4 2 6)(1 7 3 5)"):
        g = parse_group(spec)
        ct = character_table(g)
        assert sorted(ct.indicators.tolist()) == [-1, 1, 1, 1, 1]
        assert list(ct.dims) == [1, 1, 1, 1, 2]
        quat = [r for r in irreps(g) if r.kind == "quaternionic"]
        assert len(quat) == 1 and quat[0].dim == 4 and quat[0].span_dim == 4
        assert not real_irreps_all_real(g)


def test_product_kinds_and_names():
    g = parse_group("C3xC3")
    assert [r.name for r in irreps(g)] == ["trivial", "(trivial,freq1)", "(freq1,trivial)",
                                           "(freq1,freq1)", "(freq1,freq1*)"]
    reps = {r.name: r for r in irreps(g)}
    a, b = np.divmod(np.arange(9), 3)
    assert np.allclose(reps["(freq1,freq1*)"].character, 2 * np.cos(2 * np.pi * (a - b) / 3))
    kinds = {r.name: r.kind for r in irreps(parse_group("Q8xQ8"))}
    assert kinds["(d4,d4)"] == "real" and kinds["(d4,trivial)"] == "quaternionic"
    kinds = {r.name: (r.kind, r.dim) for r in irreps(parse_group("Q8xC3"))}
    assert kinds["(d4,freq1)"] == ("complex", 4)
    assert [r.name for r in irreps(parse_group("C2xC2"))] == ["trivial", "(trivial,sign)", "(sign,trivial)",
                                                               "(sign,sign)"]


@pytest.mark.parametrize("spec,expected", [
    ("S3", True), ("S4", True), ("S5", True), ("D3", True), ("D4", True), ("D5", True), ("D6", True),
    ("C5", False), ("Q8", False), ("A4", False),
])
def test_character_condition(spec, expected):
    assert character_condition(parse_group(spec)).holds is expected


def test_character_condition_fails_for_s6():
    g = parse_group("S6")
    ct = character_table(g)
    assert ct.values.shape == (11, 11) and ct.orthogonality_error() < 1e-9
    assert np.allclose(ct.values.imag, 0) and np.allclose(ct.values, np.rint(ct.values.real))
    cond = character_condition(g)
    assert cond.all_real and not cond.holds
    cycle_types = [sorted((len(c) for c in _cycles(g.elements[g.conjugacy_classes[i][0]])), reverse=True)
                   for i in cond.failing_classes]
    assert sorted(cycle_types) == [[4, 2], [5, 1]]
    five = cond.failing_classes[[t[0] for t in cycle_types].index(5)]
    assert np.isclose(cond.sums[five], 11.0)


def _cycles(p):
    seen, out = set(), []
    for s in range(len(p)):
        if s not in seen:
            c, x = [], s
            while x not in seen:
                seen.add(x)
                c.append(x)
                x = p[x]
            out.append(c)
    return out


def test_s5_character_sums_match_hand_values():
    cond = character_condition(parse_group("S5"))
    assert np.isclose(cond.sums[0], sum(d**2.5 for d in [1, 4, 4, 5, 5, 6]))
    assert (cond.sums[1:] < 0).all()


def test_deterministic():
    for spec in ("A4", "S4", "C3xC3", "Q8xC3"):
        g = parse_group(spec)
        first = [r.matrices.copy() for r in irreps(g)]
        g._derived.clear()
        second = [r.matrices for r in irreps(g)]
        assert all(np.array_equal(a, b) for a, b in zip(first, second))


def test_spec_strings_accepted():
    assert [r.name for r in irreps("S3")] == ["[3]", "[1,1,1]", "[2,1]"]
    assert character_condition("S4").holds and real_irreps_all_real("D5")
    assert character_table("C2").names == ["trivial", "sign"]


def test_as_torch():
    import torch

    rep = irreps(parse_group("S3"))[2]
    t = rep.as_torch()
    assert t.dtype == torch.float64 and t.shape == (6, 2, 2)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.permutations(list(range(5))), min_size=1, max_size=2))
def test_random_permutation_groups(gens):
    spec = "perm:" + ",".join("[" + ",".join(map(str, p)) + "]" for p in gens)
    g = parse_group(spec)
    errors = validate_irreps(g)
    assert all(v < 1e-8 for v in errors.values()), (spec, errors)
