"""The run directory: what a resume may change (launch settings and more iterations), what it may not."""

from __future__ import annotations

import pytest

from dno import config as config_mod
from dno import io
from dno.errors import DnoError
from dno.run.loop import parse_stop
from dno.run.rundir import GROWABLE, RunDir

BASE = ["policy.model=tiny-random", "iterations=2"]


def test_a_resume_may_change_launch_settings_and_grow_iterations(tmp_path):
    RunDir.open(tmp_path, config_mod.load_config(None, BASE))
    assert GROWABLE == {"iterations"}
    launch = ["threads=3", "judge.concurrency=2", "judge.timeout_s=5", "sample.enforce_eager=true"]
    assert {k.split("=")[0] for k in launch} <= config_mod.launch_keys()
    run = RunDir.open(tmp_path, config_mod.load_config(None, [*BASE, *launch, "iterations=4"]))
    assert run.cfg.iterations == 4 and config_mod.load_config(tmp_path / "config.yaml").threads == 3


def test_a_resume_with_a_different_computation_is_refused_naming_the_keys(tmp_path):
    RunDir.open(tmp_path, config_mod.load_config(None, BASE))
    saved = (tmp_path / "config.yaml").read_bytes()
    with pytest.raises(DnoError) as err:
        RunDir.open(tmp_path, config_mod.load_config(None, [*BASE, "sample.k=2", "judge.mode=pairwise", "threads=2"]))
    msg = str(err.value)
    assert "different config (differs in: judge.mode, sample.k)" in msg and "threads" not in msg
    assert (tmp_path / "config.yaml").read_bytes() == saved


def test_training_settings_are_fixed_once_a_policy_was_trained(tmp_path):
    RunDir.open(tmp_path, config_mod.load_config(None, BASE))
    # nothing trained yet: the training settings may still change
    assert RunDir.open(tmp_path, config_mod.load_config(None, [*BASE, "train.beta=0.5"])).cfg.train.beta == 0.5
    io.write_json(tmp_path / "iter_1" / "policy" / "config.json", {})
    with pytest.raises(DnoError, match=r"differs in: train.beta\)"):
        RunDir.open(tmp_path, config_mod.load_config(None, [*BASE, "train.beta=0.1"]))


def test_a_truncated_jsonl_is_named_before_anything_resumes(tmp_path):
    RunDir.open(tmp_path, config_mod.load_config(None, BASE))
    io.write_jsonl(tmp_path / "iter_1" / "samples.jsonl", [{"id": "a"}, {"id": "b"}])
    path = tmp_path / "iter_1" / "samples.jsonl"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(DnoError, match=f"{path}:2: truncated JSONL"):
        RunDir.open(tmp_path, config_mod.load_config(None, BASE))


def test_parse_stop():
    assert parse_stop("2:judge") == (2, "judge") and parse_stop(None) is None
    for bad in ("2", "x:judge", "1:nope"):
        with pytest.raises(DnoError, match="--stop-after"):
            parse_stop(bad)


def test_a_run_made_before_a_setting_existed_resumes_as_it_began(tmp_path):
    """pair.unfinished's default (negative) is not what dno did before it existed (keep): a config.yaml without
    it reads as keep, for a resume and for the stage commands and `dno eval` that load it."""
    import yaml

    RunDir.open(tmp_path, config_mod.load_config(None, BASE))
    old = yaml.safe_load((tmp_path / "config.yaml").read_text())
    del old["pair"]["unfinished"]  # as written by dno before pair.unfinished
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(old))
    assert config_mod.load_config(tmp_path / "config.yaml", saved_run=True).pair.unfinished == "keep"
    assert config_mod.load_config(None, BASE).pair.unfinished == "negative"  # a new run: today's default
    with pytest.raises(DnoError, match=r"differs in: pair.unfinished"):
        RunDir.open(tmp_path, config_mod.load_config(None, BASE))
    run = RunDir.open(tmp_path, config_mod.load_config(None, [*BASE, "pair.unfinished=keep"]))
    assert run.cfg.pair.unfinished == "keep"


def test_a_run_made_before_the_repair_default_keeps_no_teacher(tmp_path):
    """teacher.source's default became `auto` (the verifier's repair) and teacher_pairs_per_prompt 1 on
    2026-12-07: a config.yaml from before then reads as no teacher and no cap, as it ran."""
    import yaml

    RunDir.open(tmp_path, config_mod.load_config(None, BASE))
    old = yaml.safe_load((tmp_path / "config.yaml").read_text())
    del old["teacher"]["source"], old["pair"]["teacher_pairs_per_prompt"]  # as written by dno before them
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(old))
    saved = config_mod.load_config(tmp_path / "config.yaml", saved_run=True)
    assert (saved.teacher.kind, saved.pair.teacher_pairs_per_prompt) == ("model", 0)
    fresh = config_mod.load_config(None, BASE)
    assert (fresh.teacher.kind, fresh.pair.teacher_pairs_per_prompt) == ("repair", 1)
    assert config_mod.load_config(None, [*BASE, "teacher.model=tiny-random"]).teacher.kind == "model"
