"""Groups from spec strings: axioms, conventions, conjugacy classes, bad specs."""
import itertools
import math

import numpy as np
import pytest

from fourier_circuits.algebra.groups import MAX_ORDER, buildable_specs, cycle_notation, parse_group
from fourier_circuits.errors import TaskError

ORDERS = {
    "C1": 1, "C2": 2, "C5": 5, "C12": 12, "D3": 6, "D4": 8, "D5": 10, "D6": 12,
    "S1": 1, "S2": 2, "S3": 6, "S4": 24, "S5": 120, "A1": 1, "A2": 1, "A3": 3, "A4": 12, "A5": 60,
    "Q8": 8, "C2xC2": 4, "C2xS3": 12, "C3xC3": 9, "C2xC2xC3": 12, "Q8xC3": 24,
    "perm:(0 1 2)(3 4),(0 1)": 12, "perm:(0 1 2 3 4 5 6),(1 2 4)(3 6 5)": 21, "perm:[1,2,0]": 3,
}
N_CLASSES = {"S3": 3, "S4": 5, "S5": 7, "A4": 4, "A5": 5, "Q8": 5, "D4": 5, "D5": 4, "D6": 6, "C12": 12}


@pytest.mark.parametrize("spec", list(ORDERS))
def test_group_axioms(spec):
    g = parse_group(spec)
    N = g.order
    assert N == ORDERS[spec] == len(g.labels) == len(set(g.elements))
    t = g.table
    assert t.dtype == np.int64 and t.shape == (N, N)
    ar = np.arange(N)
    # identity is index 0, Latin square, associativity (vectorized over all triples)
    assert g.identity == 0 and (t[0] == ar).all() and (t[:, 0] == ar).all()
    assert (np.sort(t, axis=1) == ar).all() and (np.sort(t, axis=0) == ar[:, None]).all()
    lhs = t[t[:, :, None], ar[None, None, :]]           # (a·b)·c
    rhs = t[ar[:, None, None], t[None, :, :]]           # a·(b·c)
    assert (lhs == rhs).all()
    # inverses and element orders
    assert (t[ar, g.inverses] == 0).all() and (t[g.inverses, ar] == 0).all()
    assert (N % g.element_order == 0).all()
    power = ar.copy()
    for k in range(1, g.element_order.max() + 1):
        hit = power == 0
        assert (hit[g.element_order == k]).all()
        assert not hit[g.element_order > k].any()
        power = t[power, ar]
    # conjugacy classes: a partition, identity first, closed under conjugation, sizes divide |G|
    classes = g.conjugacy_classes
    assert classes[0] == [0]
    assert sorted(itertools.chain(*classes)) == list(range(N))
    assert [c[0] for c in classes] == sorted(c[0] for c in classes)
    for c, members in enumerate(classes):
        assert N % len(members) == 0
        conj = t[t[ar, members[0]], g.inverses]          # g x g^{-1}
        assert set(conj.tolist()) == set(members)
        assert (g.class_of[members] == c).all()


@pytest.mark.parametrize("spec,k", list(N_CLASSES.items()))
def test_class_counts(spec, k):
    assert len(parse_group(spec).conjugacy_classes) == k


def test_cyclic_is_addition_mod_n():
    g = parse_group("C12")
    k = np.arange(12)
    assert g.elements == list(range(12))
    assert (g.table == (k[:, None] + k[None, :]) % 12).all()


def test_dihedral_conventions():
    n = 5
    g = parse_group(f"D{n}")
    assert g.elements[:n] == [(k, 0) for k in range(n)] and g.elements[n:] == [(k, 1) for k in range(n)]
    r, s = g.index((1, 0)), g.index((0, 1))
    assert g.element_order[r] == n and g.element_order[s] == 2
    assert g.multiply(g.multiply(s, r), s) == g.inverses[r]          # s r s = r^{-1}
    assert g.index((2, 1)) == g.multiply(g.multiply(r, r), s)         # (k, 1) = r^k s
    assert g.labels[:3] == ["e", "r", "r^2"] and g.labels[n + 1] == "r s"


def test_symmetric_order_and_composition():
    g = parse_group("S4")
    assert g.elements == list(itertools.permutations(range(4)))     # lexicographic
    for a, b in [(5, 17), (3, 22), (11, 11)]:
        pa, pb = g.elements[a], g.elements[b]
        assert g.elements[g.table[a, b]] == tuple(pa[pb[x]] for x in range(4))   # b acts first
    assert cycle_notation((1, 2, 0, 4, 3)) == "(0 1 2)(3 4)" and cycle_notation((0, 1)) == "()"


def test_alternating_is_even_permutations():
    g = parse_group("A5")
    s5 = parse_group("S5")
    assert set(g.elements) <= set(s5.elements)
    assert sorted(g.elements) == g.elements
    assert np.bincount(g.element_order, minlength=6).tolist() == [0, 1, 15, 20, 0, 24]


def test_quaternion_relations():
    g = parse_group("Q8")
    i, j, k, m1 = (g.index(x) for x in ("i", "j", "k", "-1"))
    assert g.multiply(i, i) == g.multiply(j, j) == g.multiply(k, k) == m1
    assert g.multiply(g.multiply(i, j), k) == m1
    assert g.multiply(i, j) == k and g.multiply(j, i) == g.index("-k")
    assert not g.is_abelian
    assert sorted(len(c) for c in g.conjugacy_classes) == [1, 1, 2, 2, 2]


def test_product_index_convention():
    g = parse_group("C2xS3xC3")
    a, b, c = parse_group("C2"), parse_group("S3"), parse_group("C3")
    assert g.order == 36 and g.factors == (a, b, c)
    for x, y in [(5, 30), (17, 2), (35, 35)]:
        ex, ey = g.elements[x], g.elements[y]
        want = (a.elements[a.table[a.index(ex[0]), a.index(ey[0])]],
                b.elements[b.table[b.index(ex[1]), b.index(ey[1])]],
                c.elements[c.table[c.index(ex[2]), c.index(ey[2])]])
        assert g.elements[g.table[x, y]] == want
    assert g.elements[1] == (0, (0, 1, 2), 1)                        # last factor fastest


def test_perm_spec_forms_and_determinism():
    g = parse_group("perm:(0 1 2)(3 4),(0 1)")
    assert g.name == "perm:(0 1 2)(3 4),(0 1)" and g.family == "perm" and g.n == 5
    h = parse_group("perm: [1,2,0,4,3] , (0,1)")                    # image form, commas in cycles
    assert sorted(h.elements) == sorted(g.elements) and (h.table == g.table).all()
    assert parse_group("perm:()").order == 1
    assert parse_group("s3") is parse_group("S3")                   # cached, case-insensitive
    assert parse_group(" C2 x S3 ").name == "C2xS3"


def test_cap_admits_s6():
    assert MAX_ORDER == 1000
    g = parse_group("S6")
    assert g.order == 720 and len(g.conjugacy_classes) == 11


BAD = ["S0", "D2x", "C0", "X5", "", "   ", "D2", "D1", "S7", "A7", "C1001", "C10xC101", "Q9", "Q", "S",
       "C2xxC3", "xC2", "C2.5", "S-3", "perm:", "perm:(0 1)(1 2)", "perm:(0 a)", "perm:[0,0]",
       "perm:[0,2]", "perm:(0 1", "perm:(0 1 2 3 4 5 6),(0 1)", "C2xperm:(0 1)", "S100000"]


@pytest.mark.parametrize("spec", BAD)
def test_bad_specs(spec):
    with pytest.raises(TaskError) as info:
        parse_group(spec)
    assert repr(spec) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_cap_is_checked_from_the_formula():
    with pytest.raises(TaskError, match="5040"):
        parse_group("S7")
    with pytest.raises(TaskError, match="MAX_ORDER"):
        parse_group("S3xS3xS3xS3")                                    # 1296 > 1000


def test_non_string_spec():
    with pytest.raises(TaskError):
        parse_group(3)


def test_large_groups_build_fast_enough():
    for spec, n in [("C1000", 1000), ("D500", 1000), ("C10xC10xC10", 1000)]:
        g = parse_group(spec)
        assert g.order == n and g.element_order.max() == {"C1000": 1000, "D500": 500, "C10xC10xC10": 10}[spec]
    assert math.factorial(6) == parse_group("S6").order


def test_buildable_specs_are_the_sweeps_enumeration():
    for max_order, count in ((60, 286), (24, 79)):   # issue 14's agreement sweeps (experiments/results)
        specs = buildable_specs(max_order)
        assert len(specs) == len(set(specs)) == count
        orders = [parse_group(s).order for s in specs]
        assert 2 <= min(orders) and max(orders) == max_order
    assert {"C2xS3", "Q8", "A5", "C2xC2xC15", "S3xS3"} <= set(buildable_specs(60))
    assert "S3xC2" not in buildable_specs(60) and "C61" not in buildable_specs(60)
