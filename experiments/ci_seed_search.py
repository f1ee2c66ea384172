"""Issue 31: find ci settings whose claims hold with margin over seeds, not only on the seeds that tuned them.

Each argument is a JSON dict: {"base": NAME, "seeds": [..], ...overrides}. NAME is one of the ci configs of the
figure recipes (tf3, tf4, tf5: LI_TF_CI; grok2, grok3: LI_GROK_CI; lambda: new-lambda's smallest λ; s3: mo-fig8's
GD run; mo: mo-fig1/7's quadratic GD run; fast55: li-fig7 / new-larger-k's (5, 5) fast run). Every seed is trained
in memory and the values its claims read are printed, one JSON line per seed, then min / max / spread:

    OMP_NUM_THREADS=1 python experiments/ci_seed_search.py '{"base": "tf4", "seeds": [0,1,2,3,4,5]}' \\
        '{"base": "tf4", "seeds": [0,1,2,3,4,5], "init_scale": 0.3}'
"""
from __future__ import annotations

import json
import sys
import time

import numpy as np
import torch

from fourier_circuits.reproduce import figures
from fourier_circuits.reproduce.scales import fast_modadd
from fourier_circuits.training.config import resolve_config
from fourier_circuits.training.trainer import Trainer, build_model

BASES = {
    "tf3": figures.LI_TF_CI[3], "tf4": figures.LI_TF_CI[4], "tf5": figures.LI_TF_CI[5],
    "grok2": figures.LI_GROK_CI[2], "grok3": figures.LI_GROK_CI[3],
    "lambda": dict(p=7, width=24,  # new-lambda at ci before issue 31 (now width 36)
                   objective="ce", optimizer="adam", lr=0.01, lr_schedule="linear",
                   regularizer="l2nu", normalize=False, steps=2000, early_stop=False, n_evals=30, lam=1e-3),
    "s3": figures.MO_GROUP_PAPER["S3"]["ci"],
    "mo": dict(preset="mo-modadd-quadratic", **figures.MO_MODADD["ci"]),
    "fast55": fast_modadd(5, 5, "ci"),
}


def values(name: str, tr: Trainer, cfg, init_model) -> dict:
    """The numbers the base's claims read (as the figure recipe computes them)."""
    h = tr.history
    if name.startswith("tf"):
        from fourier_circuits.analysis.attention import all_heads_qk, heads_sparsity
        init = np.median(heads_sparsity(all_heads_qk(init_model, 0))["max_power"])
        final = np.median(heads_sparsity(all_heads_qk(tr.model, 0))["max_power"])
        return dict(ratio=round(float(final / init), 3), test=round(h[-1]["test_accuracy"], 4))
    if name.startswith("grok"):
        from fourier_circuits.analysis.curves import first_step_at
        s, t = first_step_at(h, "train_accuracy"), first_step_at(h, "test_accuracy")
        return dict(train_step=s, test_step=t, delay=None if None in (s, t) else round(t / max(s, 1), 3),
                    final=figures.final_accuracy(h))
    out = dict(margin_ratio=h[-1].get("margin_ratio"))
    if name in ("s3", "mo", "fast55"):
        from fourier_circuits.tasks.base import RunView
        from fourier_circuits.tasks.registry import kind_of, task_of
        view = RunView(cfg=cfg, task=task_of(cfg), model=tr.model, init_model=init_model, metrics=h, fig_dir=None,
                       train_idx=None, checkpoints=lambda: iter(()))
        a, _ = kind_of(cfg).analyze(view)
        keys = ("frac_neurons_power_ge_095", "frequency_mass_ratio", "single_phase_residual_median_abs")
        out.update({k: a.get(k) for k in keys if k in a})
    return out


def search(spec: dict) -> None:
    torch.set_num_threads(1)
    spec = dict(spec)
    name, seeds = spec.pop("base"), spec.pop("seeds", [0, 1, 2, 3])
    rows = []
    for seed in seeds:
        cfg = resolve_config(**{**BASES[name], **spec, "seed": seed, "device": "cpu"})
        t0 = time.time()
        init_model = build_model(cfg, torch.device("cpu"))
        tr = Trainer(cfg, progress=False)
        tr.run()
        row = dict(base=name, seed=seed, **spec, **values(name, tr, cfg, init_model), seconds=round(time.time() - t0, 1))
        rows.append(row)
        print(json.dumps(row, default=str), flush=True)
    for key in ("ratio", "test", "delay", "final", "margin_ratio", "frac_neurons_power_ge_095", "frequency_mass_ratio"):
        got = [r.get(key) for r in rows if key in r]
        if got and None not in got:
            print(f"# {name} {spec} {key}: min {min(got):.4g} max {max(got):.4g} spread {max(got) - min(got):.4g}")
        elif got:
            print(f"# {name} {spec} {key}: n/a on {got.count(None)} of {len(got)} seeds")


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        search(json.loads(arg))
