"""Issue 31: no claim holds for an untrained network, and the max-margin networks pass them.

Each claim builder of `reproduce.claims` (and the figure recipes' own: the ReLU claim, the paper-recipe margin
at ci) is evaluated on the real analysis (`TaskKind.analyze`) of randomly initialized networks of the configs
the figures train (p, width small), three seeds each: every claim must fail. Then on the explicit max-margin
constructions (docs/theory.md §6), measured the same way against a random init of their shape: every claim must
hold. The transformer recipes (li-fig3/9/10) are run whole on untrained transformers of their ci configs.
Damaged constructions fail the claims that describe the damage.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from fourier_circuits.models.margins import normalized_margin
from fourier_circuits.reproduce.claims import (
    Claim,
    coverage_claim,
    frequency_mass_claim,
    irrep_claims,
    margin_claim,
    neuron_form_claims,
    parity_claims,
    single_frequency_claims,
)
from fourier_circuits.reproduce.figures import ConstructedRun, paper_margin_claim, relu_claim
from fourier_circuits.tasks.base import RunView
from fourier_circuits.tasks.registry import kind_of, task_of
from fourier_circuits.training.config import resolve_config


@dataclass
class Outcome:
    config: dict
    result: dict
    analysis: dict
    run_dir: Path | None


@dataclass
class Ctx:
    scale: str


def measured(cfg, model, init_model) -> tuple[dict, dict]:
    """(result, analysis) of `model` as `reproduce` sees a run: margin / γ* and the kind's analysis."""
    kind, task = kind_of(cfg), task_of(cfg)
    view = RunView(cfg=cfg, task=task, model=model, init_model=init_model, metrics=[], fig_dir=None,
                   train_idx=None, checkpoints=lambda: iter(()))
    analysis, _ = kind.analyze(view)
    inputs = task.inputs(dtype=torch.float64) if cfg.task == "parity" else task.inputs()
    gs = kind.gamma_star(cfg, model)
    ratio = normalized_margin(model, inputs, task.labels()) / gs if gs else None
    return dict(margin_ratio=ratio, gamma_star=gs), analysis


def untrained(overrides: dict, tmp: Path) -> Outcome:
    """A run of `overrides` that has not learned: the network is its own init; two metric rows (steps 1, 2) at its
    margin and at chance accuracy."""
    cfg = resolve_config(**overrides)
    model = kind_of(cfg).build_model(cfg, task_of(cfg), "cpu", torch.float64)
    result, analysis = measured(cfg, model, model)
    tmp.mkdir(parents=True, exist_ok=True)
    chance = 1 / task_of(cfg).n_classes
    rows = [dict(step=s, margin_ratio=result["margin_ratio"], train_accuracy=chance, test_accuracy=chance)
            for s in (1, 2)]
    (tmp / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return Outcome(cfg.to_dict(), result, analysis, tmp)


def claims_for(run, task: str, relu: bool = False) -> list[Claim]:
    """Every claim builder that applies to a run of `task` (the figures' claims on that kind of run)."""
    out = [margin_claim(run), *single_frequency_claims(run, "irreps" if task == "group" else "frequencies")]
    if task == "modadd":
        out += [coverage_claim(run), *neuron_form_claims(run)] + ([relu_claim(run)] if relu else [frequency_mass_claim(run)])
    if task == "group":
        out += irrep_claims(run)
    if task == "parity":
        out = [margin_claim(run), *parity_claims(run)]
    return out


UNTRAINED = {  # the configs the figures train, at small sizes
    "mo quadratic": (dict(preset="mo-modadd-quadratic", p=11, width=40), "modadd"),
    "mo relu": (dict(preset="mo-modadd-relu", p=11, width=40), "modadd"),
    "fast k=2": (dict(p=23, width=88), "modadd"),
    "li k=3": (dict(preset="li-nn-k3", p=7, width=96, train_fraction=1.0), "modadd"),
    "li k=4": (dict(preset="li-nn-k4", p=5, width=256, train_fraction=1.0), "modadd"),
    "mo S3": (dict(preset="mo-s3"), "group"),
    "mo S4": (dict(preset="mo-s4"), "group"),
    "fast S3": (dict(task="group", group="S3", p=None, width=30), "group"),
    "mo parity": (dict(preset="mo-parity-10-4"), "parity"),
    "fast parity": (dict(task="parity", n=10, k=4, p=None, width=40), "parity"),
}


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("name", list(UNTRAINED))
def test_no_claim_holds_for_an_untrained_network(name, seed, tmp_path):
    overrides, task = UNTRAINED[name]
    run = untrained(dict(overrides, seed=seed), tmp_path)
    claims = claims_for(run, task, relu="relu" in name)
    claims.append(paper_margin_claim(Ctx("ci"), run))   # ci: positive and still rising
    assert claims
    assert not [c for c in claims if c.holds], [(c.claim, c.measured) for c in claims if c.holds]


@dataclass
class UntrainedContext:
    """A figure context whose runs are untrained (step 0)."""
    scale: str
    fig_dir: Path

    def runs(self, group: str, overrides: list[dict], analyze: bool = True, figures=(), plotted: int | None = None) -> list[Outcome]:
        return [untrained(o, self.fig_dir / f"run{i}") for i, o in enumerate(overrides)]


@pytest.mark.parametrize("k", [3, 4, 5])
def test_no_transformer_claim_holds_for_an_untrained_transformer(k, tmp_path):
    """li-fig3/9/10 on their ci configs at step 0: head power / init = 1 (< 1.5), no test accuracy yet."""
    from fourier_circuits.reproduce.figures import _li_transformer
    claims, _ = _li_transformer(UntrainedContext("ci", tmp_path), k)
    assert claims and not [c for c in claims if c.holds], [(c.claim, c.measured) for c in claims if c.holds]


def constructed(overrides: dict, model) -> ConstructedRun:
    """The explicit construction measured like a run, against a random init of the same config."""
    cfg = resolve_config(**overrides)
    init = kind_of(cfg).build_model(cfg, task_of(cfg), "cpu", torch.float64)
    result, analysis = measured(cfg, model, init)
    return ConstructedRun(cfg.to_dict(), result, analysis)


def _constructions():
    from fourier_circuits.theory.groups import construct_group
    from fourier_circuits.theory.modadd import construct_modadd
    from fourier_circuits.theory.parity import construct_parity
    yield "modadd p=7 k=2", "modadd", dict(p=7, k=2, width=construct_modadd(7, 2).width), lambda: construct_modadd(7, 2)
    yield "modadd p=5 k=3", "modadd", dict(p=5, k=3, width=construct_modadd(5, 3).width), lambda: construct_modadd(5, 3)
    for g in ("S3", "S4"):
        yield g, "group", dict(task="group", group=g, p=None, width=construct_group(g).width), lambda g=g: construct_group(g)
    task = task_of(resolve_config(task="parity", n=10, k=4, p=None, width=8))
    yield "parity", "parity", dict(task="parity", n=10, k=4, p=None, width=8), \
        lambda: construct_parity(10, 4, task.support)


@pytest.mark.parametrize("name, task, overrides, build", list(_constructions()), ids=[c[0] for c in _constructions()])
def test_the_max_margin_constructions_pass_every_claim(name, task, overrides, build):
    run = constructed(overrides, build())
    claims = claims_for(run, task)
    assert claims and all(c.holds for c in claims), [(c.claim, c.measured) for c in claims if not c.holds]


def _damaged(kind: str):
    """A construction broken the way a claim should catch: one irrep dropped (its neurons zeroed), pairs of
    neurons of different frequencies merged into one, or the class axis of every w shuffled."""
    from fourier_circuits.theory.groups import construct_group
    from fourier_circuits.theory.modadd import construct_modadd
    if kind == "S4, sign irrep dropped":
        model = construct_group("S4")
        cfg = dict(task="group", group="S4", p=None, width=model.width)
        names = measured(resolve_config(**cfg), model, None)[1]["dominant_irrep"]
        drop = torch.tensor([n == "[1,1,1,1]" for n in names])
        with torch.no_grad():
            model.embed[..., drop] = 0
            model.unembed[drop] = 0
        return cfg, "group", model
    model = construct_modadd(7, 2)
    cfg = dict(p=7, k=2, width=model.width)
    with torch.no_grad():
        if kind == "p=7, neurons of two frequencies merged":
            # the construction lists its neurons frequency by frequency, (p−1)/2 = 3 blocks: shift by one block
            other = torch.arange(model.width).roll(model.width // 3)
            model.embed += model.embed[..., other].clone()
            model.unembed += model.unembed[other].clone()
        elif kind == "p=7, most neurons mixed, two left clean":
            # every neuron but the first two gets a random vector of its own norm added: the two clean ones keep
            # the exact §5 form, so only the premise (most neurons single-frequency) can fail the form claims
            g = torch.Generator().manual_seed(0)
            mixed = torch.arange(model.width) >= 2
            noise_e = torch.randn(model.embed[..., mixed].shape, generator=g, dtype=model.embed.dtype)
            noise_u = torch.randn(model.unembed[mixed].shape, generator=g, dtype=model.unembed.dtype)
            model.embed[..., mixed] += noise_e * model.embed[..., mixed].norm() / noise_e.norm()
            model.unembed[mixed] += noise_u * model.unembed[mixed].norm() / noise_u.norm()
        elif kind == "p=7, one frequency at half mass":   # the first block's neurons scaled to half their ν-mass
            scale = torch.ones(model.width, dtype=model.embed.dtype)
            scale[: model.width // 3] = 0.5 ** (1 / model.nu)
            model.embed *= scale
            model.unembed *= scale[:, None]
        else:
            model.unembed.copy_(model.unembed[:, torch.randperm(7, generator=torch.Generator().manual_seed(0))])
    return cfg, "modadd", model


DAMAGED = {  # what each damage must fail
    "S4, sign irrep dropped": ("every non-trivial irrep is used", "bigger irreps get more neurons"),
    "p=7, neurons of two frequencies merged": ("share with max power", "every frequency", "normalized margin"),
    "p=7, one frequency at half mass": ("every frequency carries the same mass", "normalized margin"),
    "p=7, most neurons mixed, two left clean": ("the k+1 vectors of a neuron", "neurons have zero mean", "phases add up",
                                                "every frequency carries the same mass", "share with max power"),
    "p=7, class axis of w shuffled": ("share with max power", "normalized margin"),
}


@pytest.mark.parametrize("kind", list(DAMAGED))
def test_a_damaged_construction_fails_the_claims_that_describe_the_damage(kind):
    overrides, task, model = _damaged(kind)
    claims = claims_for(constructed(overrides, model), task)
    for start in DAMAGED[kind]:
        hit = [c for c in claims if start in c.claim]
        assert hit and not any(c.holds for c in hit), [(c.claim, c.measured) for c in hit]


WHOLE = [n for n in ("mo-fig1", "mo-fig4", "mo-fig5", "mo-fig6", "mo-fig7", "mo-fig8", "mo-fig9", "li-fig1", "li-fig2",
                     "li-fig5", "li-fig6", "li-fig7", "li-fig8", "li-fig4", "new-lambda", "new-larger-k")]


@pytest.mark.parametrize("name", WHOLE)
def test_no_figure_claim_holds_when_every_run_is_untrained(name, tmp_path):
    """Each [MO] / [LI] figure recipe (and new-lambda, new-larger-k) at ci, every run it asks for replaced by the
    same config at step 0: no claim measured on a network holds. mo-fig6's explicit construction is not a run
    and holds by design (its claims say so); new-minimal-width (issue 30) and new-gamma-beyond (solver
    certificates) are not here."""
    from fourier_circuits.reproduce.claims import CONSTRUCTION
    from fourier_circuits.reproduce.figures import FIGURE_RECIPES
    claims, _ = FIGURE_RECIPES[name].check(UntrainedContext("ci", tmp_path))
    measured_on_runs = [c for c in claims if c.evidence != CONSTRUCTION]
    assert measured_on_runs and not [c for c in measured_on_runs if c.holds], \
        [(c.claim, c.measured) for c in measured_on_runs if c.holds]


def test_mo_fig6s_construction_claims_fail_on_a_damaged_construction(tmp_path, monkeypatch):
    """mo-fig6 at ci checks the explicit S5 construction (margin = γ*, every neuron one irrep): with the class
    axis of w shuffled (here on S3's construction, standing in for S5's) both claims fail."""
    from fourier_circuits.reproduce import figures
    from fourier_circuits.reproduce.claims import CONSTRUCTION
    from fourier_circuits.theory.groups import construct_group
    model = construct_group("S3")
    with torch.no_grad():
        model.unembed.copy_(model.unembed[:, torch.randperm(6, generator=torch.Generator().manual_seed(0))])
    damaged = constructed(dict(task="group", group="S3", p=None, width=model.width), model)
    damaged.analysis["figures"] = []
    monkeypatch.setattr(figures, "constructed_group_run", lambda group, fig_dir: damaged)
    claims, _ = figures.mo_fig6(UntrainedContext("ci", tmp_path))
    built = [c for c in claims if c.evidence == CONSTRUCTION]
    assert len(built) == 2 and not any(c.holds for c in built), [(c.claim, c.measured) for c in built]


@pytest.mark.parametrize("name", ["li-fig1", "li-fig5", "li-fig7", "li-fig3", "li-fig9", "li-fig10", "li-fig4"])
def test_a_recipes_planned_runs_are_the_runs_it_asks_for(name, tmp_path):
    """`planned` (the runs queued as jobs of their own before the recipe) lists exactly the runs the recipe's check
    then asks for (at ci): a run missing from it would train inside the recipe's job, one too many for nothing."""
    from fourier_circuits.reproduce.figures import FIGURE_RECIPES
    recipe = FIGURE_RECIPES[name]
    asked: list[dict] = []

    class Recording(UntrainedContext):
        def runs(self, group, overrides, analyze=True, figures=(), plotted=None):
            asked.extend(overrides)
            return super().runs(group, overrides, analyze, figures, plotted)

    recipe.check(Recording("ci", tmp_path))
    key = lambda o: json.dumps(o, sort_keys=True)   # noqa: E731
    assert sorted(map(key, recipe.planned("ci"))) == sorted(map(key, asked))
