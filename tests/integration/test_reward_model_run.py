"""A whole tiny run judged by a reward model (training and eval), its judge stage sharded, `dno agree` and the
report on it."""

from __future__ import annotations

import shutil

import pytest
from tiny_runs import FAST

from dno import io
from dno.cli import main


def test_a_run_judged_by_a_reward_model(tiny_reward_model_dir, tmp_path, capsys):
    rm = ["judge.type=reward_model", f"judge.model={tiny_reward_model_dir}"]
    run = tmp_path / "run"
    assert main(["run", *FAST, *rm, *(f"eval.{x}" for x in rm), "--run-dir", str(run)]) == 0
    d = run / "iter_1"
    rows = io.read_jsonl(d / "judgments.jsonl")
    k = len(rows[0]["scores"])
    assert len(rows) == 12 and all(len(r["info"]["raw"]) == k and r["info"]["truncated"] == 0 for r in rows)
    assert rows[0]["judge"] == f"reward_model:{tiny_reward_model_dir.name}"
    check = io.read_json(run / "judge_check.json")  # the judge check, on the same judge, before the judging
    assert check["usage"]["texts"] == 4 * check["pairs"] > 0  # two orders of two texts per pair
    assert io.read_json(d / "judge_usage.json")["texts"] == 12 * k + check["usage"]["texts"]
    assert io.read_jsonl(d / "pairs.jsonl"), "rank scores always separate distinct candidates"
    ev = io.read_jsonl(d / "eval" / "judgments.jsonl")
    assert len(ev) == 4 and all(len(r["info"]["raw"]) == 2 for r in ev)
    assert (d / "eval" / "metrics.json").is_file()

    # the judge stage in two shards, with no cache to lean on: the same judgments
    shard = tmp_path / "shard"
    shutil.copytree(run, shard, ignore=shutil.ignore_patterns("judgments.jsonl", "judge_cache", "judge_usage.json"))
    for i in (1, 0):
        assert main(["judge", str(shard), "--iter", "1", "--shard", f"{i}/2"]) == 0
    again = io.read_jsonl(shard / "iter_1" / "judgments.jsonl")
    assert [r["scores"] for r in again] == [r["scores"] for r in rows]
    assert [r["info"]["raw"] for r in again] == [pytest.approx(r["info"]["raw"], abs=1e-5) for r in rows]

    capsys.readouterr()
    assert main(["agree", *FAST, *rm, "--run-dir", str(run), "--pairs", "6", "--injection", "0"]) == 0
    assert "agreement with the oracle" in capsys.readouterr().out
    assert main(["report", str(run)]) == 0
    assert "reward_model" in (run / "report.md").read_text()
