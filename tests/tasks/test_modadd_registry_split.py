"""Tasks: population order, labels, validation, train/test split."""
import itertools

import pytest
import torch

from fourier_circuits.errors import TaskError
from fourier_circuits.tasks.modadd import ModularAddition, is_prime
from fourier_circuits.tasks.registry import make_task
from fourier_circuits.tasks.split import train_test_split


@pytest.mark.parametrize("p,k", [(5, 2), (3, 3), (7, 2), (3, 4)])
def test_inputs_shape_and_lexicographic_order(p, k):
    t = ModularAddition(p, k)
    x = t.inputs()
    assert x.shape == (p**k, k) and x.dtype == torch.int64
    assert t.size == p**k and t.vocab_size == p and t.n_classes == p
    expected = torch.tensor(list(itertools.product(range(p), repeat=k)))  # a_1 slowest
    assert torch.equal(x, expected)
    # row r is the base-p expansion of r
    r = torch.arange(p**k)
    assert torch.equal((x * p ** torch.arange(k - 1, -1, -1)).sum(1), r)


def test_inputs_specific_rows():
    x = ModularAddition(5, 3).inputs()
    assert x[1].tolist() == [0, 0, 1]
    assert x[5].tolist() == [0, 1, 0]
    assert x[25].tolist() == [1, 0, 0]
    assert x[-1].tolist() == [4, 4, 4]


@pytest.mark.parametrize("p,k", [(5, 2), (7, 3), (3, 4)])
def test_labels_are_sum_mod_p(p, k):
    t = ModularAddition(p, k)
    y = t.labels()
    expected = torch.tensor([sum(a) % p for a in itertools.product(range(p), repeat=k)])
    assert torch.equal(y, expected)
    assert torch.equal(t.labels_of(t.inputs()[:7]), expected[:7])
    # every class appears exactly p^(k-1) times
    assert torch.equal(torch.bincount(y, minlength=p), torch.full((p,), p ** (k - 1)))


@pytest.mark.parametrize("kwargs,needle", [
    (dict(p=9, k=2), "9"), (dict(p=15, k=2), "15"), (dict(p=2, k=2), "2"), (dict(p=1, k=2), "1"),
    (dict(p=-7, k=2), "-7"), (dict(p=7, k=1), "k=1"), (dict(p=7, k=0), "k=0"),
])
def test_invalid_task_raises_naming_value(kwargs, needle):
    with pytest.raises(TaskError) as err:
        ModularAddition(**kwargs)
    assert needle in str(err.value)


def test_task_error_is_value_error_and_messages():
    with pytest.raises(ValueError, match=r"p=9"):
        ModularAddition(9, 2)
    with pytest.raises(TaskError, match=r"p=2"):
        ModularAddition(2, 2)
    with pytest.raises(TaskError, match=r"k=1"):
        ModularAddition(7, 1)


def test_make_task():
    t = make_task("modadd", p=7, k=3)
    assert t == ModularAddition(7, 3)
    assert make_task("modadd", p=5).k == 2
    with pytest.raises(TaskError, match="nope"):
        make_task("nope", p=7)
    with pytest.raises(TaskError, match="9"):
        make_task("modadd", p=9, k=2)


def test_is_prime():
    assert [n for n in range(30) if is_prime(n)] == [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]


@pytest.mark.parametrize("n,frac", [(25, 0.5), (121, 0.3), (49, 0.9), (10, 0.01)])
def test_split_disjoint_cover_sorted(n, frac):
    tr, te = train_test_split(n, frac, seed=3)
    assert len(tr) == max(1, round(frac * n)) and len(tr) + len(te) == n
    assert torch.equal(torch.cat([tr, te]).sort().values, torch.arange(n))  # disjoint and covering
    assert torch.equal(tr, tr.sort().values) and torch.equal(te, te.sort().values)
    assert tr.dtype == torch.int64


def test_split_seeded():
    a = train_test_split(121, 0.5, seed=1)
    b = train_test_split(121, 0.5, seed=1)
    c = train_test_split(121, 0.5, seed=2)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_split_full_fraction_empty_test():
    tr, te = train_test_split(49, 1.0, seed=0)
    assert torch.equal(tr, torch.arange(49)) and te.numel() == 0


@pytest.mark.parametrize("frac", [0.0, -0.1, 1.5])
def test_split_bad_fraction(frac):
    with pytest.raises(TaskError, match=str(frac)):
        train_test_split(10, frac, seed=0)
