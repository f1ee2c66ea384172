"""GroupComposition and SparseParity tasks (docs/theory.md §1)."""
import pytest
import torch

from fourier_circuits.algebra.groups import parse_group
from fourier_circuits.errors import TaskError
from fourier_circuits.tasks.group import GroupComposition
from fourier_circuits.tasks.parity import SparseParity
from fourier_circuits.theory.parity import choose_support


@pytest.mark.parametrize("spec", ["S3", "D5", "C2xC2", "S4"])
def test_group_composition_population(spec):
    task = GroupComposition(spec)
    g = parse_group(spec)
    n = g.order
    assert task.name == "group" and task.k == 2
    assert task.vocab_size == task.n_classes == task.order == n and task.size == n * n
    x, y = task.inputs(), task.labels()
    assert x.shape == (n * n, 2) and x.dtype == torch.int64 and y.dtype == torch.int64
    assert torch.equal(x[1], torch.tensor([0, 1])) and torch.equal(x[n], torch.tensor([1, 0]))  # lexicographic
    table = torch.as_tensor(g.table)
    assert torch.equal(y, table[x[:, 0], x[:, 1]])
    assert torch.equal(task.labels_of(x), y)
    assert spec in task.describe() or g.name in task.describe()


def test_group_composition_bad_spec():
    with pytest.raises(TaskError):
        GroupComposition("X7")
    with pytest.raises(TaskError):
        GroupComposition("S7")  # order 5040 > MAX_ORDER


def test_parity_population_and_labels():
    task = SparseParity(6, 3, support=[5, 0, 2])
    assert task.support == (0, 2, 5) and task.n_classes == 2 and task.size == 64
    x, y = task.inputs(), task.labels()
    assert x.shape == (64, 6) and x.dtype == torch.float32
    assert set(x.unique().tolist()) == {-1.0, 1.0}
    assert torch.equal(x[0], torch.ones(6)) and len({tuple(r) for r in x.tolist()}) == 64
    chi = x[:, 0] * x[:, 2] * x[:, 5]
    assert torch.equal(y, (chi < 0).long())            # output 0 is class +1
    assert y.dtype == torch.int64 and int(y.sum()) == 32


def test_parity_support_seeded():
    a, b = SparseParity(12, 4, seed=3), SparseParity(12, 4, seed=3)
    assert a.support == b.support == choose_support(12, 4, 3)
    assert len(set(a.support)) == 4 and all(0 <= j < 12 for j in a.support)
    assert len({SparseParity(12, 4, seed=s).support for s in range(5)}) > 1


@pytest.mark.parametrize("kwargs, word", [
    (dict(n=4, k=5), "k=5"),
    (dict(n=4, k=0), "k=0"),
    (dict(n=0, k=1), "n=0"),
    (dict(n=21, k=3), "n=21"),
    (dict(n=5, k=2, support=[1, 1]), "repeat"),
    (dict(n=5, k=2, support=[1, 2, 3]), "support"),
    (dict(n=5, k=2, support=[1, 7]), "7"),
])
def test_parity_bad_inputs(kwargs, word):
    with pytest.raises(TaskError, match=word):
        SparseParity(**kwargs)


def test_parity_large_needs_confirmation():
    task = SparseParity(21, 3, confirm_large=True)   # allowed, population not built
    assert task.size == 2**21 and len(task.support) == 3
