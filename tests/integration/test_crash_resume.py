"""Crash and resume: `dno run` SIGKILLed inside every stage (dno/faults.py), then run again, ends with the same
artifacts as an uninterrupted run with the same seed: samples, judgments, pairs, training logs, metrics and
the policy weights tensor for tensor. Times (timings.json, summary.md, report.md, plots) are left out."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from run_artifacts import artifacts, differences

ROOT = Path(__file__).resolve().parents[2]
ARGS = ["tiny", "threads=2", "iterations=2"]  # validation prompts kept: the val stage and both baseline files

# In the order a run reaches them; each invocation dies at its point, the next resumes and dies further on.
KILL_POINTS = [
    "baseline.wrote.responses.jsonl",  # between the two baseline files
    "iter1.sample.batch:1",  # after the first of two sampling batches
    "iter1.sample.writing.samples.jsonl",  # half of samples.jsonl in its temporary file
    "iter1.judge.judged:5",  # midway through judging
    "iter1.pair.wrote.pairs.jsonl",  # output written, stage time not yet recorded
    "iter1.train.step:2",  # after 2 optimizer steps
    "iter1.train.saved",  # policy saved to .policy.tmp/, not yet renamed
    "iter1.eval.writing.metrics.json",  # eval responses and judgments there, metrics half written
    "iter2.train.wrote.train_log.jsonl",  # train log written, policy not
]


def dno_run(run_dir: Path, fault: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false")
    env.pop("DNO_FAULT", None)
    if fault:
        env["DNO_FAULT"] = fault
    return subprocess.run(
        [sys.executable, "-m", "dno.cli", "run", *ARGS, "--run-dir", str(run_dir)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def temporaries(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob(".*.tmp"))


def test_killed_inside_every_stage_then_resumed_equals_uninterrupted(tmp_path):
    straight, crashed = tmp_path / "straight", tmp_path / "crashed"
    proc = dno_run(straight)
    assert proc.returncode == 0, proc.stderr[-3000:]

    for fault in KILL_POINTS:
        proc = dno_run(crashed, fault)
        assert proc.returncode == -signal.SIGKILL, f"{fault}: not killed (rc {proc.returncode})\n{proc.stderr[-2000:]}"
        assert not (crashed / "summary.md").exists()
        stage = fault.split(".")[0]
        if stage.startswith("iter"):  # killed inside the stage the site names: the last stage it began
            began = [line for line in proc.stderr.splitlines() if line.startswith("[dno ") and line.endswith(" ...")]
            expected = f"iter {stage[4:]} {fault.split('.')[1]} ..."
            assert began and began[-1].endswith(expected), f"{fault}: last stage begun {began[-1:]}, not {expected!r}"
        if fault == "iter1.sample.writing.samples.jsonl":  # the half-written file is a temporary, never the output
            assert not (crashed / "iter_1" / "samples.jsonl").exists()
            assert any("samples.jsonl" in t for t in temporaries(crashed))
        if fault == "iter1.train.saved":
            assert (crashed / "iter_1" / ".policy.tmp" / "config.json").is_file()
            assert not (crashed / "iter_1" / "policy").exists()
        if fault == "iter1.eval.writing.metrics.json":
            assert (crashed / "iter_1" / "eval" / "judgments.jsonl").is_file()
            assert not (crashed / "iter_1" / "eval" / "metrics.json").exists()

    proc = dno_run(crashed)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert temporaries(crashed) == [], "a resumed run must clear what the killed ones left half-written"
    a, b = artifacts(straight), artifacts(crashed)
    assert any(k.endswith("model.safetensors") for k in a)
    assert {
        "iter_1/samples.jsonl",
        "iter_1/judgments.jsonl",
        "iter_1/pairs.jsonl",
        "iter_2/eval/metrics.json",
        "baseline/val_responses.jsonl",
        "iter_2/val/metrics.json",
    } <= set(a)
    assert differences(a, b) == []
