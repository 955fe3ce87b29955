"""Judges without a server: templates, parsers, config checks, the cache key, callable and local judges."""

from __future__ import annotations

import math
import re
import textwrap

import pytest

from dno.config import load_config
from dno.errors import DnoError
from dno.judges import build_judge, templates
from dno.judges.backends import Completion
from dno.judges.cache import JudgeCache, key
from dno.judges.llm import parse_rubric, parse_verdict

PROMPT = {
    "id": "x",
    "messages": [{"role": "user", "content": "What is 2 + 3? Answer with just the number."}],
    "task": "arithmetic",
    "answer": 5,
}


def test_shipped_templates_load_and_ship_with_the_package():
    assert (templates.PROMPTS_DIR / "rubric.txt").is_file() and (templates.PROMPTS_DIR / "pairwise.txt").is_file()
    text = templates.load("", "pointwise")
    rendered = templates.render_pointwise(text, PROMPT, ["5", "7"])
    assert "<response 2>\n7" in rendered and '{"1": {"reason"' in rendered
    assert "response A" in templates.render_pairwise(templates.load("", "pairwise"), PROMPT, "5", "7")


@pytest.mark.parametrize(
    "body,match",
    [
        ("{instruction} {candidates} {score}", "unknown placeholder {score}"),
        ("{instruction} only", "must use {candidates}"),
        ('{instruction} {candidates} {"1": 3}', "unknown placeholder|malformed"),
    ],
)
def test_bad_template_fails_at_config_load(tmp_path, body, match):
    path = tmp_path / "t.txt"
    path.write_text(body)
    with pytest.raises(DnoError, match=match):
        load_config(None, ["judge.type=llm", f"judge.template={path}"])


def test_judge_config_checks():
    with pytest.raises(DnoError, match="judge.type"):
        load_config(None, ["judge.type=gpt"])
    with pytest.raises(DnoError, match="eval.judge.base_url"):
        load_config(None, ["eval.judge.type=api"])
    with pytest.raises(DnoError, match="judge.function"):
        load_config(None, ["judge.type=callable"])
    with pytest.raises(DnoError, match="judge.template"):
        load_config(None, ["judge.type=api", "judge.base_url=http://h/v1", "judge.model=m", "judge.template=nope"])
    cfg = load_config(None, ["judge.type=api", "judge.base_url=http://h/v1", "judge.model=m", "judge.mode=pairwise"])
    assert cfg.judge.position == "both" and cfg.judge.api_key_env == "OPENAI_API_KEY"


def test_parse_rubric():
    assert parse_rubric('{"1": {"reason": "ok", "score": 6}, "2": {"reason": "bad", "score": 1}}', 2)[0] == [6.0, 1.0]
    assert parse_rubric('Sure! {"1": 5, "2": 2}', 2)[0] == [5.0, 2.0]
    assert parse_rubric('{"1": {"score": 9}, "2": {"score": 3}}', 2)[0] == [None, 3.0]  # out of range is missing
    assert parse_rubric('"1": {"reason": "x", "score": 4}, "2": {"reason": "y", "sco', 2)[0] == [4.0, None]
    assert parse_rubric("I like both answers.", 2)[0] == [None, None]


def test_parse_verdict_soft_and_hard():
    soft = Completion("A", [("A", {"A": math.log(0.6), "B": math.log(0.2), "The": math.log(0.1)})])
    assert parse_verdict(soft) == pytest.approx(0.75)
    # the letter the model did not consider: bounded by the least likely alternative shown
    one_sided = Completion("B", [("B", {"B": math.log(0.5), "The": math.log(0.1)})])
    assert parse_verdict(one_sided) == pytest.approx(0.1 / 0.6)
    assert parse_verdict(Completion("Response B is better.")) == 0.0
    assert parse_verdict(Completion("[[A]]")) == 1.0
    assert parse_verdict(Completion("Both are fine.")) is None
    # the soft probability is read at the verdict's letter, not at the first A or B token of the answer
    labelled = Completion(
        "B: no. Answer: A",
        [
            ("B", {"B": math.log(0.9), "A": math.log(0.1)}),
            (":", {":": 0.0}),
            (" no", {" no": 0.0}),
            (".", {".": 0.0}),
            (" Answer", {" Answer": 0.0}),
            (":", {":": 0.0}),
            (" A", {" A": math.log(0.7), " B": math.log(0.3)}),
        ],
    )
    assert parse_verdict(labelled) == pytest.approx(0.7)
    # prose that starts with the letter is no verdict, with or without log-probabilities
    prose = Completion(
        "A cat sat on the mat", [("A", {"A": math.log(0.8), "B": math.log(0.2)}), (" cat", {" cat": 0.0})]
    )
    assert parse_verdict(prose) is None


VERDICTS = [
    ("A", 1.0),
    ("B", 0.0),
    ("[[A]]", 1.0),
    ("[[B]]", 0.0),
    ("Response A", 1.0),
    ("Response B is better.", 0.0),
    ("Answer: B", 0.0),
    ("The answer is A.", 1.0),
    ("Verdict: A", 1.0),
    ("verdict: B", 0.0),
    ("Better: B", 0.0),
    ("**A**", 1.0),
    ("**B**", 0.0),
    ("A.", 1.0),
    ("B.", 0.0),
    ("(A)", 1.0),
    ("  B  ", 0.0),
    ("The better response is A", 1.0),
    ("The better response is B.", 0.0),
    ("Better response: A", 1.0),
    ("My verdict: [[B]]", 0.0),
    ("A\n\nIt gives the right sum.", 1.0),
    ("The winner is Response B", 0.0),
    ("A: A", 1.0),
    ("B - B\n", 0.0),
    ("Which is better?\nB", 0.0),
]
NOT_VERDICTS = [
    "A cat sat on the mat",
    "B is worse; A is better",
    "A is better",
    "Both are fine.",
    "A. Lincoln was right",
    "Absolutely the first one",
    "B-movies are fun",
    "I'd say A's answer",
    "Answer A and Answer B are both fine",
    "Response A is longer than Response B",
    "The answer is a good one",
    "Answer: a",
    "",
    "AB",
    "Plan A failed",
    "A: A\nB: B",
    "A: B",
    "A\nB",
    "A+B",
]


@pytest.mark.parametrize("text, p", VERDICTS)
def test_verdict_forms_are_read(text, p):
    assert parse_verdict(Completion(text)) == p


@pytest.mark.parametrize("text", NOT_VERDICTS)
def test_prose_with_the_letters_in_other_roles_is_no_verdict(text):
    assert parse_verdict(Completion(text)) is None


def test_cache_key_covers_what_changes_the_answer(tmp_path):
    s = {"model": "m", "temperature": 0.0}
    k = key(s, "T", [{"role": "user", "content": "q"}])
    assert k == key(dict(s), "T", [{"role": "user", "content": "q"}])
    assert k != key({**s, "temperature": 0.5}, "T", [{"role": "user", "content": "q"}])
    assert k != key(s, "T2", [{"role": "user", "content": "q"}])
    assert k != key(s, "T", [{"role": "user", "content": "q2"}])
    c = JudgeCache(tmp_path / "a.sqlite")
    c.put(k, {"value": 1})
    c.close()
    assert JudgeCache(tmp_path / "a.sqlite").get(k) == {"value": 1}


def test_callable_judge_pointwise_and_pairwise(tmp_path):
    mod = tmp_path / "myjudge.py"
    mod.write_text(
        textwrap.dedent("""
        def points(prompt, candidates):
            return [float(len(c)) if c else None for c in candidates]
        def prefer_short(prompt, a, b):
            return 0.5 if len(a) == len(b) else float(len(a) < len(b))
    """)
    )
    j = build_judge(load_config(None, ["judge.type=callable", f"judge.function={mod}:points"]).judge)
    s = j.score(PROMPT, ["abc", "", "a"])
    assert s.scores[0] == 3.0 and math.isnan(s.scores[1]) and s.scores[2] == 1.0
    j = build_judge(
        load_config(None, ["judge.type=callable", "judge.mode=pairwise", f"judge.function={mod}:prefer_short"]).judge
    )
    assert j.compare(PROMPT, "5", "it is 5") == 1.0
    assert j.score(PROMPT, ["5", "it is 5", "the answer is 5"]).scores == [6.0, 3.0, 0.0]
    with pytest.raises(DnoError, match="no function"):
        build_judge(load_config(None, ["judge.type=callable", f"judge.function={mod}:nope"]).judge)


def test_oracle_compare():
    from dno.judges.oracle import OracleJudge

    assert OracleJudge().compare(PROMPT, "5", "7") == 1.0
    assert OracleJudge().compare(PROMPT, "7", "5") == 0.0


def test_local_llm_judge_runs_through_the_cache(tiny_model_dir, tmp_path):
    cfg = load_config(
        None, ["judge.type=llm", "judge.model=tiny-random", "judge.mode=pairwise", "judge.parse_retries=0"]
    ).judge
    j = build_judge(cfg, cache_dir=tmp_path)
    s = j.score(PROMPT, ["5", "7"])
    assert len(s.scores) == 2  # random weights rarely say A or B: NaN (a failure), never a fake tie
    assert all(math.isnan(x) or 0 <= x <= 6 for x in s.scores)
    assert j.usage()["questions"] == 2 and j.usage()["requests_sent"] == 2
    again = build_judge(cfg, cache_dir=tmp_path)
    again.score(PROMPT, ["5", "7"])
    assert again.usage()["cache_hits"] == 2 and again.usage()["requests_sent"] == 0


BAD_CALLABLES = """
import math, time
def hangs(prompt, candidates):
    time.sleep(30)
def infinite(prompt, candidates):
    return [1.0, math.inf]
def scalar(prompt, candidates):
    return 3.0
def text(prompt, candidates):
    return ["3", 1.0]
def raises(prompt, candidates):
    return {}["missing"]
def pair_infinite(prompt, a, b):
    return -math.inf
def pair_text(prompt, a, b):
    return "a"
"""


@pytest.mark.parametrize(
    "function, mode, message",
    [
        ("hangs", "pointwise", "did not return within judge.timeout_s=0.5s"),
        ("infinite", "pointwise", "score 1 must be finite"),
        ("scalar", "pointwise", "must return a list of scores"),
        ("text", "pointwise", "score 0 must be a number or None, got str"),
        ("raises", "pointwise", "raised KeyError: 'missing' (at "),
        ("pair_infinite", "pairwise", "P(a > b) must be finite"),
        ("pair_text", "pairwise", "must be a number or None, got str"),
    ],
)
def test_a_callable_judge_that_hangs_or_returns_nonsense_is_named_in_one_line(tmp_path, function, mode, message):
    mod = tmp_path / "bad_judges.py"
    mod.write_text(BAD_CALLABLES)
    cfg = load_config(
        None, ["judge.type=callable", f"judge.mode={mode}", f"judge.function={mod}:{function}", "judge.timeout_s=0.5"]
    )
    judge = build_judge(cfg.judge)
    with pytest.raises(DnoError, match=re.escape(message)) as e:
        judge.score(PROMPT, ["a", "b"])
    assert "judge.function" in str(e.value) and "\n" not in str(e.value)


class LeansTowardsA:
    """A backend that always answers "A", more surely when the better answer (the shorter) is shown first:
    P(A) 0.95 then, 0.80 when it is shown second: the signal of a small judge under a strong position bias."""

    def __init__(self):
        import threading

        self.abort, self.stats = threading.Event(), {"requests": 0}

    def complete(self, messages, **_):
        text = messages[0]["content"]
        a = text.split("<response A>\n")[1].split("\n</response A>")[0]
        b = text.split("<response B>\n")[1].split("\n</response B>")[0]
        p = 0.95 if len(a) < len(b) else 0.80
        self.stats["requests"] += 1
        return Completion("A", [("A", {"A": math.log(p), "B": math.log(1 - p)})])

    def complete_many(self, conversations, **kwargs):
        return [self.complete(m, **kwargs) for m in conversations]


def _leaning_judge(tmp_path, *overrides):
    from dno.judges.llm import LLMJudge

    cfg = load_config(None, ["judge.type=llm", "judge.mode=pairwise", *overrides]).judge
    return LLMJudge(cfg, LeansTowardsA(), JudgeCache(tmp_path / "answers.sqlite"))


def test_calibrated_orders_cancel_a_lean_towards_a_that_averaging_keeps(tmp_path):
    def sigmoid(x):
        return 1 / (1 + math.exp(-x))

    logit = math.log(0.95 / 0.05) - math.log(0.80 / 0.20)
    plain = _leaning_judge(tmp_path / "plain")
    calibrated = _leaning_judge(tmp_path / "calibrated", "judge.calibrate=true")
    assert plain.compare(PROMPT, "5", "5 is it") == pytest.approx((0.95 + 0.20) / 2)
    assert calibrated.compare(PROMPT, "5", "5 is it") == pytest.approx(sigmoid(logit / 2))
    assert calibrated.compare(PROMPT, "5 is it", "5") == pytest.approx(1 - sigmoid(logit / 2))
    # the scores the pair rules read: averaged, the best of three sits at 3.45 (below the default threshold 3.5,
    # 0.9 above the worst); calibrated, at 4.11 (2.22 above it)
    cands = ["5", "5 it is", "the answer is 5"]
    s_plain, s_cal = plain.score(PROMPT, cands).scores, calibrated.score(PROMPT, cands).scores
    assert s_plain[0] == pytest.approx(6 * 0.575) and s_cal[0] == pytest.approx(6 * sigmoid(logit / 2))
    assert s_cal[0] - s_cal[2] > 2 > s_plain[0] - s_plain[2]
    assert sorted(range(3), key=s_plain.__getitem__) == sorted(range(3), key=s_cal.__getitem__) == [2, 1, 0]
    assert calibrated.name.endswith(":calibrated")


def test_calibrate_needs_both_orders_of_a_pairwise_judge():
    with pytest.raises(DnoError, match="judge.calibrate.*position=both"):
        load_config(None, ["judge.type=llm", "judge.mode=pairwise", "judge.position=seeded", "judge.calibrate=true"])
    with pytest.raises(DnoError, match="judge.calibrate.*mode=pairwise"):
        load_config(None, ["judge.type=llm", "judge.calibrate=true"])


def test_a_batched_judge_asks_a_text_repeated_in_a_stage_once(tmp_path):
    """Candidates repeat (short answers are often sampled twice): the same question then appears for several pairs.
    Batched, it is answered once and counted as a cache hit, as it is when the questions are asked one by one."""
    one = _leaning_judge(tmp_path / "one")
    batched = _leaning_judge(tmp_path / "batched")
    batched.backend.batch_size = batched.batch = 8
    cands = [["5", "5 it is", "5"], ["5 it is", "5"]]  # the same two texts in both prompts
    scores = [j.score_many([PROMPT, PROMPT], cands) for j in (one, batched)]
    assert [s.scores for s in scores[0]] == [s.scores for s in scores[1]]
    for j in (one, batched):  # 3 pairs of distinct texts x 2 orders, 2 distinct questions among them
        assert j.usage()["questions"] == 6 and j.usage()["cache_hits"] == 4 and j.backend.stats["requests"] == 2
