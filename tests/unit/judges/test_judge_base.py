"""The `Judge` base class: what a judge gets for free from implementing only `compare` or only `score`."""

from __future__ import annotations

import math

import pytest

from dno.judges.base import (
    SCALE,
    Judge,
    Scores,
    compare_from_scores,
    mean_win_rates,
    score_all,
    scores_from_comparisons,
)

PROMPT = {"id": "p", "messages": [{"role": "user", "content": "Say something short."}]}


class PrefersShorter(Judge):
    """Only `compare`: P(a ≻ b) = len(b) / (len(a) + len(b)); NaN when either is empty."""

    def __init__(self):
        self.calls = []

    def compare(self, prompt, a, b):
        self.calls.append((a, b))
        return math.nan if not (a and b) else len(b) / (len(a) + len(b))


class ScoresLength(Judge):
    """Only `score`: the length, NaN for an empty answer."""

    def score(self, prompt, candidates):
        return Scores([float(len(c)) if c else math.nan for c in candidates], {"by": "length"})


def test_a_judge_with_only_compare_scores_by_6_x_mean_win_rate():
    j = PrefersShorter()
    s = j.score(PROMPT, ["a", "bb", "cccc"])
    # a: mean(2/3, 4/5); bb: mean(1/3, 4/6); cccc: mean(1/5, 2/6)
    expected = [SCALE * (2 / 3 + 4 / 5) / 2, SCALE * (1 / 3 + 4 / 6) / 2, SCALE * (1 / 5 + 2 / 6) / 2]
    assert s.scores == pytest.approx(expected) and s.scores == pytest.approx([4.4, 3.0, 1.6])
    assert sorted(j.calls) == [("a", "bb"), ("a", "cccc"), ("bb", "cccc")], "each pair asked once"
    assert s.info["p"][1][0] == pytest.approx(1 / 3) and s.info["p"][0][0] == 0.5


def test_failed_comparisons_are_left_out_of_the_mean_and_a_candidate_with_none_is_nan():
    s = PrefersShorter().score(PROMPT, ["a", "", "bbb"])
    assert s.scores[0] == pytest.approx(SCALE * 3 / 4) and s.scores[2] == pytest.approx(SCALE * 1 / 4)
    assert math.isnan(s.scores[1]), "never a fake middle score"
    assert PrefersShorter().score(PROMPT, ["alone"]).scores == [SCALE / 2]


def test_a_judge_with_only_score_compares_by_its_scores():
    j = ScoresLength()
    assert j.compare(PROMPT, "long answer", "short") == 1.0
    assert j.compare(PROMPT, "short", "long answer") == 0.0
    assert j.compare(PROMPT, "same", "size") == 0.5
    assert math.isnan(j.compare(PROMPT, "", "x"))
    assert j.compare_shown(PROMPT, "long answer", "short") == 1.0, "no order seen: compare_shown is compare"


def test_base_defaults():
    j = ScoresLength()
    assert j.usage() is None and Judge().usage() is None
    assert isinstance(ScoresLength.from_config(object()), ScoresLength)
    assert ScoresLength.check_config(object(), "judge") is None
    assert ScoresLength.preflight(object(), "judge", [PROMPT]) is None

    class Progress:
        n = 0

        def update(self, k):
            self.n += k

    bar = Progress()
    out = score_all(j, [PROMPT, PROMPT], [["ab", "a"], ["", "abc"]], progress=bar)
    assert out[0].scores == [2.0, 1.0] and math.isnan(out[1].scores[0]) and out[1].scores[1] == 3.0
    assert bar.n == 2


def test_conversions():
    assert compare_from_scores(5, 3) == 1.0 and compare_from_scores(3, 5) == 0.0 and compare_from_scores(4, 4) == 0.5
    assert math.isnan(compare_from_scores(math.nan, 1))
    p = [[0.5, 0.9, math.nan], [0.1, 0.5, 0.4], [math.nan, 0.6, 0.5]]
    assert mean_win_rates(p) == pytest.approx([0.9, 0.25, 0.6])
    assert scores_from_comparisons(p) == pytest.approx([5.4, 1.5, 3.6])
    assert math.isnan(mean_win_rates([[0.5, math.nan], [math.nan, 0.5]])[0])
    assert mean_win_rates([[0.5]], alone=0.5) == [0.5] and scores_from_comparisons([[0.5]]) == [SCALE / 2]
