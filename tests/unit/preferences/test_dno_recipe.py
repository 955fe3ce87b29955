"""DNO's pieces beyond plain DPO: r_t estimates, soft targets, degenerate samples, replay (the losses of the
baselines are in tests/unit/training/test_losses.py)."""

import math

import pytest

from dno.preferences.degenerate import is_degenerate
from dno.preferences.pairing import all_pairs, soft_target, win_rate_estimates
from dno.preferences.replay import replay_counts, sample_replay


def test_win_rate_estimates_by_hand():
    # candidate 0 beats both others; 1 ties 2 → r = [1, 0.25, 0.25]
    assert win_rate_estimates([6, 1, 1]) == [1.0, 0.25, 0.25]
    assert win_rate_estimates([3, 3]) == [0.5, 0.5]
    r = win_rate_estimates([6, math.nan, 0])
    assert r[0] == 1.0 and math.isnan(r[1]) and r[2] == 0.0
    assert math.isnan(win_rate_estimates([5])[0])  # no opponent, no estimate


def test_soft_target_and_all_pairs():
    assert soft_target(1.0, 0.0) == pytest.approx(1 / (1 + math.exp(-1)))
    assert soft_target(0.5, 0.5) == 0.5
    rates = [0.25, 1.0, 0.25, 0.5]
    assert all_pairs(rates, 10) == [(1, 0), (1, 2), (1, 3), (3, 0), (3, 2)]  # biggest gaps first, no ties
    assert all_pairs(rates, 2) == [(1, 0), (1, 2)]


@pytest.mark.parametrize(
    "text",
    [
        "31 + 95 = 126.33333333333333333333",
        "the answer is the answer is the answer is",
        "ha ha ha ha ha ha ha ha ha",
        "!!!!!!!!!!!!!!!!",
    ],
)
def test_degenerate_samples_are_detected(text):
    assert is_degenerate(text)


@pytest.mark.parametrize(
    "text",
    [
        "42",
        "The answer is 42.",
        "- one\n- two\n- three",
        "Coffee is warm, coffee is dark, and I like it.",
        "1000000",
        "www.example.com",
    ],
)
def test_normal_samples_are_not_degenerate(text):
    assert not is_degenerate(text)


def test_replay_counts_follow_the_paper_shares():
    # 70 current pairs, 30% from t-1 and 15% from t-2 of the final mix: total 70/(1-.45) ≈ 127
    assert replay_counts(70, [100, 100], 0.3, 0.5) == [38, 19]
    assert replay_counts(70, [5, 100], 0.3, 0.5) == [5, 19]  # capped by what exists
    assert replay_counts(70, [], 0.3, 0.5) == []
    assert replay_counts(0, [100], 0.3, 0.5) == [0]
    assert replay_counts(70, [100], 0.0, 0.5) == [0]


def test_sample_replay_is_seeded_and_marks_its_origin():
    earlier = [[{"id": f"a{i}"} for i in range(50)], [{"id": f"b{i}"} for i in range(50)]]
    a = sample_replay(earlier, 70, 0.3, 0.5, seed=3)
    assert a == sample_replay(earlier, 70, 0.3, 0.5, seed=3)
    assert a != sample_replay(earlier, 70, 0.3, 0.5, seed=4)
    assert sum(p["replay_from"] == 1 for p in a) == 38 and sum(p["replay_from"] == 2 for p in a) == 19
    assert {p["replay_from"] for p in a} == {1, 2}
    assert len({p["id"] for p in a}) == len(a)  # without replacement
