"""The noisy judge: the rates it produces, reproducibility from content and seed, and no noise = the clean judge."""

from __future__ import annotations

import json
import math
import statistics

import pytest

from dno.analysis.agreement import measure
from dno.config import NoiseConfig, load_config
from dno.errors import DnoError
from dno.judges import build_judge
from dno.judges.base import Judge, Scores
from dno.judges.noisy import NoisyJudge, reorder, wrong_pairs
from dno.judges.oracle import OracleJudge


class CountsX(Judge):
    """Clean judge: a candidate scores the number of x's in it (NaN for "fail")."""

    name = "x"

    def score(self, prompt, candidates):
        return Scores([math.nan if c == "fail" else float(c.count("x")) for c in candidates], {"seen": len(candidates)})


def prompts(n, make):
    return [{"id": f"p{i}", "messages": []} for i in range(n)], [make(i) for i in range(n)]


def noisy(**rates):
    return NoisyJudge(CountsX(), NoiseConfig(**rates))


def rate(outs, event):
    return sum(list(o.info["noise"]["events"].values()).count(event) for o in outs)


def test_flip_reverses_the_stated_share_of_comparisons():
    ps, cs = prompts(2000, lambda i: [f"{i} " + "x" * (i % 3 + 1), f"{i} xxxxx"])
    outs = noisy(flip=0.2).score_many(ps, cs)
    wrong = sum(o.info["noise"]["wrong"] for o in outs) / sum(o.info["noise"]["pairs"] for o in outs)
    assert wrong == pytest.approx(0.2, abs=0.03) and rate(outs, "flip") == wrong * 2000
    ps, cs = prompts(500, lambda i: [f"{i} " + "x" * k for k in (0, 1, 5, 6)])
    outs = noisy(flip=0.2).score_many(ps, cs)
    assert rate(outs, "flip") / 3000 == pytest.approx(0.2, abs=0.03)
    # reordered, never rescaled: the clean scores handed out again (tied ranks share theirs)
    assert all(sum(o.scores) == 12 and 0 <= min(o.scores) <= max(o.scores) <= 6 for o in outs)
    assert sum(sorted(o.scores) == [0.0, 1.0, 5.0, 6.0] for o in outs) > 250
    assert sum(o.info["noise"]["wrong"] for o in outs) / 3000 == pytest.approx(0.2, abs=0.03)


def test_position_and_length_bias_rates():
    ps, cs = prompts(2000, lambda i: [f"{i} x", f"{i} xxx"])  # the second shown is better
    outs = noisy(position_bias=0.3).score_many(ps, cs)
    first_wins = sum(o.scores[0] > o.scores[1] for o in outs) / 2000
    assert first_wins == pytest.approx(0.3, abs=0.03) and rate(outs, "position") == pytest.approx(600, abs=60)
    ps, cs = prompts(2000, lambda i: [f"{i} xxx", f"{i} x" + "y" * 20])  # the longer one is worse
    outs = noisy(length_bias=0.4).score_many(ps, cs)
    assert sum(o.scores[1] > o.scores[0] for o in outs) / 2000 == pytest.approx(0.4, abs=0.03)
    assert rate(outs, "length") == sum(o.info["noise"]["wrong"] for o in outs)


def test_score_noise_is_gaussian_with_the_stated_sd():
    ps, cs = prompts(1000, lambda i: [f"{i} x", f"{i} xx"])
    outs = noisy(score_sd=0.5).score_many(ps, cs)
    d = [x - c for o in outs for x, c in zip(o.scores, o.info["clean"]["scores"])]
    assert statistics.mean(d) == pytest.approx(0, abs=0.05) and statistics.stdev(d) == pytest.approx(0.5, abs=0.05)
    assert d == pytest.approx([g for o in outs for g in o.info["noise"]["score_noise"]])
    # each score its own draw: a 1-point gap is reversed with P = Φ(-1 / (0.5 √2)) = 0.079
    wrong = sum(o.info["noise"]["wrong"] for o in outs) / 1000
    assert wrong == pytest.approx(statistics.NormalDist().cdf(-1 / (0.5 * math.sqrt(2))), abs=0.025)


def test_same_seed_same_judgments_whatever_the_batching_other_seed_others():
    ps, cs = prompts(200, lambda i: [f"{i} " + "x" * k for k in (1, 2, 3)] + ["fail"])
    rates = dict(flip=0.2, position_bias=0.1, length_bias=0.1, score_sd=0.3)
    all_at_once = noisy(**rates).score_many(ps, cs)
    one_by_one = [noisy(**rates).score(p, c) for p, c in reversed(list(zip(ps, cs)))][::-1]  # shards, resumes
    assert json.dumps([(o.scores, o.info) for o in all_at_once]) == json.dumps([(o.scores, o.info) for o in one_by_one])
    assert all(math.isnan(o.scores[3]) for o in all_at_once), "a failed judgment stays failed"
    other = noisy(**rates, seed=1).score_many(ps, cs)
    assert sum(a.info["noise"]["events"] != b.info["noise"]["events"] for a, b in zip(all_at_once, other)) > 100
    assert (
        sum(a.info["noise"]["score_noise"] != b.info["noise"]["score_noise"] for a, b in zip(all_at_once, other)) == 200
    )


def test_no_noise_is_exactly_the_clean_judge():
    assert type(build_judge(load_config(None, []).judge)) is OracleJudge
    assert type(build_judge(load_config(None, ["judge.noise.seed=3"]).judge)) is OracleJudge
    ps, cs = prompts(50, lambda i: [f"{i} " + "x" * (i % 4), f"{i} xx", "fail", f"{i} xx"])
    clean = CountsX().score_many(ps, cs)
    for o, c in zip(noisy().score_many(ps, cs), clean):
        assert o.scores == pytest.approx(c.scores, nan_ok=True) and o.info["clean"]["info"] == c.info
        assert o.info["noise"]["events"] == {}
    j = build_judge(load_config(None, ["judge.noise.flip=0.2"]).judge)
    assert isinstance(j, NoisyJudge) and isinstance(j.inner, OracleJudge) and j.name == "oracle+noise"
    with pytest.raises(DnoError, match="`judge.noise.flip` must be in"):
        load_config(None, ["judge.noise.flip=1.5"])


def test_the_same_text_twice_is_never_told_apart():
    ps, cs = prompts(100, lambda i: [f"{i} xx", f"{i} xx"])
    outs = noisy(position_bias=1.0, flip=1.0).score_many(ps, cs)
    assert all(o.scores == [2.0, 2.0] and o.info["noise"]["events"] == {} for o in outs)
    three = noisy(position_bias=1.0).score({"id": "p", "messages": []}, ["xx", "x", "xx"])
    assert three.scores[0] == three.scores[2] and three.info["noise"]["events"] == {
        "0,1": "position",
        "1,2": "position",
    }


def test_compare_shown_carries_the_noise_for_dno_agree():
    pairs = [({"id": f"p{i}", "messages": []}, f"{i} xxx", f"{i} x") for i in range(20)]
    r = measure(noisy(position_bias=1.0), pairs)
    assert r["first_position_rate"] == 1.0 and r["position_consistency"] == 0.0 and r["agreement"] == 0.5
    assert measure(noisy(flip=1.0), pairs)["agreement"] == 0.0


def test_reorder_and_wrong_pairs():
    assert reorder([6.0, 3.0, 0.0], [0.0, 1.0, 0.5]) == [0.0, 6.0, 3.0]
    assert reorder([6.0, 3.0, 0.0], [0.5, 0.5, 0.5]) == [3.0, 3.0, 3.0]  # a cycle: all tied
    out = reorder([6.0, math.nan, 0.0], [0.0, math.nan, 1.0])
    assert out[0] == 0.0 and math.isnan(out[1]) and out[2] == 6.0
    assert wrong_pairs([1.0, 2.0, 2.0], [3.0, 2.0, 1.0]) == (2.5, 3)  # two reversed, one tied (½)
    assert wrong_pairs([1.0, 2.0, 3.0], [3.0, 2.0, 2.0]) == (2.0, 2)  # a clean tie is no pair to get wrong
