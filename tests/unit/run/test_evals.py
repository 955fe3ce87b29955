"""`dno eval`'s judge: the run's eval judge with command-line overrides, checked like a config file's."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from dno.config import load_config
from dno.errors import DnoError
from dno.run.evals import judge_config


def test_overrides_are_checked_like_the_config():
    run = SimpleNamespace(cfg=load_config(None, []))
    assert judge_config(run, None, ["judge.noise.flip=0.2"]).noise.flip == 0.2
    with pytest.raises(DnoError, match="`judge.noise.flip` must be in"):
        judge_config(run, None, ["judge.noise.flip=2"])
    with pytest.raises(DnoError, match="`judge.model` .*required"):
        judge_config(run, "reward_model", [])
