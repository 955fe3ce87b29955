"""The whole loop on the tiny config: training changes the policy, runs resume exactly, configs are guarded."""

import math
from pathlib import Path

import pytest
import torch
from run_artifacts import artifacts, differences
from safetensors.torch import load_file

from dno import io
from dno.cli import main

TINY = ["tiny", "threads=2"]


def run(tmp, *extra, stop=None):
    args = ["run", *TINY, *extra, "--run-dir", str(tmp)]
    if stop:
        args += ["--stop-after", stop]
    return main(args)


def weights(path: Path) -> dict:
    return load_file(str(path / "model.safetensors"))


def test_one_iteration_changes_every_trained_parameter(tmp_path, tiny_model_dir):
    assert run(tmp_path, "iterations=1") == 0
    pairs = io.read_jsonl(tmp_path / "iter_1" / "pairs.jsonl")
    assert len(pairs) >= 4, "the tiny config must produce pairs to train on"
    before, after = weights(tiny_model_dir), weights(tmp_path / "iter_1" / "policy")
    assert before.keys() == after.keys()
    unchanged = [k for k in before if torch.equal(before[k], after[k])]
    assert not unchanged, f"parameters not updated: {unchanged}"
    log = io.read_jsonl(tmp_path / "iter_1" / "train_log.jsonl")
    assert log and all(set(r) >= {"loss", "reward_margin", "reward_accuracy"} for r in log)
    m = io.read_json(tmp_path / "iter_1" / "eval" / "metrics.json")
    assert 0 <= m["ci_low"] <= m["win_rate"] <= m["ci_high"] <= 1
    assert m["wins"] + m["ties"] + m["losses"] == m["n"] == 8
    assert "| 1 |" in (tmp_path / "summary.md").read_text()


def test_interrupted_and_resumed_run_equals_uninterrupted(tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert run(straight) == 0
    for stop in ("1:judge", "1:train", "2:sample", "2:pair"):
        assert run(resumed, stop=stop) == 0
        assert not (resumed / "summary.md").exists()
    assert run(resumed) == 0
    a, b = artifacts(straight), artifacts(resumed)
    assert any(k.endswith("model.safetensors") for k in a)
    assert differences(a, b) == []


def test_resume_refuses_a_changed_config(tmp_path, capsys):
    """Once π_1 is trained, the training settings are fixed too (before that, only they may still change)."""
    assert run(tmp_path, "iterations=1", stop="1:train") == 0
    before = artifacts(tmp_path)
    capsys.readouterr()
    assert run(tmp_path, "iterations=1", "train.beta=0.05", "sample.k=2") == 2
    err = capsys.readouterr().err
    assert "different config" in err and "train.beta" in err and "sample.k" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert differences(before, artifacts(tmp_path)) == []


def test_extending_iterations_resumes(tmp_path):
    assert run(tmp_path, "iterations=1") == 0
    first = (tmp_path / "iter_1" / "samples.jsonl").read_bytes()
    assert run(tmp_path, "iterations=2") == 0
    assert (tmp_path / "iter_1" / "samples.jsonl").read_bytes() == first
    assert (tmp_path / "iter_2" / "eval" / "metrics.json").is_file()


def test_dno_soft_labels_with_teacher_replay_and_validation(tmp_path):
    """Algorithm 1 (soft targets, all pairs) with a teacher candidate, replay from t-1 and best-iteration choice."""
    assert (
        run(
            tmp_path,
            "teacher.model=tiny-random",
            "train.loss=dno",
            "pair.rule=all",
            "pair.target=soft",
            "pair.max_pairs_per_prompt=4",
            "train.replay_fraction=0.3",
        )
        == 0
    )
    samples = io.read_jsonl(tmp_path / "iter_1" / "samples.jsonl")
    assert all(s["sources"] == ["student"] * 4 + ["teacher"] and len(s["responses"]) == 5 for s in samples)
    pairs = io.read_jsonl(tmp_path / "iter_1" / "pairs.jsonl")
    assert {p["type"] for p in pairs} <= {"student>student", "teacher>student", "student>teacher"}
    assert all(0.5 < p["target"] < 1 and p["chosen_rate"] > p["rejected_rate"] for p in pairs)
    summary = io.read_json(tmp_path / "iter_2" / "train_summary.json")
    n2 = len(io.read_jsonl(tmp_path / "iter_2" / "pairs.jsonl"))
    assert summary["pairs"] > n2 and summary["replayed_from"]["t-1"] == summary["pairs"] - n2
    # the best iteration: the highest validation win rate (π_0 counts as 50%), ties to the earlier iteration
    rates = {0: 0.5, **{t: io.read_json(tmp_path / f"iter_{t}" / "val" / "metrics.json")["win_rate"] for t in (1, 2)}}
    expected = min(rates, key=lambda t: (-rates[t], t))
    best = io.read_json(tmp_path / "best.json")
    assert best["iteration"] == expected and best["val_win_rate"] == rates[expected]
    assert best["val_win_rates"] == {str(t): r for t, r in rates.items()}
    assert best["policy"] == ("tiny-random" if expected == 0 else f"iter_{expected}/policy")


@pytest.mark.parametrize("loss", ["sft", "sppo"])
def test_baseline_losses_train(tmp_path, tiny_model_dir, loss):
    assert run(tmp_path, "iterations=1", f"train.loss={loss}", "data.val_prompts=0") == 0
    log = io.read_jsonl(tmp_path / "iter_1" / "train_log.jsonl")
    assert log and all(math.isfinite(r["loss"]) for r in log)
    before, after = weights(tiny_model_dir), weights(tmp_path / "iter_1" / "policy")
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert not (tmp_path / "best.json").exists()  # no validation prompts, no choice


def test_iterative_dpo_trains_iteration_2_against_pi_0(tmp_path):
    """`train.reference: initial` (iterative DPO): at iteration 2 the reference is π_0, not π_1, so the first
    step already sees π_1's distance from π_0; DNO's own reference (π_1, the model being trained) starts at 0."""
    assert run(tmp_path / "dno", "data.val_prompts=0") == 0
    assert run(tmp_path / "idpo", "data.val_prompts=0", "train.reference=initial") == 0
    first_step = {k: io.read_jsonl(tmp_path / k / "iter_2" / "train_log.jsonl")[0] for k in ("dno", "idpo")}
    assert first_step["dno"]["reward_margin"] == pytest.approx(0, abs=1e-4)
    assert abs(first_step["idpo"]["reward_margin"]) > 1e-2
    assert io.read_json(tmp_path / "idpo" / "iter_2" / "train_summary.json")["reference"] == "initial"
