"""The local LLM judge answers `judge.batch_size` questions per batch (padded; the instructions all questions
share run once per batch; dno's decoding loop). On the real SmolLM2 the batched verdicts are the one-at-a-time ones: the same letters,
the same soft P(A) to float precision."""

from __future__ import annotations

import math

import pytest

from dno.config import load_config
from dno.judges import build_judge

pytest.importorskip("gguf")

PROMPTS = [
    {"id": f"p{i}", "messages": [{"role": "user", "content": f"What is {a} + {b}? Answer with just the number."}]}
    for i, (a, b) in enumerate([(17, 25), (8, 9), (41, 33)])
]
CANDIDATES = [
    ["42", "17 + 25 = 32", "The answer is 42, because 17 plus 25 is 42."],
    ["17", "8 + 9 = 17", "I think it is 16."],
    ["74", "The sum of 41 and 33 is seventy-four.", "41 + 33 = 75"],
]


def _judge(tmp_path, batch_size: int, *over):
    cfg = load_config(
        None, ["judge.type=llm", "judge.mode=pairwise", f"judge.batch_size={batch_size}", "judge.device=cpu", *over]
    ).judge
    return build_judge(cfg, cache_dir=tmp_path)


@pytest.fixture
def batches(monkeypatch):
    """The size of each batch the local judge decodes, in order."""
    from dno.generation import hf

    calls, inputs = [], hf.shared_prompt_inputs
    monkeypatch.setattr(
        hf, "shared_prompt_inputs", lambda m, enc, *a: calls.append(len(enc["input_ids"])) or inputs(m, enc, *a)
    )
    return calls


def during(calls, work):
    """What `work()` returns, and the batches decoded while it ran."""
    start = len(calls)
    return work(), calls[start:]


def test_batched_verdicts_are_the_one_at_a_time_ones(tmp_path, batches):
    one, many = _judge(tmp_path / "one", 1), _judge(tmp_path / "many", 8)
    a, one_calls = during(batches, lambda: one.score_many(PROMPTS, CANDIDATES))
    b, many_calls = during(batches, lambda: many.score_many(PROMPTS, CANDIDATES))
    assert len(one_calls) == 18 and set(one_calls) == {1}  # 3 prompts x 3 pairs x 2 orders
    assert many_calls == [8, 8, 2]
    for x, y in zip(a, b):
        assert x.scores == pytest.approx(y.scores, abs=1e-4)
        for pair, details in x.info["comparisons"].items():
            for d1, d2 in zip(details, y.info["comparisons"][pair]):
                assert d1["p_shown_a"] == pytest.approx(d2["p_shown_a"], abs=1e-4) and d1["error"] == d2["error"]
    assert all(not math.isnan(s) for x in b for s in x.scores)
    u = many.usage()
    assert u["questions"] == 18 and u["answered"] == 18 and u["cache_hits"] == 0 and u["completion_tokens"] >= 18
    again = _judge(tmp_path / "many", 8)
    c, again_calls = during(batches, lambda: again.score_many(PROMPTS, CANDIDATES))
    assert [s.scores for s in c] == [s.scores for s in b]
    assert again_calls == [] and again.usage()["cache_hits"] == 18


def test_dno_agree_on_a_batched_local_judge_measures_what_one_at_a_time_does(tmp_path, batches):
    from dno.analysis.agreement import measure, oracle_pairs

    for p, a in zip(PROMPTS, (42, 17, 74)):
        p.update(task="arithmetic", answer=a)
    pairs = oracle_pairs(PROMPTS, CANDIDATES, 60)
    one = _judge(tmp_path / "one", 1)
    many = _judge(tmp_path / "many", 8, "judge.mode=pointwise", "judge.max_tokens=24", "judge.parse_retries=0")
    many_pairwise = _judge(tmp_path / "many_pairwise", 8)
    a = measure(one, pairs)
    b, pairwise_calls = during(batches, lambda: measure(many_pairwise, pairs))
    assert len(pairs) >= 4 and pairwise_calls == [8] * (2 * len(pairs) // 8) + [2 * len(pairs) % 8] * (
        len(pairs) % 4 > 0
    )
    for x, y in zip(a["rows"], b["rows"]):
        assert x["p_winner_first"] == pytest.approx(y["p_winner_first"], abs=1e-4, nan_ok=True)
    assert a["agreement"] == b["agreement"] and a["position_consistency"] == b["position_consistency"]
    pointwise, calls = during(
        batches, lambda: measure(many, pairs)
    )  # rubric answers for [a, b] and [b, a], batched too
    assert pointwise["pairs"] == len(pairs) and calls and max(calls) > 1
