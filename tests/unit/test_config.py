from pathlib import Path

import pytest

from dno.config import Config, load_config
from dno.errors import DnoError

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


def test_there_are_shipped_configs():
    assert {"default", "tiny"} <= {p.stem for p in CONFIGS}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_loads(path):
    assert isinstance(load_config(path), Config)


def test_defaults_are_the_embedded_default():
    assert load_config(ROOT / "configs" / "default.yaml") == load_config(None)


OVERRIDES = {  # key: (command-line text, the value it must give); every value differs from the default
    "train.beta": ("0.05", 0.05),
    "sample.k": ("3", 3),
    "iterations": ("5", 5),
    "sample.backend": ("vllm", "vllm"),
    "judge.logprobs": ("false", False),
    "data.tasks": ("{wordcount: 2}", {"wordcount": 2}),
    "eval.judge.mode": ("pairwise", "pairwise"),
    "teacher.model": ("tiny-random", "tiny-random"),
}


def _get(cfg, key):
    for part in key.split("."):
        cfg = getattr(cfg, part)
    return cfg


def test_overrides_apply_with_types():
    default = load_config(ROOT / "configs" / "default.yaml")
    cfg = load_config(ROOT / "configs" / "default.yaml", [f"{k}={text}" for k, (text, _) in OVERRIDES.items()])
    for key, (_, value) in OVERRIDES.items():
        assert _get(default, key) != value, f"{key}: an override equal to the default proves nothing"
        assert _get(cfg, key) == value, key
    untouched = [k for k in ("train.lr", "sample.top_p", "judge.type") if _get(cfg, k) != _get(default, k)]
    assert not untouched
    assert isinstance(load_config(None, ["train.beta=1"]).train.beta, float)


@pytest.mark.parametrize(
    "override, needle",
    [
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
        (["train.max_grad_norm=-1"], "train.max_grad_norm"),
        (["train.max_grad_norm=0"], "train.max_grad_norm"),
        (["train.weight_decay=-0.1"], "train.weight_decay"),
        (["eval.max_new_tokens=0"], "eval.max_new_tokens"),
        (["eval.batch_size=0"], "eval.batch_size"),
        (["sample.backend=tgi"], "sample.backend"),
        (["train.loss=ppo"], "train.loss"),
        (["judge.type=gpt"], "judge.type"),
        (["sample.tensor_parallel_size=0"], "sample.tensor_parallel_size"),
        (["sample.gpu_memory_utilization=1.5"], "sample.gpu_memory_utilization"),
        (["train.lora_r=-1"], "train.lora_r"),
        (["train.gradient_accumulation_steps=0"], "train.gradient_accumulation_steps"),
    ],
)
def test_bad_values_name_the_key(override, needle):
    with pytest.raises(DnoError) as err:
        load_config(None, override)
    assert needle in str(err.value)


def test_a_negative_max_grad_norm_is_rejected_with_the_rule():
    with pytest.raises(DnoError) as err:
        load_config(None, ["train.max_grad_norm=-1"])
    assert "`train.max_grad_norm` must be > 0" in str(err.value) and "-1" in str(err.value)
    assert load_config(None, ["train.max_grad_norm=0.5"]).train.max_grad_norm == 0.5


@pytest.mark.parametrize(
    "override, choices",
    [
        ("sample.backend=tgi", "must be one of 'hf', 'vllm'"),
        ("judge.mode=listwise", "must be one of 'pointwise', 'pairwise'"),
        ("pair.rule=best", "must be one of 'prct', 'all'"),
        ("train.reference=fixed", "must be one of 'previous', 'initial'"),
        ("policy.dtype=int8", "must be one of 'auto', 'float32', 'bfloat16', 'float16'"),
    ],
)
def test_literal_fields_list_their_choices(override, choices):
    with pytest.raises(DnoError) as err:
        load_config(None, [override])
    key = override.split("=")[0]
    assert f"`{key}` {choices}" in str(err.value)


def test_launch_keys_are_how_a_run_executes():
    from dno.config import launch_keys

    keys = launch_keys()
    assert {
        "threads",
        "judge.concurrency",
        "judge.timeout_s",
        "sample.gpu_memory_utilization",
        "train.report_to",
        "eval.judge.concurrency",
    } <= keys
    assert not keys & {"train.beta", "sample.k", "iterations", "judge.type", "train.loss"}


def test_apply_overrides_nests_and_types_without_touching_its_input():
    from dno.config import apply_overrides

    data = {"train": {"beta": 0.1}}
    out = apply_overrides(data, ["train.lr=0.002", "sample.k=3", "judge.base_url="])
    assert out == {"train": {"beta": 0.1, "lr": 0.002}, "sample": {"k": 3}, "judge": {"base_url": ""}}
    assert data == {"train": {"beta": 0.1}}
    with pytest.raises(DnoError, match="not a section"):
        apply_overrides({"train": 3}, ["train.beta=1"])


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


def test_an_unquoted_no_is_the_word_where_a_choice_is_no(tmp_path):
    """YAML 1.1 reads `no` as False: `train.mixed_precision=no` (accelerate's name) must still mean "no"."""
    assert load_config(None, ["train.mixed_precision=no"]).train.mixed_precision == "no"
    f = tmp_path / "c.yaml"
    f.write_text("train:\n  mixed_precision: no\n")
    assert load_config(f).train.mixed_precision == "no"
    with pytest.raises(DnoError, match="one of"):
        load_config(None, ["policy.dtype=no"])  # no word of that kind among its choices


def test_a_number_in_exponent_form_is_a_number(tmp_path):
    """PyYAML (YAML 1.1) reads `2e-5` as a string; a user writing `train.lr=2e-5` means the number."""
    assert load_config(None, ["train.lr=2e-5"]).train.lr == 2e-5
    assert load_config(None, ["train.lr=3E-4", "train.beta=1e1"]).train.beta == 10.0
    f = tmp_path / "c.yaml"
    f.write_text("train:\n  lr: 5e-6\n")
    assert load_config(f).train.lr == 5e-6
    assert load_config(None, ["policy.model=1e5"]).policy.model == "1e5"  # a string field keeps its text
    with pytest.raises(DnoError, match="train.lr"):
        load_config(None, ["train.lr=1e"])
