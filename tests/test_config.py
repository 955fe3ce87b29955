from pathlib import Path

import pytest

from dno.config import Config, load_config
from dno.errors import DnoError

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


def test_there_are_shipped_configs():
    assert {"default", "tiny"} <= {p.stem for p in CONFIGS}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_loads(path):
    assert isinstance(load_config(path), Config)


def test_defaults_are_the_embedded_default():
    assert load_config(ROOT / "configs" / "default.yaml") == load_config(None)


def test_overrides_apply_with_types():
    cfg = load_config(ROOT / "configs" / "default.yaml", ["train.beta=0.05", "sample.k=6", "iterations=2"])
    assert (cfg.train.beta, cfg.sample.k, cfg.iterations) == (0.05, 6, 2)
    assert isinstance(load_config(None, ["train.beta=1"]).train.beta, float)


@pytest.mark.parametrize("override, needle", [
    (["train.betta=0.1"], "train.betta"),
    (["nope=1"], "`nope`"),
    (["sample.k=four"], "sample.k"),
    (["sample.k=0"], "sample.k"),
    (["train.beta=0"], "train.beta"),
    (["train.beta=-1"], "train.beta"),
    (["sample.top_p=1.5"], "sample.top_p"),
    (["data.tasks={arithmetic: -1}"], "data.tasks"),
    (["train=3"], "train"),
    (["sample.k"], "key=value"),
])
def test_bad_values_name_the_key(override, needle):
    with pytest.raises(DnoError, match=None) as err:
        load_config(None, override)
    assert needle in str(err.value)


def test_unknown_key_in_file_names_file_and_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  beta: 0.1\n  learning_rate: 3\n")
    with pytest.raises(DnoError) as err:
        load_config(bad)
    assert str(bad) in str(err.value) and "train.learning_rate" in str(err.value)


def test_malformed_yaml_names_the_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  beta: 0.1\n lr: [\n")
    with pytest.raises(DnoError) as err:
        load_config(bad)
    assert str(bad) in str(err.value) and "line" in str(err.value)
