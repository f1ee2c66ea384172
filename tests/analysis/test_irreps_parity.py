"""Irrep analysis of group nets and support analysis of parity nets (docs/theory.md §5, §7)."""
import pytest
import torch

from fourier_circuits.algebra.representations import irreps
from fourier_circuits.analysis.irreps import analyze_group_net, neuron_irrep_spectrum
from fourier_circuits.analysis.parity import analyze_parity_net
from fourier_circuits.models.parity import ParityNet
from fourier_circuits.models.polynet import PolyNet
from fourier_circuits.tasks.group import GroupComposition
from fourier_circuits.tasks.parity import SparseParity
from fourier_circuits.theory.groups import construct_group
from fourier_circuits.theory.parity import construct_parity

# docs/theory.md §6: the construction has 2·d³ neurons per non-trivial real irrep of dimension d. The dimensions are
# the textbook ones (S4, S5 by the hook length formula; D5: sign, two 2-dim rotations; C2xC2: three signs).
CONSTRUCTION_NEURONS = {
    "S4": {"[4]": 0, "[1,1,1,1]": 2, "[2,2]": 16, "[3,1]": 54, "[2,1,1]": 54},
    "S5": {"[5]": 0, "[1,1,1,1,1]": 2, "[4,1]": 128, "[2,1,1,1]": 128, "[3,2]": 250, "[2,2,1]": 250,
           "[3,1,1]": 432},
    "D5": {"trivial": 0, "sign": 2, "rho1": 16, "rho2": 16},
    "C2xC2": {"trivial": 0, "(trivial,sign)": 2, "(sign,trivial)": 2, "(sign,sign)": 2},
}


@pytest.mark.parametrize("spec", ["S4", "S5", "D5", "C2xC2"])
def test_construction_is_single_irrep(spec):
    """Counts from docs/theory.md §6 and the irreps' textbook dimensions, not from the analysis' own formulas."""
    model = construct_group(spec)
    out = analyze_group_net(model, spec)
    expected = CONSTRUCTION_NEURONS[spec]
    width = sum(expected.values())
    assert model.width == width and out["n_significant"] == width
    assert out["neurons_per_irrep"] == expected
    assert out["irrep_power_min"] == pytest.approx(1.0, abs=1e-9)
    assert out["irrep_power_median"] == pytest.approx(1.0, abs=1e-9)
    assert out["irreps_used"] == [name for name, n in expected.items() if n]
    assert out["nontrivial_irrep_coverage"] == 1.0
    assert out["trivial_irrep_neurons"] == 0 and out["trivial_power_max"] < 1e-12
    for name, n in expected.items():
        assert out["observed_fraction_per_irrep"][name] == pytest.approx(n / width, abs=1e-12)
        assert out["expected_fraction_per_irrep"][name] == pytest.approx(n / width, abs=1e-12)


@pytest.mark.parametrize("spec", ["S4", "D5"])
def test_random_init_is_spread(spec):
    task = GroupComposition(spec)
    model = PolyNet(task.vocab_size, 2, 64, task.n_classes, degree=2, seed=0)
    out = analyze_group_net(model, spec)
    assert out["irrep_power_median"] < 0.6 and out["frac_neurons_power_ge_095"] == 0.0


def test_spectrum_sums_to_neuron_norm():
    task = GroupComposition("S4")
    model = PolyNet(task.vocab_size, 2, 16, task.n_classes, degree=2, seed=3, dtype=torch.float64)
    spec = neuron_irrep_spectrum(model, "S4")
    assert torch.allclose(spec.sum(dim=1), model.neuron_sq_norms().detach(), rtol=1e-10)


@pytest.mark.parametrize("n, k", [(10, 4), (8, 3), (6, 2)])
def test_parity_construction_analysis(n, k):
    task = SparseParity(n, k, seed=1)
    out = analyze_parity_net(construct_parity(n, k, task.support), task)
    assert out["support_fraction_median"] == pytest.approx(1.0) and out["support_fraction_min"] == pytest.approx(1.0)
    assert out["balance_min"] == pytest.approx(1.0) and out["balance_max"] == pytest.approx(1.0)
    assert out["w_antisymmetry_min"] == pytest.approx(1.0)
    assert out["sign_rule_fraction"] == 1.0


def test_parity_random_init_is_worse():
    task = SparseParity(10, 3, seed=0)
    out = analyze_parity_net(ParityNet(10, 64, 3, seed=0), task)
    assert out["support_fraction_median"] < 0.6
    assert out["sign_rule_fraction"] < 0.9


@pytest.mark.parametrize("spec, k", [("S3", 2), ("D4", 3)])
def test_per_vector_irrep_power(spec, k):
    """Per-vector statistics: one number per vector (u_1..u_k, w); they sum to the neuron spectrum."""
    from fourier_circuits.analysis.irreps import vector_irrep_power, vector_irrep_spectrum
    task = GroupComposition(spec, k)
    model = PolyNet(task.vocab_size, k, 12, task.n_classes, degree=k, seed=1, dtype=torch.float64)
    per = vector_irrep_spectrum(model, spec)
    assert per.shape == (12, k + 1, len(irreps(spec)))
    assert torch.allclose(per.sum(dim=1), neuron_irrep_spectrum(model, spec), rtol=1e-12)
    power = vector_irrep_power(model, spec)
    assert torch.allclose(power.sum(dim=2), torch.ones(12, k + 1, dtype=torch.float64), rtol=1e-12)
    out = analyze_group_net(model, spec)
    for key in ("irrep_power_median_per_vector", "irrep_power_min_per_vector", "frac_neurons_power_ge_095_per_vector"):
        assert len(out[key]) == k + 1
    best = power.max(dim=2).values
    assert out["irrep_power_min_per_vector"] == pytest.approx(best.min(dim=0).values.tolist(), rel=1e-12)
    assert out["irrep_power_median_per_vector"] == pytest.approx(best.quantile(0.5, dim=0).tolist(), rel=1e-12)
    assert 0.0 <= out["dominant_irrep_agreement"] <= 1.0
    assert out["irrep_power_median_per_vector"][0] < 0.9        # random init is spread in every vector


def test_per_vector_single_irrep_construction():
    out = analyze_group_net(construct_group("S4"), "S4")
    assert out["irrep_power_min_per_vector"] == pytest.approx([1.0, 1.0, 1.0], abs=1e-9)
    assert out["dominant_irrep_agreement"] == 1.0


# --- issue 31: single-irrep counts, rank statement, trivial share; parity top-norm neurons ---------------

def test_irrep_rank_agreement_hand_values():
    from fourier_circuits.analysis.irreps import irrep_rank_agreement
    dims, nontrivial = [1, 1, 2, 3, 3], [1, 2, 3, 4]   # S4: trivial, sign, [2,2], two 3-dim irreps
    assert irrep_rank_agreement([0, 2, 16, 54, 54], dims, nontrivial) == 1.0
    # pairs with d_R < d_R': (1,2) (1,3) (1,4) (2,3) (2,4); 16 > 10 breaks (2,3) only
    assert irrep_rank_agreement([0, 2, 16, 10, 54], dims, nontrivial) == pytest.approx(4 / 5)
    assert irrep_rank_agreement([0] * 5, dims, nontrivial) is None


@pytest.mark.parametrize("spec", ["S3", "S4"])
def test_construction_single_irrep_counts_and_no_trivial(spec):
    """construct_group: 2 d³ neurons per non-trivial irrep, all single-irrep, none on the trivial one."""
    out = analyze_group_net(construct_group(spec), spec)
    reps = irreps(spec)
    assert out["single_irrep_neurons_per_irrep"] == {r.name: (0 if r.is_trivial else 2 * r.dim ** 3) for r in reps}
    assert out["nontrivial_irrep_coverage_single"] == 1.0 and out["irrep_rank_agreement_single"] == 1.0
    assert out["trivial_share_vs_random"] == pytest.approx(0.0, abs=1e-12)


def test_trivial_share_vs_random():
    """≈ 1 at a random init; |G| for a network of constant vectors (all of ‖θ‖² in the trivial irrep)."""
    task = GroupComposition("S3")
    init = analyze_group_net(PolyNet(6, 2, 400, 6, degree=2, seed=0), "S3")
    assert init["trivial_share_vs_random"] == pytest.approx(1.0, abs=0.1)
    assert init["n_single_irrep"] < 0.05 * 400
    const = PolyNet(task.vocab_size, 2, 3, task.n_classes, degree=2, init_scale=0.0)
    with torch.no_grad():
        const.embed.fill_(1.0)
        const.unembed.fill_(1.0)
    assert analyze_group_net(const, "S3")["trivial_share_vs_random"] == pytest.approx(6.0)


def test_parity_top_norm_neurons_of_the_construction_and_of_an_init():
    task = SparseParity(10, 4, seed=1)
    out = analyze_parity_net(construct_parity(10, 4, task.support), task)
    assert out["n_top"] == 8 and out["support_fraction_median_top"] == pytest.approx(1.0)
    assert out["balance_log_dev_max_top"] == pytest.approx(0.0, abs=1e-12)
    assert out["balance_log_dev_median_top"] == pytest.approx(0.0, abs=1e-12)
    assert out["w_antisymmetry_min_top"] == pytest.approx(1.0) and out["sign_rule_fraction_top"] == 1.0
    assert out["w_antisymmetry_median_top"] == pytest.approx(1.0)
    init = analyze_parity_net(ParityNet(10, 40, 4, seed=0), task)
    assert init["support_fraction_median_top"] < 0.7 and init["sign_rule_fraction_top"] is None
