"""The API judge against a real OpenAI-compatible server (llama-cpp-python serving SmolLM2 on 127.0.0.1),
with real faults: the server killed mid-batch and restarted, a refused port, a reply slower than the timeout.
Request counts come from the server's own log of what it received (tests/llama_server.py)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dno.config import load_config
from dno.errors import DnoError
from dno.judges import build_judge
from dno.tasks import _finish, synthetic_pool

pytest.importorskip("llama_cpp")

ROOT = Path(__file__).resolve().parents[2]
KEY_ENV = "DNO_TEST_JUDGE_KEY"


def prompts(n: int, seed: int = 7) -> list[dict]:
    return [
        _finish(dict(r), f"p{i}") for i, r in enumerate(synthetic_pool(n, {"arithmetic": 1, "instructions": 1}, seed))
    ]


def candidates(p: dict) -> list[str]:
    if p["task"] == "arithmetic":
        return [str(p["answer"]), f"I think it is {p['answer'] + 3}.", "no idea"]
    return ["a quiet river runs.", "THE RIVER IS BLUE AND OLD", ""]


def only_parse_failures(results) -> bool:
    """No comparison failed for a transport reason (a weak judge may still give an unparseable verdict)."""
    return all(x["error"] in (None, "unparseable") for r in results for d in r.info["comparisons"].values() for x in d)


def some_judged(results) -> bool:
    """At least one candidate got a real score: a judge whose every answer fails has measured nothing."""
    return any(not math.isnan(x) for r in results for x in r.scores)


def judge_cfg(server, **kw):
    over = {
        "type": "api",
        "base_url": server.base_url,
        "model": "smollm2",
        "api_key_env": KEY_ENV,
        "mode": "pairwise",
        "concurrency": 2,
        "timeout_s": 30,
        "max_retries": 3,
        "backoff_s": 0.2,
        **kw,
    }
    return load_config(None, [f"judge.{k}={v}" for k, v in over.items()]).judge


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-test-SECRET-9f8e7d")
    return "sk-test-SECRET-9f8e7d"


def test_pointwise_rubric_and_cache(llama_server, tmp_path):
    ps = prompts(2)
    cands = [candidates(p) for p in ps]
    j = build_judge(judge_cfg(llama_server, mode="pointwise", max_tokens=160), cache_dir=tmp_path)
    first = j.score_many(ps, cands)
    # SmolLM2-135M rarely writes the rubric's JSON (measured: none of 6 prompts with 3 candidates), so a real
    # score is not required here (the pairwise tests below require them); what is required is that a failure
    # is all-NaN, never a partial or fake score, keeps the raw text, and is counted.
    failed = 0
    for s in first:
        assert len(s.scores) == 3
        if any(math.isnan(x) for x in s.scores):  # a failure keeps the raw text, and is never a tie
            assert all(math.isnan(x) for x in s.scores)
            assert s.info["error"] == "unparseable" and isinstance(s.info["raw"], str) and s.info["raw"]
            failed += 1
        else:
            assert all(0 <= x <= 6 for x in s.scores) and len(s.info["reasons"]) == 3
    u = j.usage()
    assert u["questions"] == 2 and u["cache_hits"] == 0 and u["prompt_tokens"] > 0
    assert u["answered"] == 2 and u["unparseable"] == failed
    assert u["requests_sent"] == 2 + u["parse_retries"] and u["parse_retries"] >= failed  # each failure re-asked
    recv_before, _ = llama_server.counts()
    again = build_judge(judge_cfg(llama_server, mode="pointwise", max_tokens=160), cache_dir=tmp_path)
    second = again.score_many(ps, cands)
    assert sum(llama_server.counts()[0].values()) == sum(recv_before.values())  # nothing asked twice
    assert again.usage()["cache_hits"] == 2 and again.usage()["requests_sent"] == 0
    assert [s.scores for s in second] == [s.scores for s in first] or all(
        math.isnan(a) and math.isnan(b) or a == b for x, y in zip(first, second) for a, b in zip(x.scores, y.scores)
    )


def test_unparseable_answer_is_a_recorded_failure_not_a_tie(llama_server, tmp_path):
    # One token of budget cannot hold a score for each of 3 candidates: always unparseable.
    j = build_judge(judge_cfg(llama_server, mode="pointwise", max_tokens=1, parse_retries=1), cache_dir=tmp_path)
    p = prompts(1, seed=11)[0]
    s = j.score(p, candidates(p))
    assert all(math.isnan(x) for x in s.scores)
    assert s.info["error"] == "unparseable" and "raw" in s.info
    assert j.usage()["requests_sent"] == 2 and j.usage()["unparseable"] == 1  # asked, re-asked, then recorded
    again = build_judge(judge_cfg(llama_server, mode="pointwise", max_tokens=1, parse_retries=1), cache_dir=tmp_path)
    assert all(math.isnan(x) for x in again.score(p, candidates(p)).scores)
    assert again.usage()["requests_sent"] == 0  # the failure was paid for once and is not re-bought


def test_pairwise_soft_both_orders(llama_server, tmp_path):
    j = build_judge(judge_cfg(llama_server), cache_dir=tmp_path)
    p = prompts(1)[0]
    a, b = candidates(p)[:2]
    pab = j.compare(p, a, b)
    assert 0 <= pab <= 1 and pab not in (0.0, 1.0)  # soft, from log-probabilities
    pba = j.compare(p, b, a)
    assert pba == pytest.approx(1 - pab)  # both orders were judged once; the reverse question is the same two
    assert j.usage()["requests_sent"] == 2 and j.usage()["cache_hits"] == 2
    s = j.score(p, [a, b])
    assert s.scores == pytest.approx([6 * pab, 6 * (1 - pab)])


def test_pairwise_seeded_position_is_one_request_and_reproducible(llama_server, tmp_path):
    p = prompts(1)[0]
    a, b = candidates(p)[:2]
    j = build_judge(judge_cfg(llama_server, position="seeded"), cache_dir=tmp_path / "c1")
    pab, pba = j.compare(p, a, b), j.compare(p, b, a)
    assert pba == pytest.approx(1 - pab) and j.usage()["requests_sent"] == 1
    j2 = build_judge(judge_cfg(llama_server, position="seeded"), cache_dir=tmp_path / "c2")
    assert j2.compare(p, a, b) == pytest.approx(pab)  # a fresh cache, a fresh request: same order, same answer


def test_server_killed_mid_batch_and_restarted(fault_server, tmp_path):
    ps = prompts(4)
    j = build_judge(judge_cfg(fault_server, max_retries=8, backoff_s=0.3), cache_dir=tmp_path)
    saw = {}

    def outage():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and sum(fault_server.counts()[1].values()) < 3:
            time.sleep(0.05)
        saw["done_before_kill"] = sum(fault_server.counts()[1].values())
        fault_server.kill()
        time.sleep(1.0)
        fault_server.start()

    t = threading.Thread(target=outage)
    t.start()
    results = j.score_many(ps, [candidates(p) for p in ps])
    t.join()
    assert fault_server.starts == 2
    u = j.usage()
    assert u["http_connection_errors"] >= 1 and u["transport_failures"] == 0
    assert only_parse_failures(results) and some_judged(results)
    recv, done = fault_server.counts()
    assert max(done.values()) == 1  # no question answered twice, across the restart
    assert u["answered"] == 4 * 3 * 2  # 4 prompts x 3 pairs x 2 orders (+ any re-asks of unparseable answers)
    assert sum(done.values()) == u["requests_sent"] - u["http_connection_errors"]


def test_interrupted_stage_resumes_without_asking_twice(fault_server, tmp_path):
    ps = prompts(3, seed=3)
    cands = [candidates(p) for p in ps]
    j = build_judge(judge_cfg(fault_server, max_retries=2, backoff_s=0.1), cache_dir=tmp_path)

    def crash():
        while sum(fault_server.counts()[1].values()) < 4:
            time.sleep(0.05)
        fault_server.kill()  # and it stays down: the stage must stop, not invent answers

    t = threading.Thread(target=crash)
    t.start()
    with pytest.raises(DnoError, match="judge.base_url"):
        j.score_many(ps, cands)
    t.join()
    answered_first = j.usage()["answered"]
    assert 4 <= answered_first < 18
    fault_server.start()
    resumed = build_judge(judge_cfg(fault_server, max_retries=2, backoff_s=0.1), cache_dir=tmp_path)
    out = resumed.score_many(ps, cands)
    assert only_parse_failures(out) and some_judged(out) and resumed.usage()["transport_failures"] == 0
    assert resumed.usage()["cache_hits"] == answered_first
    recv, done = fault_server.counts()
    assert max(done.values()) == 1  # no request body was answered twice, across both runs
    assert answered_first + resumed.usage()["answered"] == 3 * 3 * 2  # and every question was answered once


def test_refused_port_is_a_one_line_error(tmp_path):
    from llama_server import free_port

    class Nowhere:
        base_url = f"http://127.0.0.1:{free_port()}/v1"

    j = build_judge(judge_cfg(Nowhere, max_retries=2, backoff_s=0.05), cache_dir=tmp_path)
    p = prompts(1)[0]
    t0 = time.monotonic()
    with pytest.raises(DnoError) as e:
        j.compare(p, "a", "b")
    assert Nowhere.base_url in str(e.value) and "\n" not in str(e.value)
    assert j.usage()["http_connection_errors"] == 3 and time.monotonic() - t0 < 10


def test_reply_slower_than_timeout_is_retried_then_a_failure(fault_server, tmp_path):
    cfg = judge_cfg(fault_server, mode="pointwise", max_tokens=400, timeout_s=0.3, max_retries=1, backoff_s=0.05)
    j = build_judge(cfg, cache_dir=tmp_path)
    p = prompts(1)[0]
    t0 = time.monotonic()
    s = j.score(p, candidates(p))
    assert time.monotonic() - t0 < 5
    assert all(math.isnan(x) for x in s.scores) and "timeout" in s.info["error"]
    u = j.usage()
    assert u["http_timeouts"] == 2 and u["transport_failures"] == 1
    # A transport failure is not cached: once the server answers in time, the question is asked again.
    slow_ok = build_judge(judge_cfg(fault_server, mode="pointwise", max_tokens=400, timeout_s=120), cache_dir=tmp_path)
    slow_ok.score(p, candidates(p))
    assert slow_ok.usage()["cache_hits"] == 0 and slow_ok.usage()["answered"] == 1


def test_missing_key_env_is_an_error(llama_server, monkeypatch, tmp_path):
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(DnoError, match=KEY_ENV):
        build_judge(judge_cfg(llama_server), cache_dir=tmp_path)


def test_dno_run_with_api_judge_completes_an_iteration_and_never_writes_the_key(llama_server, tmp_path, api_key):
    run_dir = tmp_path / "run"
    judge = [
        f"base_url={llama_server.base_url}",
        "model=smollm2",
        f"api_key_env={KEY_ENV}",
        "type=api",
        "mode=pairwise",
        "concurrency=2",
        "price_input_per_mtok=0.15",
        "price_output_per_mtok=0.6",
    ]
    args = (
        [
            "configs/tiny.yaml",
            "iterations=1",
            "data.prompts_per_iteration=3",
            "data.test_prompts=3",
            "sample.k=4",
            "threads=1",
            # any two candidates the weak judge tells apart make a pair (the prct rule's margins need a judge that
            # separates them, which SmolLM2 on tiny-random's text seldom does: iteration 1 would stop, no pairs)
            "pair.rule=all",
        ]
        + [f"judge.{x}" for x in judge]
        + [f"eval.judge.{x}" for x in judge]
    )
    env = dict(os.environ, DNO_CACHE=os.environ.get("DNO_CACHE", str(Path.home() / ".cache" / "dno")))
    proc = subprocess.run(
        [sys.executable, "-m", "dno.cli", "run", *args, "--run-dir", str(run_dir)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (run_dir / "iter_1" / "eval" / "metrics.json").is_file()
    import json

    usage = json.loads((run_dir / "iter_1" / "judge_usage.json").read_text())
    assert usage["questions"] > 0 and usage["prompt_tokens"] > 0 and usage["cost_usd"] > 0
    # (tiny-random's greedy answers may equal the baseline's: identical answers are a tie without a request)
    assert "questions" in json.loads((run_dir / "iter_1" / "eval" / "judge_usage.json").read_text())
    assert json.loads((run_dir / "iter_1" / "eval" / "metrics.json").read_text())["n"] == 3
    judged = [json.loads(line) for line in (run_dir / "iter_1" / "judgments.jsonl").read_text().splitlines()]
    scores = [x for row in judged for x in row["scores"]]
    assert scores and any(x is not None and not math.isnan(x) for x in scores), "every training judgment failed"
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert api_key.encode() not in path.read_bytes(), path
    assert api_key not in proc.stdout + proc.stderr


def test_injected_429_5xx_and_resets_lose_nothing_invent_nothing_and_pay_once(llama_server, tmp_path):
    """≥ 100 faults through a real proxy in front of the real server: every judgment equals the one a
    fault-free pass gets, and the server answered each question once (plus once per answer cut mid-body,
    which was paid for and never arrived)."""
    from fault_proxy import FAULTS, FaultProxy

    ps = prompts(12, seed=11)
    cands = [candidates(p) for p in ps]
    clean = build_judge(judge_cfg(llama_server, logprobs=False), cache_dir=None).score_many(ps, cands)
    before = llama_server.counts()[1]
    proxy = FaultProxy(llama_server.base_url, rate=0.62, seed=1).start()
    try:

        class Via:
            base_url = proxy.base_url

        j = build_judge(judge_cfg(Via, logprobs=False, max_retries=30, backoff_s=0.001), cache_dir=tmp_path)
        faulty = j.score_many(ps, cands)
    finally:
        proxy.stop()
    faults = sum(proxy.faults.values())
    print(f"\ninjected {faults} faults: {dict(proxy.faults)}; questions {len(proxy.delivered)}")
    assert faults >= 100 and set(proxy.faults) == set(FAULTS)
    assert [r.scores for r in faulty] == [r.scores for r in clean]  # nothing lost, nothing invented
    u = j.usage()
    assert u["transport_failures"] == 0 and u["answered"] == 12 * 3 * 2
    assert set(proxy.delivered.values()) == {1}, "a question whose answer arrived was asked again"
    assert len(proxy.delivered) == u["answered"] + u["parse_retries"]  # a re-ask of an unparseable answer differs
    recv, done = llama_server.counts()
    for sha, n in proxy.delivered.items():  # the server's own log: paid once, plus the answers cut mid-body
        assert done[sha] - before[sha] == n + proxy.lost_after_answer[sha]
