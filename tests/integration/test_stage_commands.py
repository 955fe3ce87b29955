"""Stage commands on a run directory (`dno prepare/sample/judge/merge/pair/train/eval RUN --iter T`), as GPU
nodes run them: sharded sampling and judging merge to the unsharded bytes; a stage command changes nothing it
must not; pair → train → eval each in its own command, through the accelerate loop with gradient accumulation
and checkpointing."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file
from tiny_runs import prepared_with_samples

from dno import io
from dno.cli import main
from dno.run import shards


def _copy_prepared(src: Path, dst: Path) -> Path:
    shutil.copytree(
        src, dst, ignore=shutil.ignore_patterns("samples.jsonl", "judgments.jsonl", "shards", "timings.json")
    )
    return dst


def test_sharded_sampling_and_judging_merge_to_the_unsharded_bytes(sampled_run, tmp_path, capsys):
    run = _copy_prepared(sampled_run, tmp_path / "sharded")
    d = run / "iter_1"
    for i in (2, 0):  # out of order; no merge until every shard is there
        assert main(["sample", str(run), "--iter", "1", "--shard", f"{i}/3"]) == 0
    assert not (d / "samples.jsonl").exists()
    assert main(["merge", str(run), "--iter", "1", "--stage", "sample"]) == 2
    assert "no complete set" in capsys.readouterr().err
    assert main(["sample", str(run), "--iter", "1", "--shard", "1/3"]) == 0  # the last shard merges
    assert sorted(p.name for p in (d / "shards").glob("*.jsonl")) == [
        f"samples.0000{i}-of-00003.jsonl" for i in range(3)
    ]
    assert (d / "samples.jsonl").read_bytes() == (sampled_run / "iter_1" / "samples.jsonl").read_bytes()

    for i in range(2):
        assert main(["judge", str(run), "--iter", "1", "--shard", f"{i}/2"]) == 0
    assert (d / "judgments.jsonl").read_bytes() == (sampled_run / "iter_1" / "judgments.jsonl").read_bytes()
    # an explicit merge gives the same bytes again
    (d / "samples.jsonl").unlink()
    assert main(["merge", str(run), "--iter", "1", "--stage", "sample", "--shards", "3"]) == 0
    assert (d / "samples.jsonl").read_bytes() == (sampled_run / "iter_1" / "samples.jsonl").read_bytes()


def test_more_shards_than_batches_leaves_empty_shards(sampled_run, tmp_path):
    run = _copy_prepared(sampled_run, tmp_path / "many")
    for i in range(5):  # 12 prompts in batches of 4: 3 batches over 5 shards
        assert main(["sample", str(run), "--iter", "1", "--shard", f"{i}/5"]) == 0
    sizes = [len(io.read_jsonl(shards.shard_path(run / "iter_1", "sample", i, 5))) for i in range(5)]
    assert sum(sizes) == 12 and sizes.count(0) == 2
    assert (run / "iter_1" / "samples.jsonl").read_bytes() == (sampled_run / "iter_1" / "samples.jsonl").read_bytes()


def test_stage_commands_refuse_what_they_must_not_change(sampled_run, tmp_path, capsys):
    run = shutil.copytree(sampled_run, tmp_path / "copy")
    assert main(["sample", str(run), "--iter", "1", "train.beta=0.5"]) == 2
    assert "may only override" in capsys.readouterr().err
    assert main(["sample", str(run), "--iter", "2"]) == 2
    assert "iterations 1..1" in capsys.readouterr().err
    assert main(["sample", str(tmp_path / "nothing"), "--iter", "1"]) == 2
    assert "dno prepare" in capsys.readouterr().err
    assert main(["sample", str(run), "--iter", "1", "--shard", "3/3"]) == 2
    before = (run / "iter_1" / "samples.jsonl").read_bytes()
    assert main(["sample", str(run), "--iter", "1", "threads=2"]) == 0  # done: skipped
    assert (run / "iter_1" / "samples.jsonl").read_bytes() == before
    assert "done, skipping" in capsys.readouterr().err


def test_pair_train_eval_stage_commands_with_accumulation_and_checkpointing(sampled_run, tmp_path, tiny_model_dir):
    """pair → train (gradient accumulation and checkpointing) → eval, each its own command."""
    run = prepared_with_samples(
        sampled_run, tmp_path / "acc", "train.gradient_accumulation_steps=2", "train.gradient_checkpointing=true"
    )
    assert main(["pair", str(run), "--iter", "1"]) == 0
    assert main(["train", str(run), "--iter", "1"]) == 0
    summary = io.read_json(run / "iter_1" / "train_summary.json")
    assert summary["backend"].startswith("accelerate") and summary["gradient_accumulation_steps"] == 2
    assert summary["gradient_checkpointing"] is True
    assert summary["steps"] >= 1 and summary["final_loss"] is not None
    before = load_file(str(tiny_model_dir / "model.safetensors"))
    after = load_file(str(run / "iter_1" / "policy" / "model.safetensors"))
    assert before.keys() == after.keys() and any(not torch.equal(before[k], after[k]) for k in before)
    assert main(["eval", str(run), "--iter", "1"]) == 0
    m = io.read_json(run / "iter_1" / "eval" / "metrics.json")
    assert m["n"] == 4 and (run / "baseline" / "responses.jsonl").is_file()
    rows = io.read_jsonl(run / "iter_1" / "eval" / "judgments.jsonl")
    assert len(rows) == 4 and all({"task", "policy_length", "baseline_length", "outcome"} <= set(r) for r in rows)
    assert m["judge"] == "oracle" and "| win rate % |" in (run / "iter_1" / "eval" / "metrics.md").read_text()


def test_stage_commands_out_of_order_name_the_command_to_run_first(tmp_path, capsys):
    from tiny_runs import FAST

    run = tmp_path / "order"
    assert main(["prepare", *FAST, "iterations=2", "--run-dir", str(run)]) == 0
    expected = {
        ("judge", "1"): "dno sample",
        ("pair", "1"): "dno judge",
        ("train", "1"): "dno pair",
        ("eval", "1"): "dno train",
        ("sample", "2"): "dno train",
    }
    for (stage, t), first in expected.items():
        assert main([stage, str(run), "--iter", t]) == 2
        line = capsys.readouterr().err.strip()
        assert line.startswith("dno: error: ") and "\n" not in line
        assert f"{first} {run} --iter 1" in line, line
    assert not (run / "iter_1" / "samples.jsonl").exists() and not (run / "baseline").exists()
