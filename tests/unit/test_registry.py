"""The registries of judges, tasks and losses: names in config fields, clear errors, one name one entry."""

from __future__ import annotations

import pytest

from dno.config import load_config
from dno.errors import DnoError
from dno.judges import JUDGES, build_judge
from dno.judges.base import Judge
from dno.registry import Registry
from dno.tasks import TASKS
from dno.training.losses import LOSSES, loss_fn

BUILT_IN = {
    "judges": (JUDGES, {"oracle", "llm", "api", "callable"}),
    "tasks": (TASKS, {"arithmetic", "instructions", "wordcount"}),
    "losses": (LOSSES, {"dpo", "dno", "sppo", "sft"}),
}


@pytest.mark.parametrize("kind", sorted(BUILT_IN))
def test_the_built_ins_are_registered(kind):
    registry, names = BUILT_IN[kind]
    assert names <= set(registry.names())


@pytest.mark.parametrize(
    "lookup, field, kind",
    [
        (lambda: JUDGES.get("gpt", "judge.type"), "judge.type", "judges"),
        (lambda: TASKS.get("algebra", "data.tasks"), "data.tasks", "tasks"),
        (lambda: loss_fn("ppo"), "train.loss", "losses"),
        (
            lambda: build_judge(type("Cfg", (), {"type": "gpt"})(), field_prefix="eval.judge"),
            "eval.judge.type",
            "judges",
        ),
    ],
)
def test_an_unknown_name_is_an_error_naming_the_field_and_the_known_names(lookup, field, kind):
    with pytest.raises(DnoError) as err:
        lookup()
    msg = str(err.value)
    assert f"`{field}`" in msg
    registry, names = BUILT_IN[kind]
    assert all(repr(n) in msg or n in msg for n in names) and ", ".join(registry.names()) in msg


@pytest.mark.parametrize(
    "override, field, unknown, kind",
    [
        ("judge.type=gpt", "judge.type", "gpt", "judges"),
        ("eval.judge.type=gpt", "eval.judge.type", "gpt", "judges"),
        ("data.tasks={algebra: 1}", "data.tasks", "algebra", "tasks"),
        ("train.loss=ppo", "train.loss", "ppo", "losses"),
    ],
)
def test_config_fields_take_the_registries_names(override, field, unknown, kind):
    with pytest.raises(DnoError) as err:
        load_config(None, [override])
    msg = str(err.value)
    registry, _ = BUILT_IN[kind]
    assert f"`{field}`" in msg and repr(unknown) in msg and ", ".join(registry.names()) in msg


@pytest.mark.parametrize("kind", sorted(BUILT_IN))
def test_registering_a_taken_name_twice_raises_and_keeps_the_first(kind):
    registry, names = BUILT_IN[kind]
    name = sorted(names)[0]
    first = dict(registry.items())[name]
    with pytest.raises(ValueError, match=f"{name!r} is registered twice"):
        registry.register(name)(object())
    assert dict(registry.items())[name] is first


def test_a_new_registry_loads_its_package_and_takes_new_names():
    reg: Registry[type] = Registry("judge", "dno.judges")
    assert reg.names() == [], "a fresh registry holds only what registers into it"

    @reg.register("mine")
    class Mine(Judge):
        pass

    assert reg.register("mine")(Mine) is Mine  # the same object again is not a clash
    assert "mine" in reg and reg.get("mine", "judge.type") is Mine and reg.names() == ["mine"]
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("mine")(type("Other", (Judge,), {}))
    with pytest.raises(DnoError, match=r"`judge.type` 'yours' is not a known judge \(known: mine\)"):
        reg.get("yours", "judge.type")
