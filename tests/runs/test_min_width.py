"""`fourier-circuits min-width` (runs/min_width.py): the downward scan on synthetic score curves, the report
and its self-check, bad input, and real (small) trainings."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from fourier_circuits.cli import main
from fourier_circuits.runs import min_width as mw
from fourier_circuits.runs.min_width import MARGIN_TARGET, Trial, law_width, min_width, scan_widths


def curve(success: set[int], doubled_success: set[int] = frozenset(), seeds: int = 3):
    """scores_at for a task where seed 0 reaches γ* exactly at the widths in `success` (the other seeds stall
    at 0.95), and at `doubled_success` only with the doubled budget; records every call."""
    calls = []

    def scores_at(m: int, doubled: bool) -> list[float]:
        calls.append((m, doubled))
        hit = m in success or (doubled and m in doubled_success)
        return [1.0 if hit else 0.9] + [0.95] * (seeds - 1)

    return scores_at, calls


@pytest.mark.parametrize("threshold", [1, 2, 7, 13, 16])
def test_a_monotone_curve_gives_its_threshold(threshold):
    scores_at, calls = curve(set(range(threshold, 17)))
    scan = scan_widths(scores_at, 16)
    assert scan.m_min == threshold and scan.m_min_doubled == threshold
    below = [m for m in (threshold - 1, threshold - 2) if m >= 1]
    assert sorted(scan.check) == sorted(below)
    assert all(scan.best(m) < MARGIN_TARGET for m in below)
    assert {m for m, doubled in calls if doubled} == set(below)
    assert len({m for m, doubled in calls if not doubled}) == len(calls) - len(below)  # no width trained twice


def test_a_stall_above_the_threshold_does_not_hide_it():
    # 12 stalls on every seed, 11 and 10 succeed again: a bisection answers 13; the downward scan walks through
    scores_at, _ = curve({16, 15, 14, 13, 11, 10})
    scan = scan_widths(scores_at, 16)
    assert scan.m_min == 10 and scan.best(12) < MARGIN_TARGET and set(scan.check) == {9, 8}


def test_the_doubled_budget_can_move_the_answer():
    scores_at, _ = curve(set(range(12, 17)), doubled_success={11})
    scan = scan_widths(scores_at, 16)
    assert scan.m_min == 12 and scan.m_min_doubled == 11


def test_when_the_bound_fails_nothing_else_is_trained():
    scores_at, calls = curve(set())
    scan = scan_widths(scores_at, 16)
    assert scan.m_min is None and scan.m_min_doubled is None and calls == [(16, False)] and scan.check == {}


def test_stalls_are_the_seeds_below_the_target_at_or_above_m_min():
    scores_at, _ = curve(set(range(12, 17)))
    stalls = scan_widths(scores_at, 16).stalls()
    assert stalls and all(m >= 12 and r < MARGIN_TARGET for m, _, r in stalls)


def test_without_the_check_nothing_is_retrained():
    scores_at, calls = curve(set(range(12, 17)))
    scan = scan_widths(scores_at, 16, check=False)
    assert scan.m_min == 12 and scan.check == {} and not any(doubled for _, doubled in calls)


def test_a_start_below_the_bound_saves_the_widths_above_it():
    scores_at, calls = curve(set(range(12, 17)))
    scan = scan_widths(scores_at, 16, start=12)
    assert scan.m_min == 12 and 16 not in scan.scores and 14 not in scan.scores
    scores_at, calls = curve(set(range(13, 17)))                 # the start misses: the walk starts at the bound
    scan = scan_widths(scores_at, 16, start=12)
    assert scan.m_min == 13 and calls[:2] == [(12, False), (16, False)]


def test_the_law():
    assert [law_width(p, 2) for p in (5, 13, 17, 31)] == [12, 36, 48, 90]      # 3(p − 1)
    assert law_width(5, 3) == 32 and law_width(7, 3) == 48 and law_width(5, 4) is None


# ---------------------------------------------------------------------------------------------------------
# the whole command on a fake trainer: p = 5, k = 2 (bound 16) reaching the target from `m_star` up


def fake_trials(monkeypatch, m_star: int, doubled_m_star: int | None = None):
    """run_trial replaced: seed 0 scores 1.0 at widths ≥ m_star (≥ doubled_m_star with the doubled budget),
    every other seed and width 0.95; the split is the width spread over the 2 frequencies."""
    def fake(cfg, target, doubled):
        edge = doubled_m_star if doubled and doubled_m_star is not None else m_star
        score = 1.0 if cfg.width >= edge and cfg.seed == 0 else 0.95
        return Trial(cfg.width, cfg.seed, doubled, score, score, 1.0, "converged", cfg.steps, 0.0,
                     [cfg.width - cfg.width // 2, cfg.width // 2])
    monkeypatch.setattr(mw, "run_trial", fake)


def test_the_report(monkeypatch):
    fake_trials(monkeypatch, 12)
    r = min_width(5, 2, seeds=2)
    assert r["m_min"] == 12 and r["law_width"] == 12 and r["law_holds"] is True and r["bound"] == 16
    assert r["neurons_per_frequency"] == 6.0 and r["split_at_m_min"] == [6, 6] and r["best_below_m_min"] == 0.95
    by_width = {w["width"]: w for w in r["widths"]}
    assert sorted(by_width, reverse=True) == [16, 14, 12, 11, 10]
    assert by_width[12]["best"] == 1.0 and by_width[12]["best_seed"] == 0 and by_width[12]["worst_seed"] == 1
    assert {(s["width"], s["seed"]) for s in r["stalls"]} == {(16, 1), (14, 1), (12, 1)}
    check = r["self_check"]
    assert check["ran"] and check["holds"] and check["m_min_doubled"] == 12 and check["skipped"] is None
    assert {w["width"]: w["seeds"] for w in check["widths"]} == {11: 4, 10: 4}   # twice the seeds
    doubled = [t for t in r["trials"] if t["doubled"]]
    assert doubled and all(t["steps"] == 2 * 2000 for t in doubled)               # twice the fast recipe's cap
    assert "self-check" in mw.format_report(r) and "holds" in mw.format_report(r)


def test_the_self_check_fails_when_the_doubled_budget_lowers_the_answer(monkeypatch):
    fake_trials(monkeypatch, 12, doubled_m_star=11)
    r = min_width(5, 2, seeds=1)
    assert r["m_min"] == 12 and r["self_check"]["holds"] is False and r["self_check"]["m_min_doubled"] == 11
    assert "FAILS" in mw.format_report(r)


def test_the_self_check_says_when_it_was_skipped(monkeypatch):
    fake_trials(monkeypatch, 12)
    r = min_width(5, 2, seeds=1, check=False)
    assert r["self_check"] == {"ran": False, "skipped": "not asked (--no-check)", "widths": [],
                               "m_min_doubled": None, "holds": None}
    fake_trials(monkeypatch, 17)                                  # the bound misses the target
    r = min_width(5, 2, seeds=1)
    assert r["m_min"] is None and r["self_check"]["skipped"] == "the bound itself missed the target"
    assert "self-check skipped" in mw.format_report(r)


@pytest.mark.parametrize("args, message", [
    (["--p", "4"], "prime"), (["--p", "5", "--seeds", "0"], "--seeds"), ([], "needs --p"),
    (["--p", "5", "--k", "1"], "k must be"), (["--p", "5", "--steps", "0"], "--steps"), (["--p", "5", "--start", "17"], "--start"),
    (["--p", "97", "--k", "5"], "too large"), (["--p", "211", "--k", "4"], "of memory"),
    (["--p", "5,9"], "9 is not an odd prime"), (["--p", "8..10"], "no odd prime"), (["--p", "7,5..11"], "7 is given twice"),
    (["--p", "5,x"], "'x'"), (["--p", "5", "--workers", "0"], "--workers"), (["--p", "5", "--k", "4", "--start", "law"], "k=4"),
    (["--p", "5", "--target", "fit", "--start", "law"], "--target fit"), (["--p", "5", "--start", "abc"], "'abc'"),
    (["--p", "5..11", "--start", "20"], "1..16")])
def test_bad_input_is_one_line_and_exit_2_before_any_work(monkeypatch, args, message):
    monkeypatch.setattr(mw, "run_trial", lambda *a: pytest.fail("trained on bad input"))
    monkeypatch.setattr(mw, "seconds_per_step", lambda *a: pytest.fail("estimated on bad input"))
    res = CliRunner().invoke(main, ["min-width", *args, "--json"])
    assert res.exit_code == 2 and res.stdout == ""
    assert len(res.stderr.strip().splitlines()) == 1 and message in res.stderr


def test_the_command_estimates_first_and_answers_in_json(monkeypatch, tmp_path):
    fake_trials(monkeypatch, 12)
    out = tmp_path / "answer.json"
    res = CliRunner().invoke(main, ["min-width", "--p", "5", "--seeds", "1", "--no-progress", "--json", "--out", str(out)])
    assert res.exit_code == 0, res.stderr
    assert res.stderr.startswith("min-width p=5 k=2 target margin: about ")
    answer = json.loads(res.stdout)
    assert answer["m_min"] == 12 and answer["estimate_seconds"] > 0 and json.loads(out.read_text())["m_min"] == 12


# ---------------------------------------------------------------------------------------------------------
# several primes in one call: --p parsing, the trial pool


@pytest.mark.parametrize("text, primes", [("5", [5]), ("5,7,11", [5, 7, 11]), ("5..31", [5, 7, 11, 13, 17, 19, 23, 29, 31]),
                                          ("13, 5..7", [13, 5, 7]), ("2..5", [3, 5]), ("11..11", [11])])
def test_p_lists_and_ranges(text, primes):
    assert mw.parse_primes(text) == primes


@pytest.mark.parametrize("text", ["4", "1", "5,,7", "5..", "..7", "5..7..9", "-5", "5.5", "8..10", "7,5..7"])
def test_bad_p_lists(text):
    with pytest.raises(mw.ConfigError, match="--p"):
        mw.parse_primes(text)


def test_the_law_start_is_the_laws_width():
    assert mw.start_width(17, 2, "law") == 48 and mw.start_width(7, 3, "law") == 48
    assert mw.start_width(17, 2, 40) == 40 and mw.start_width(17, 2, None) is None


def law_trials(monkeypatch, calls: list | None = None):
    """run_trial replaced: seed 0 scores 1.0 from the k = 2 law's width 3(p−1) up, all else 0.95."""
    def fake(cfg, target, doubled):
        if calls is not None:
            calls.append((cfg.p, cfg.width, cfg.seed, doubled))
        score = 1.0 if cfg.width >= 3 * (cfg.p - 1) and cfg.seed == 0 else 0.95
        return Trial(cfg.width, cfg.seed, doubled, score, score, 1.0, "converged", cfg.steps, 0.0, [])
    monkeypatch.setattr(mw, "run_trial", fake)


def test_a_sweep_gives_each_case_the_answer_it_gets_alone_and_starts_with_the_longest(monkeypatch):
    from concurrent.futures import ThreadPoolExecutor
    calls: list = []
    law_trials(monkeypatch, calls)
    cases = [mw.Case(p, 2, seeds=2, start=start) for p, start in ((5, None), (11, "law"), (7, 24))]
    answers = mw.sweep(cases, workers=2, executor=ThreadPoolExecutor(2))
    assert calls[0][0] == 11 and calls[1][0] == 11           # the most planned work (p = 11) first
    assert [a["p"] for a in answers] == [5, 11, 7] and [a["m_min"] for a in answers] == [12, 30, 18]
    assert answers[1]["start"] == 30 and answers[1]["start_asked"] == "law"
    for case, answer in zip(cases, answers):
        alone = mw.min_width(case.p, 2, seeds=2, start=case.start)
        drop = ("seconds", "trial_seconds")
        assert {k: v for k, v in answer.items() if k not in drop} == {k: v for k, v in alone.items() if k not in drop}
    assert all(a["self_check"]["holds"] for a in answers)


def test_a_failing_trial_ends_the_sweep_with_its_error(monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    def broken(cfg, target, doubled):
        raise RuntimeError(f"trial p={cfg.p} width={cfg.width} broke")
    monkeypatch.setattr(mw, "run_trial", broken)
    with pytest.raises(RuntimeError, match="broke"):
        mw.sweep([mw.Case(5, 2, seeds=1), mw.Case(7, 2, seeds=1)], workers=2, executor=ThreadPoolExecutor(2))


def test_the_command_sweeps_several_primes(monkeypatch, tmp_path):
    from concurrent.futures import ThreadPoolExecutor
    law_trials(monkeypatch)
    monkeypatch.setattr(mw, "trial_pool", lambda workers: ThreadPoolExecutor(workers))
    out = tmp_path / "sweep.json"
    res = CliRunner().invoke(main, ["min-width", "--p", "5..7,13", "--seeds", "1", "--start", "law", "--workers", "2",
                                    "--no-progress", "--json", "--out", str(out)])
    assert res.exit_code == 0, res.stderr
    assert "on 2 workers" in res.stderr
    answer = json.loads(res.stdout)
    assert answer["workers"] == 2 and [a["m_min"] for a in answer["answers"]] == [12, 18, 36]
    assert answer["machine"]["workers"] == 2 and len(answer["machine"]["load_before"]) == 3
    assert all(a["start_asked"] == "law" and a["self_check"]["holds"] for a in answer["answers"])
    assert json.loads(out.read_text())["answers"][2]["p"] == 13


def test_the_process_pool_trains_what_this_process_trains():
    """Real trials in 2 spawn workers (one torch thread each) score as in this process: fit at p = 5 with 60
    steps from width 4, one seed."""
    alone = min_width(5, 2, target="fit", seeds=1, steps=60, check=False, start=4)
    pooled = min_width(5, 2, target="fit", seeds=1, steps=60, check=False, start=4, workers=2)
    assert [(t["width"], t["score"], t["split"]) for t in pooled["trials"]] == \
        [(t["width"], t["score"], t["split"]) for t in alone["trials"]]
    assert pooled["m_min"] == alone["m_min"]


def test_k4_trials_get_the_rebalance_rounds_of_k2_and_k3():
    assert mw.trial_config(5, 4, 82, 0, "margin", False).rebalance_rounds == 2
    assert mw.trial_config(5, 4, 82, 0, "fit", False).rebalance_rounds == 0
    assert mw.trial_config(5, 2, 12, 0, "margin", False).rebalance_rounds == 2


# ---------------------------------------------------------------------------------------------------------
# real training


def test_fit_at_p5_with_few_steps():
    """Cross-entropy fit at p = 5 with 150 steps, one seed: the answer is a width whose run classifies every
    point, the widths tried below it do not, and the split counts the significant neurons."""
    r = min_width(5, 2, target="fit", seeds=1, steps=150, check=False)
    assert r["threshold"] == 1.0 and r["m_min"] is not None and 1 <= r["m_min"] <= 16 and r["law_width"] is None
    at = {w["width"]: w for w in r["widths"]}
    assert at[r["m_min"]]["best"] == 1.0
    assert all(at[m]["best"] < 1.0 for m in at if m < r["m_min"])
    assert all(sum(w["best_split"]) <= w["width"] for w in r["widths"])


@pytest.mark.slow
def test_the_k2_law_at_p5_with_its_self_check():
    r = min_width(5, 2, seeds=3)
    assert r["m_min"] == 12 and r["split_at_m_min"] == [6, 6] and r["self_check"]["holds"] is True
    assert r["best_below_m_min"] < 0.96


@pytest.mark.slow
def test_p17_width_48_reaches_the_max_margin():
    """The stall of issue 30 (0.99566 γ* on every seed before the re-phase)."""
    from fourier_circuits.runs.min_width import run_trial, trial_config
    for seed in range(2):
        trial = run_trial(trial_config(17, 2, 48, seed, "margin", False), "margin", False)
        assert trial.score >= MARGIN_TARGET and trial.split == [6] * 8


@pytest.mark.slow
def test_p7_k3_width_48_reaches_the_max_margin_with_16_per_frequency():
    """k = 3: 16 neurons per frequency suffice at p = 7 (docs/min_width.md); before the re-solve of a stuck
    frequency's phases (training/refine.py) seeds 0-3 stalled at 0.9946-0.99794 γ* with 16/16/16."""
    from fourier_circuits.runs.min_width import run_trial, trial_config
    trial = run_trial(trial_config(7, 3, 48, 0, "margin", False), "margin", False)
    assert trial.score >= MARGIN_TARGET and trial.split == [16] * 3
