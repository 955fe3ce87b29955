"""The whole loop on the tiny config: training changes the policy, runs resume exactly, configs are guarded."""

from pathlib import Path

import pytest
import torch
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


def _artifacts(root: Path) -> dict:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name not in ("timings.json", "summary.md"):  # these hold seconds
            rel = str(p.relative_to(root))
            out[rel] = load_file(str(p)) if p.suffix == ".safetensors" else p.read_bytes()
    return out


def _same(a: dict, b: dict) -> list[str]:
    diff = sorted(set(a) ^ set(b))
    for k in set(a) & set(b):
        if isinstance(a[k], dict):
            if a[k].keys() != b[k].keys() or any(not torch.equal(a[k][n], b[k][n]) for n in a[k]):
                diff.append(k)
        elif a[k] != b[k]:
            diff.append(k)
    return diff


def test_interrupted_and_resumed_run_equals_uninterrupted(tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert run(straight) == 0
    for stop in ("1:judge", "1:train", "2:sample", "2:pair"):
        assert run(resumed, stop=stop) == 0
        assert not (resumed / "summary.md").exists()
    assert run(resumed) == 0
    a, b = _artifacts(straight), _artifacts(resumed)
    assert any(k.endswith("model.safetensors") for k in a)
    assert _same(a, b) == []


def test_resume_refuses_a_changed_config(tmp_path, capsys):
    assert run(tmp_path, "iterations=1", stop="1:sample") == 0
    before = _artifacts(tmp_path)
    assert run(tmp_path, "iterations=1", "train.beta=0.05", "sample.k=2") == 2
    err = capsys.readouterr().err
    assert "different config" in err and "train.beta" in err and "sample.k" in err
    assert len(err.strip().splitlines()) == 1
    assert _same(before, _artifacts(tmp_path)) == []


def test_extending_iterations_resumes(tmp_path):
    assert run(tmp_path, "iterations=1") == 0
    first = (tmp_path / "iter_1" / "samples.jsonl").read_bytes()
    assert run(tmp_path, "iterations=2") == 0
    assert (tmp_path / "iter_1" / "samples.jsonl").read_bytes() == first
    assert (tmp_path / "iter_2" / "eval" / "metrics.json").is_file()
