"""k-input group composition (docs/theory.md §8 task): population, config hooks, and C_n ≡ modular addition."""
import itertools
import math

import pytest
import torch

from fourier_circuits.algebra.groups import parse_group
from fourier_circuits.errors import ConfigError, ResourceError, TaskError
from fourier_circuits.tasks.group import GroupComposition
from fourier_circuits.tasks.modadd import ModularAddition
from fourier_circuits.tasks.registry import kind_of
from fourier_circuits.training.config import resolve_config
from fourier_circuits.training.resources import estimate_bytes

REL = 1e-9


@pytest.mark.parametrize("spec, k", [("S3", 3), ("D4", 3), ("Q8", 3), ("S3", 4), ("C2xC2", 5)])
def test_population_k(spec, k):
    task = GroupComposition(spec, k)
    g = parse_group(spec)
    n = g.order
    assert task.k == k and task.size == n**k and task.vocab_size == task.n_classes == n
    x, y = task.inputs(), task.labels()
    assert x.shape == (n**k, k) and x.dtype == torch.int64 and y.shape == (n**k,) and y.dtype == torch.int64
    tuples = list(itertools.product(range(n), repeat=k))         # lexicographic, g_1 slowest
    assert x.tolist() == [list(t) for t in tuples]
    expected = []
    for t in tuples:
        acc = t[0]
        for b in t[1:]:
            acc = int(g.table[acc, b])
        expected.append(acc)
    assert y.tolist() == expected
    assert torch.equal(task.labels_of(x), y)
    assert f"{k}-input" in task.describe()


@pytest.mark.parametrize("spec", ["S3", "D5", "Q8", "S4"])
def test_k2_unchanged(spec):
    """k = 2 keeps the old rows (r // |G|, r % |G|) and labels table.reshape(-1)."""
    task, default = GroupComposition(spec, 2), GroupComposition(spec)
    assert task == default and task.k == 2
    n = task.order
    r = torch.arange(n * n)
    assert torch.equal(task.inputs(), torch.stack([r // n, r % n], dim=1))
    assert torch.equal(task.labels(), torch.as_tensor(parse_group(spec).table).reshape(-1))
    assert "input" not in task.describe()


@pytest.mark.parametrize("n, k", [(7, 3), (5, 2), (5, 4), (3, 5)])
def test_cyclic_is_modular_addition(n, k):
    g, m = GroupComposition(f"C{n}", k), ModularAddition(n, k)
    assert torch.equal(g.inputs(), m.inputs()) and torch.equal(g.labels(), m.labels())
    assert g.size == m.size


@pytest.mark.parametrize("k", [1, 0, -1, True, 2.0])
def test_bad_k_task(k):
    with pytest.raises(TaskError, match="k="):
        GroupComposition("S3", k)


@pytest.mark.parametrize("k", [1, 7, 10])
def test_validate_k_range(k):
    with pytest.raises(ConfigError, match=f"k={k}"):
        resolve_config(task="group", group="S3", k=k, width=8)


def test_config_hooks():
    c2 = resolve_config(task="group", group="S3", width=18)
    c3 = resolve_config(task="group", group="S3", k=3, width=68)
    kind = kind_of(c2)
    assert kind.run_label(c2) == "group-S3-m18-d2-fast"          # stored run names unchanged
    assert kind.run_label(c3) == "group-S3-k3-m68-d3-fast"
    assert kind.run_label(resolve_config(task="group", group="S3", k=3, width=8, degree=2)).endswith("-d2-fast")
    assert kind.describe(c2) == "S3 m=18 poly" and kind.describe(c3) == "S3 k=3 m=68 poly"
    assert kind.gamma_star(c2, None) == pytest.approx(2.3604969e-2, rel=1e-7)
    assert kind.gamma_star(c3, None) == pytest.approx(1 / 144, rel=1e-9)      # the §8 solver's value
    assert kind.gamma_star_source(c3) == "solver" and kind.gamma_star_source(c2) == "closed_form"
    assert kind.gamma_star(resolve_config(task="group", group="S3", width=8, degree=3), None) is None
    th = kind.theory(GroupComposition("S3", 3))
    assert th["k"] == 3 and th["nu"] == 4 and th["gamma_star"] == pytest.approx(1 / 144) and th["applies"] is False
    assert th["gamma_star_source"] == "solver"
    assert th["min_width"] == 2**2 * (1 + 2**4)
    assert "k" not in kind.theory(GroupComposition("S3"))
    model, gs, x, y, where = kind.construct(GroupComposition("S3", 3))     # reaches the solver's value
    from fourier_circuits.models.margins import normalized_margin
    assert normalized_margin(model, x, y) == pytest.approx(gs, rel=1e-9) and where == {"group": "S3", "k": 3}


def test_resource_estimate_scales_with_k():
    c2 = resolve_config(task="group", group="S4", width=50)
    c4 = resolve_config(task="group", group="S4", k=4, width=50)
    e2, e4 = estimate_bytes(c2), estimate_bytes(c4)
    assert e2["population"] == 24**2 * 3 * 8 and e4["population"] == 24**4 * 5 * 8
    assert e4["parameters"] == e2["parameters"] * (4 * 24 + 24) // (2 * 24 + 24)
    with pytest.raises(ResourceError, match="shrink p, k"):
        resolve_config(task="group", group="S5", k=6, width=8)   # 120^6 rows: refused by the resource guard


def test_c7_k3_trains_like_modadd(tmp_path):
    """--task group --group C7 --k 3 and --task modadd --p 7 --k 3: same rows, same neurons (issue 14)."""
    from fourier_circuits.analysis.fourier import analyze_polynet
    from fourier_circuits.analysis.irreps import analyze_group_net
    from fourier_circuits.runs.checkpoints import load_run
    from fourier_circuits.runs.train import train
    common = dict(k=3, width=24, steps=40, seed=5)
    ra = train(resolve_config(task="group", group="C7", **common), tmp_path / "g", progress=False)
    rb = train(resolve_config(task="modadd", p=7, **common), tmp_path / "m", progress=False)
    # γ*: [LI] Thm 4.1 for modadd, the §8 solver for the group: the same number
    assert rb["gamma_star"] == pytest.approx(3 / (16 * 7 * 6), rel=REL) and ra["gamma_star"] == pytest.approx(rb["gamma_star"], rel=1e-9)
    assert (ra["gamma_star_source"], rb["gamma_star_source"]) == ("solver", "closed_form")
    _, model_g, rows_g = load_run(tmp_path / "g")
    _, model_m, rows_m = load_run(tmp_path / "m")
    assert len(rows_g) == len(rows_m) > 2
    for a, b in zip(rows_g, rows_m):
        assert a["step"] == b["step"] and set(a) == set(b)
        for key in ("train_loss", "train_accuracy", "margin", "norm", "normalized_margin", "loss"):
            if key in a:
                assert a[key] == pytest.approx(b[key], rel=REL, abs=1e-300), key
        assert a["margin_ratio"] == pytest.approx(b["margin_ratio"], rel=1e-9)
    assert torch.allclose(model_g.embed, model_m.embed, rtol=0, atol=0)
    # C7's real irreps: trivial + 2-D rotations at frequency ζ, so irrep power = merged Fourier max power
    irr, fou = analyze_group_net(model_g, "C7"), analyze_polynet(model_m)
    assert irr["n_significant"] == fou["n_significant"]
    assert irr["max_irrep_power"] == pytest.approx(fou["max_power"], rel=1e-9, abs=1e-12)
    assert irr["irrep_power_median"] == pytest.approx(fou["max_power_median"], rel=1e-9)
    assert irr["irrep_power_min"] == pytest.approx(fou["max_power_min"], rel=1e-9)
    assert irr["frac_neurons_power_ge_095"] == pytest.approx(fou["frac_neurons_power_ge_095"], rel=1e-9)
    assert len(irr["irrep_power_median_per_vector"]) == 4
    names = {f"freq{z}": z for z in range(1, 4)}
    dom = [names.get(n) for n in irr["dominant_irrep"]]
    assert [d for d in dom if d is not None]  # some neuron is dominated by a frequency
    assert math.isclose(ra["normalized_margin"], rb["normalized_margin"], rel_tol=REL)
