"""`dno eval`: any iteration against any baseline (the run's π_0, a responses file, another run's policy), with
any judge, resumable, on constructed run directories whose numbers are known, plus one real tiny run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dno import config as config_mod
from dno import io
from dno.analysis.report import write_report
from dno.cli import main


def make_arith_run(root: Path, correct: dict[int, int], n: int = 20) -> Path:
    """Arithmetic prompts judged by the real oracle; π_t answers the first correct[t] prompts right."""
    cfg = config_mod.Config()
    io.write_text(root / "config.yaml", config_mod.dump(cfg))
    prompts = [
        {
            "id": f"test-{i:03d}",
            "task": "arithmetic",
            "answer": 10 + i,
            "messages": [{"role": "user", "content": f"What is {i} + 10?"}],
        }
        for i in range(n)
    ]
    io.write_jsonl(root / "test_prompts.jsonl", prompts)
    for t, k in correct.items():
        rows = [{"id": p["id"], "response": str(p["answer"] if i < k else -1)} for i, p in enumerate(prompts)]
        io.write_jsonl(
            (root / "baseline" / "responses.jsonl") if t == 0 else (root / f"iter_{t}" / "eval" / "responses.jsonl"),
            rows,
        )
        if t:
            io.write_text(root / f"iter_{t}" / "policy" / "config.json", "{}")  # marks π_t as trained
    return root


def test_dno_eval_against_a_teacher_file_is_exact_cached_and_reported(tmp_path, capsys):
    run = make_arith_run(tmp_path / "run", {0: 4, 1: 10, 2: 16, 3: 20})
    teacher = tmp_path / "teacher.jsonl"
    io.write_jsonl(teacher, [{"id": f"test-{i:03d}", "response": str(10 + i)} for i in range(20)])  # always right
    assert main(["eval", str(run), "--baseline", str(teacher)]) == 0
    out = capsys.readouterr().out
    evals = [p for p in (run / "evals").iterdir() if p.name.startswith("file-teacher")]
    assert len(evals) == 1 and evals[0].name.endswith("__oracle")
    # right answer vs right answer = tie; wrong vs right = loss: win rate = correct / (2 n)
    for t, k in {0: 4, 1: 10, 2: 16, 3: 20}.items():
        m = io.read_json(evals[0] / f"iter_{t}" / "metrics.json")
        assert m["win_rate"] == pytest.approx(k / 40) and (m["ties"], m["losses"]) == (k, 20 - k)
        assert m["baseline"].startswith("file-teacher")
    assert "| 3 | 50.0 |" in out and "| 0 | 10.0 |" in out
    # resumable: a second call judges nothing again
    stamp = (evals[0] / "iter_2" / "metrics.json").stat().st_mtime_ns
    assert main(["eval", str(run), "--baseline", str(teacher), "--iterations", "2"]) == 0
    assert (evals[0] / "iter_2" / "metrics.json").stat().st_mtime_ns == stamp
    # the stage outputs of `dno run` are untouched
    assert not (run / "iter_1" / "eval" / "metrics.json").exists()
    # and the report reads that evaluation
    text = write_report([run], tmp_path / "rep", eval_key=evals[0].name).read_text()
    assert "| 0 | 10.0 |" in text and "| 3 | 50.0 |" in text and "(itself)" not in text
    assert "against the responses in" in text


def test_dno_eval_against_another_runs_policy_and_pgr_with_iteration_zero(tmp_path):
    a = make_arith_run(tmp_path / "a", {0: 4, 1: 12})
    b = make_arith_run(tmp_path / "b", {0: 4, 1: 8})
    assert main(["eval", str(a), "--baseline", f"{b}:1"]) == 0
    m = io.read_json(a / "evals" / "run-b-iter1__oracle" / "iter_1" / "metrics.json")
    # a's π_1 right on 12, b's π_1 right on 8 (the same first 8): 8 ties, 4 wins, 8 both wrong (ties)
    assert (m["wins"], m["ties"], m["losses"]) == (4, 16, 0) and m["win_rate"] == pytest.approx(0.6)
    assert not (b / "evals").exists(), "nothing is written into the baseline run"


def test_dno_eval_errors(tmp_path, capsys):
    run = make_arith_run(tmp_path / "run", {0: 4, 1: 10})
    assert main(["eval", str(run), "--baseline", str(tmp_path / "missing.jsonl")]) == 2
    assert "baseline responses file not found" in capsys.readouterr().err
    assert main(["eval", str(run), "--iterations", "3"]) == 2
    assert "outside 0..3" not in capsys.readouterr().err  # default config: 3 iterations, 3 is not trained
    bad = tmp_path / "partial.jsonl"
    io.write_jsonl(bad, [{"id": "test-000", "response": "10"}])
    assert main(["eval", str(run), "--baseline", str(bad)]) == 2
    assert "no response for prompt 'test-001'" in capsys.readouterr().err
    assert main(["eval", str(run), "judge.nonsense=1"]) == 2
    assert "unknown key `judge.nonsense`" in capsys.readouterr().err


def test_dno_eval_against_alpaca_eval_style_reference_answers_matched_by_instruction(tmp_path, capsys):
    run = make_arith_run(tmp_path / "run", {0: 4, 1: 10})
    prompts = io.read_jsonl(run / "test_prompts.jsonl")
    ref = [
        {"instruction": p["messages"][-1]["content"], "output": str(p["answer"]), "generator": "gold"}
        for p in reversed(prompts)  # any order: matched by instruction, not position
    ]
    answers = tmp_path / "reference_outputs.json"
    answers.write_text(json.dumps(ref, indent=2))
    assert main(["eval", str(run), "--baseline", str(answers)]) == 0
    (out,) = [p for p in (run / "evals").iterdir() if p.name.startswith("file-reference_outputs-")]
    for t, k in {0: 4, 1: 10}.items():  # always-right references: win rate = correct / (2 n), as with a JSONL file
        m = io.read_json(out / f"iter_{t}" / "metrics.json")
        assert m["win_rate"] == pytest.approx(k / 40) and (m["ties"], m["losses"]) == (k, 20 - k)
    assert "the responses in" in io.read_json(out / "eval.json")["baseline_description"]
    answers.write_text(json.dumps(ref[1:]))
    assert main(["eval", str(run), "--baseline", str(answers)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no output for prompt 'test-019' (instruction 'What is 19 + 10?')" in err


# ---- the real loop ----------------------------------------------------------------------------------


def test_a_finished_run_leaves_its_report_and_dno_eval_decodes_new_prompts(tmp_path):
    run = tmp_path / "tiny"
    assert main(["run", "tiny", "iterations=1", "data.val_prompts=4", "threads=2", "--run-dir", str(run)]) == 0
    text = (run / "report.md").read_text()
    assert "## Win rate per iteration" in text and "| 1 |" in text
    for name in ("winrate.png", "length.png", "pairs.png", "margins.png", "training.png"):
        assert (run / name).stat().st_size > 5000
    metrics = io.read_json(run / "iter_1" / "eval" / "metrics.json")
    assert {"lc_win_rate", "lc_ci_low", "lc_ci_high", "by_task", "length_ratio"} <= set(metrics)
    # validation prompts: the run's own val-stage answers are reused, nothing is decoded again
    assert main(["eval", str(run), "--split", "val"]) == 0
    assert (run / "evals" / "iter0__oracle__val" / "iter_1" / "metrics.json").is_file()
    assert not (run / "evals" / "responses_val").exists()
    # another run's policy on prompts it never saw is decoded here, once, into this run's evals/
    other = tmp_path / "other"
    shutil.copytree(run, other, ignore=shutil.ignore_patterns("evals"))
    io.write_jsonl(other / "test_prompts.jsonl", io.read_jsonl(other / "test_prompts.jsonl")[:2])
    assert main(["eval", str(run), "--baseline", f"{other}:1"]) == 0
    base = io.read_jsonl(run / "evals" / "run-other-iter1__oracle" / "baseline_responses.jsonl")
    assert [r["id"] for r in base] == [p["id"] for p in io.read_jsonl(run / "test_prompts.jsonl")]
    m = io.read_json(run / "evals" / "run-other-iter1__oracle" / "iter_1" / "metrics.json")
    assert m["ties"] == m["n"]  # the same policy, greedy, on the same prompts: identical answers
    assert not (other / "evals").exists()
    # a file of held-out prompts (a larger test set, a user's benchmark): decoded once, judged, cached by content
    rows = [{k: v for k, v in p.items() if k != "split"} for p in io.read_jsonl(run / "test_prompts.jsonl")[:3]]
    del rows[2]["id"]  # unnamed rows are numbered
    held_out = tmp_path / "more_prompts.jsonl"
    io.write_jsonl(held_out, rows)
    assert main(["eval", str(run), "--prompts", str(held_out)]) == 0
    (out,) = [p for p in (run / "evals").iterdir() if p.name.startswith("iter0__oracle__more_prompts-")]
    m = io.read_json(out / "iter_1" / "metrics.json")
    assert m["n"] == 3 and m["split"] == out.name.split("__")[-1]
    answers = run / "evals" / f"responses_{m['split']}"
    assert [r["id"] for r in io.read_jsonl(answers / "iter_1.jsonl")] == [rows[0]["id"], rows[1]["id"], "prompts-00002"]
    assert (answers / "iter_0.jsonl").is_file()
    own = {r["id"]: r["response"] for r in io.read_jsonl(run / "iter_1" / "eval" / "responses.jsonl")}
    assert io.read_jsonl(answers / "iter_1.jsonl")[0]["response"] == own[rows[0]["id"]]  # same greedy decoding


def test_dno_eval_prompts_file_errors(tmp_path, capsys):
    run = make_arith_run(tmp_path / "run", {0: 4, 1: 10})
    assert main(["eval", str(run), "--prompts", str(tmp_path / "missing.jsonl")]) == 2
    assert "missing.jsonl: --prompts file not found" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"task": "arithmetic", "answer": 3, "messages": [{"role": "user", "content": "1+2?"}]}\n{"answer"\n'
    )
    assert main(["eval", str(run), "--prompts", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.jsonl" in err and ":2" in err and len(err.strip().splitlines()) == 1
    assert not (run / "evals").exists() or not any((run / "evals").iterdir())
