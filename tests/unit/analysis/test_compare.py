"""The one evaluation (`judge_against_baseline`): a policy's answers against a baseline's, judged per prompt."""

from __future__ import annotations

import math

import pytest

from dno import io
from dno.analysis.compare import align, judge_against_baseline
from dno.errors import DnoError
from dno.judges.base import Judge, Scores
from dno.judges.oracle import OracleJudge

PROMPTS = [
    {
        "id": f"p{i}",
        "task": "arithmetic",
        "answer": 10 + i,
        "messages": [{"role": "user", "content": f"What is {i} + 10?"}],
    }
    for i in range(4)
]


def rows(answers):
    return [{"id": p["id"], "response": a} for p, a in zip(PROMPTS, answers)]


def test_outcomes_metrics_and_judgments_rows(tmp_path):
    policy = rows(["10", "11", "12", "no idea"])  # right, right, right, wrong
    baseline = rows(["10", "7", "The answer is 12, I am quite sure of it, yes", "13"])  # right, wrong, wordy, right
    m = judge_against_baseline(OracleJudge(), PROMPTS, list(reversed(policy)), baseline, tmp_path, resamples=200)
    # outcomes: tie (6 vs 6), win (6 vs 1), win (6 vs 4), loss (0 vs 6)
    assert (m["wins"], m["ties"], m["losses"], m["n"], m["failures"]) == (2, 1, 1, 4, 0)
    assert m["win_rate"] == pytest.approx(2.5 / 4) and m["judge"] == "oracle"
    assert m["mean_score"] == pytest.approx(18 / 4) and m["baseline_mean_score"] == pytest.approx(17 / 4)
    assert m["by_task"]["arithmetic"]["n"] == 4
    out = io.read_jsonl(tmp_path / "judgments.jsonl")
    assert [r["id"] for r in out] == ["p0", "p1", "p2", "p3"], "in the prompts' order, whatever the rows' order"
    assert [r["outcome"] for r in out] == [0.5, 1.0, 1.0, 0.0]
    assert [(r["policy_length"], r["baseline_length"]) for r in out] == [(2, 2), (2, 1), (2, 44), (7, 2)]
    assert all(r["task"] == "arithmetic" and r["judge"] == "oracle" for r in out)
    assert not (tmp_path / "judge_usage.json").exists(), "the oracle counts no usage"
    # "10" opens 1 of 4 policy answers ("no" another): the most common opening, ties in first-seen order
    assert m["opening"] == {"word": "10", "share": 0.25, "baseline_share": 0.25}


def test_the_most_common_opening_beside_the_baselines_share():
    from dno.analysis.stats import common_opening

    policy = ["Awesome!", "awesome, 12", "A river is long.", "Awesome", "**Awesome**"]
    baseline = ["The river", "12", "Awesome: yes", "the sea", "Rivers"]
    assert common_opening(policy, baseline) == {"word": "awesome", "share": 0.8, "baseline_share": 0.2}
    assert common_opening(["", ""], ["x"])["word"] == ""


class Counting(Judge):
    """Scores by length (the longer better), fails on empty answers, and counts its questions."""

    name = "counting"

    def __init__(self):
        self.asked = 0

    def score(self, prompt, candidates):
        self.asked += 1
        return Scores([float(len(c)) if c else math.nan for c in candidates])

    def usage(self):
        return {"questions": self.asked, "judge": self.name}


def test_failures_are_counted_and_usage_is_this_evaluations_share(tmp_path):
    j = Counting()
    j.score(PROMPTS[0], ["earlier", "use"])  # a judge may serve several evaluations
    m = judge_against_baseline(
        j, PROMPTS, rows(["long answer", "", "a", "bb"]), rows(["x", "y", "", "bb"]), tmp_path, resamples=100
    )
    assert (m["wins"], m["ties"], m["losses"], m["failures"]) == (1, 1, 0, 2)
    assert math.isnan(io.read_jsonl(tmp_path / "judgments.jsonl")[1]["outcome"])
    assert io.read_json(tmp_path / "judge_usage.json") == {"questions": 4, "judge": "counting"}


def test_a_missing_answer_is_an_error_naming_the_prompt(tmp_path):
    with pytest.raises(DnoError, match=r"baseline responses: no response for prompt 'p2' \(2 of 4 missing\)"):
        judge_against_baseline(OracleJudge(), PROMPTS, rows(["1"] * 4), rows(["1", "1"]) + [], tmp_path)
    assert align(rows(["a", "b", "c", "d"])[::-1], PROMPTS, "x")[0]["id"] == "p0"
