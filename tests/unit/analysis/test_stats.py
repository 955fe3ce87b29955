"""Win-rate statistics on constructed data with known answers."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from dno.analysis.stats import bootstrap_interval, length_controlled_win_rate, summarize, win_rate


def test_win_rate_counts_ties_as_half_and_drops_failures():
    assert win_rate([1, 1, 0.5, 0]) == pytest.approx(0.625)
    assert win_rate([1, math.nan, 0, math.nan]) == pytest.approx(0.5)
    assert math.isnan(win_rate([math.nan]))


def test_bootstrap_interval_brackets_the_estimate_and_degenerates():
    lo, hi = bootstrap_interval([1.0] * 30 + [0.0] * 10, resamples=1000)
    assert lo < 0.75 < hi and hi - lo < 0.35
    assert bootstrap_interval([0.5] * 20) == (0.5, 0.5)
    assert all(math.isnan(x) for x in bootstrap_interval([math.nan]))


def test_bootstrap_interval_covers_the_true_win_rate_about_95_percent():
    """Outcomes drawn with known P(win)=0.5, P(tie)=0.2: true win rate 0.6. Coverage over many data sets ≈ 95%."""
    rng = random.Random(7)
    true, hits, reps = 0.6, 0, 300
    for r in range(reps):
        outcomes = [rng.choices([1.0, 0.5, 0.0], [0.5, 0.2, 0.3])[0] for _ in range(120)]
        lo, hi = bootstrap_interval(outcomes, resamples=400, seed=r)
        hits += lo <= true <= hi
    coverage = hits / reps
    # ±3 standard errors of a 95% proportion over 300 trials is ±0.038; percentile bootstrap runs a bit narrow.
    assert 0.90 <= coverage <= 0.99, coverage


def _simulate(n, intercept, slope, seed, mean_diff=60.0):
    """Outcomes from P(win) = σ(intercept + slope·tanh(Δ/sd)): known LC win rate σ(intercept)."""
    rng = np.random.default_rng(seed)
    d = rng.normal(mean_diff, 80.0, n)
    p = 1 / (1 + np.exp(-(intercept + slope * np.tanh(d / d.std()))))
    return list((rng.random(n) < p).astype(float)), list(d)


def test_lc_removes_a_pure_length_effect():
    """The policy is longer on most prompts and wins only because of it: raw ≫ 0.5, LC ≈ 0.5."""
    o, d = _simulate(4000, 0.0, 2.5, seed=1)
    raw = win_rate(o)
    lc = length_controlled_win_rate(o, d, resamples=300)
    assert raw > 0.68
    assert lc["lc_win_rate"] == pytest.approx(0.5, abs=0.03)
    assert lc["lc_ci_low"] <= 0.5 <= lc["lc_ci_high"]
    assert lc["length_coef"] > 1.5


def test_lc_keeps_a_real_quality_gain_and_strips_the_length_part():
    o, d = _simulate(4000, math.log(0.7 / 0.3), 2.0, seed=2)
    lc = length_controlled_win_rate(o, d)["lc_win_rate"]
    assert win_rate(o) > 0.77
    assert lc == pytest.approx(0.7, abs=0.03)


def test_lc_equals_raw_when_length_plays_no_part():
    # Lengths vary but outcomes ignore them.
    rng = np.random.default_rng(3)
    o = list((rng.random(3000) < 0.65).astype(float))
    d = list(rng.normal(40, 80, 3000))
    assert length_controlled_win_rate(o, d)["lc_win_rate"] == pytest.approx(win_rate(o), abs=0.02)
    # No length difference at all: the fit is the raw win rate exactly (ties as soft ½ labels).
    o = [1.0, 0.0, 0.5, 1.0, 1.0, 0.5]
    assert length_controlled_win_rate(o, [0] * 6)["lc_win_rate"] == pytest.approx(win_rate(o), abs=1e-3)


def test_lc_is_finite_when_length_separates_wins_from_losses():
    d = [float(x) for x in range(-20, 80)]
    o = [1.0 if x > 0 else 0.0 for x in d]
    lc = length_controlled_win_rate(o, d, resamples=200)
    assert 0.0 < lc["lc_win_rate"] < 1.0 and math.isfinite(lc["length_coef"])
    assert lc["lc_ci_low"] <= lc["lc_win_rate"] <= lc["lc_ci_high"]
    assert math.isnan(length_controlled_win_rate([math.nan], [3])["lc_win_rate"])


def test_summarize_breaks_down_by_task():
    outcomes = [1, 1, 1, 0, 0.5, 0, 0, math.nan]
    tasks = ["a"] * 4 + ["b"] * 4
    m = summarize(outcomes, [200] * 4 + [100] * 4, [100] * 8, tasks, resamples=200)
    assert (m["n"], m["failures"], m["wins"], m["ties"], m["losses"]) == (8, 1, 3, 1, 3)
    assert m["win_rate"] == pytest.approx(3.5 / 7)
    assert m["by_task"]["a"]["win_rate"] == pytest.approx(0.75) and m["by_task"]["a"]["n"] == 4
    assert m["by_task"]["b"]["win_rate"] == pytest.approx(0.5 / 3)
    assert m["win_rate_by_task"] == {"a": pytest.approx(0.75), "b": pytest.approx(0.5 / 3)}
    assert m["mean_length"] == 150 and m["baseline_mean_length"] == 100 and m["length_ratio"] == 1.5
    assert m["by_task"]["a"]["mean_length"] == 200
    assert m["ci_low"] <= m["win_rate"] <= m["ci_high"]


def test_paired_difference_separates_what_two_separate_intervals_cannot():
    """Two methods on the same 128 prompts: B wins wherever A wins, plus 10 more prompts. Separately their
    intervals overlap; paired, the difference of 10/128 is clearly above 0."""
    from dno.analysis.stats import paired_difference

    rng = random.Random(3)
    a = {f"p{i}": float(rng.random() < 0.6) for i in range(128)}
    losses = [k for k, v in a.items() if v == 0.0][:10]
    b = {k: (1.0 if k in losses else v) for k, v in a.items()}
    d = paired_difference(b, a, resamples=2000)
    assert d["diff"] == pytest.approx(10 / 128) and d["n"] == 128
    assert 0 < d["ci_low"] < d["diff"] < d["ci_high"]
    la, ha = bootstrap_interval(list(a.values()))
    lb, hb = bootstrap_interval(list(b.values()))
    assert lb < ha, "separately the two intervals overlap"
    # only prompts both judged count; identical methods differ by exactly 0
    b["extra"], a["p0"] = 1.0, math.nan
    assert paired_difference(b, a)["n"] == 127
    assert paired_difference(a, dict(a)) == {"diff": 0.0, "ci_low": 0.0, "ci_high": 0.0, "n": 127}
