"""How a config field is declared and checked: `setting(default, check, launch=...)`, the small check
builders, and `build`, which turns a nested mapping into the dataclasses with type errors naming the key.
The settings themselves live in dno/config.py."""

from __future__ import annotations

import copy
import dataclasses
import math
import re
import types
import typing
from collections.abc import Callable
from dataclasses import field
from typing import Any, Literal

from dno.errors import DnoError

Check = Callable[[Any], "str | None"]


_UNSET = object()


def setting(default: Any, check: Check | None = None, *, launch: bool = False, before: Any = _UNSET) -> Any:
    """A config field: its default, an optional check (value -> error text or None), whether it is a launch
    setting (how the run executes, not what it computes), and `before`: what dno did before the setting
    existed, where that is not its default (a run directory's config.yaml that predates it reads as that)."""
    meta = {"check": check, "launch": launch, **({} if before is _UNSET else {"before": before})}
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: copy.deepcopy(default), metadata=meta)
    return field(default=default, metadata=meta)


def section(cls: type) -> Any:
    return field(default_factory=cls)


def at_least(lo: float) -> Check:
    return lambda v: None if v >= lo else f"must be >= {lo}"


def above(lo: float) -> Check:
    return lambda v: None if v > lo else f"must be > {lo}"


def within(lo: float, hi: float, *, open_lo: bool = False, open_hi: bool = False) -> Check:
    def check(v):
        ok = (v > lo if open_lo else v >= lo) and (v < hi if open_hi else v <= hi)
        return None if ok else f"must be in {'(' if open_lo else '['}{lo}, {hi}{')' if open_hi else ']'}"

    return check


def url_without_credentials(v: str) -> str | None:
    """API servers' URLs: a user:password@ part would be printed and saved with the config."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(v)
        userinfo = parts.username is not None or parts.password is not None
    except ValueError:
        return None  # the judge's own check names a malformed URL
    if userinfo:
        return "must not hold credentials (user:password@): put the key in the variable that api_key_env names"
    return None


def device_name(v: str) -> str | None:
    ok = v in ("auto", "cpu", "mps") or re.fullmatch(r"cuda(:\d+)?", v)
    return None if ok else "must be auto, cpu, cuda, cuda:N or mps"


def preference_data(v: str) -> str | None:
    """pair.warm_start: "" or a file or folder dno.formats.load_preference_pairs reads (rows checked at preflight)."""
    from pathlib import Path

    from dno.data import FILE_FORMATS

    path = Path(v)
    if not v or path.suffix in ("", *FILE_FORMATS) or path.is_dir():
        return None
    return "must be a .jsonl, .json, .parquet or .csv file or a dataset folder"


def registered(kind: str) -> Check:
    """A name of the judge, task or loss registry (dno.registry): `kind` is judges, tasks or losses."""

    def check(v):
        names = _registry(kind).names()
        for name in v if isinstance(v, dict) else [v]:
            if name not in names:
                return f"has unknown {kind[:-1]} {name!r} (known: {', '.join(names)})"
        return None

    return check


def _registry(kind: str):
    if kind == "judges":
        from dno.judges import JUDGES

        return JUDGES
    if kind == "tasks":
        from dno.tasks import TASKS

        return TASKS
    from dno.training.losses import LOSSES

    return LOSSES


def task_weights(v: dict) -> str | None:
    if not v or any(w < 0 for w in v.values()) or sum(v.values()) <= 0:
        return "needs at least one positive weight"
    return registered("tasks")(v)


def _type_ok(value: Any, tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if tp is float:  # inf and nan slip through every range check, so they are not numbers here
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp in (str, bool):
        return isinstance(value, tp)
    if origin is Literal:
        return value in typing.get_args(tp)
    if origin is list:
        (it,) = typing.get_args(tp)
        return isinstance(value, list) and all(_type_ok(v, it) for v in value)
    if origin is dict:
        kt, vt = typing.get_args(tp)
        return isinstance(value, dict) and all(_type_ok(k, kt) and _type_ok(v, vt) for k, v in value.items())
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, a) for a in typing.get_args(tp))
    return True


# PyYAML follows YAML 1.1, where `1e-5` (no dot) is a string; YAML 1.2 and every user read it as a number.
_YAML12_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)[eE][-+]?[0-9]+")


def _yaml_word(value: bool, choices: tuple) -> Any:
    """YAML reads an unquoted `no` (`yes`, `off`, `on`) as a boolean: back to the word, when it is a choice
    (`train.mixed_precision=no`)."""
    words = [w for w in (("yes", "on", "true") if value else ("no", "off", "false")) if w in choices]
    return words[0] if len(words) == 1 else value


def _type_name(tp: Any) -> str:
    if tp is float:
        return "a finite number"
    if typing.get_origin(tp) is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    return getattr(tp, "__name__", str(tp))


def build(cls: type, data: dict, prefix: str = "", source: str = "config") -> Any:
    """A config dataclass from a (nested) mapping: unknown keys and wrong types are DnoErrors naming the key."""
    if not isinstance(data, dict):
        raise DnoError(f"{source}: `{prefix.rstrip('.') or 'config'}` must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            raise DnoError(f"{source}: unknown key `{prefix}{key}` (known: {', '.join(sorted(names))})")
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            kwargs[key] = build(tp, value, f"{prefix}{key}.", source)
            continue
        if isinstance(value, int) and tp is float and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, str) and tp is float and _YAML12_FLOAT.fullmatch(value):
            value = float(value)
        if isinstance(value, bool) and typing.get_origin(tp) is Literal:
            value = _yaml_word(value, typing.get_args(tp))
        if not _type_ok(value, tp):
            raise DnoError(f"{source}: `{prefix}{key}` must be {_type_name(tp)}, got {value!r}")
        kwargs[key] = value
    return cls(**kwargs)


def before_added(cls: type, prefix: str = "") -> dict[str, Any]:
    """Dotted name -> value of the settings declared with `before=` (see `setting`)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        tp = typing.get_type_hints(cls)[f.name]
        if dataclasses.is_dataclass(tp):
            out |= before_added(tp, f"{prefix}{f.name}.")
        elif "before" in f.metadata:
            out[f"{prefix}{f.name}"] = f.metadata["before"]
    return out


def fill_before_added(cls: type, data: dict) -> dict:
    """A saved run config (nested mapping) with the `before=` values of the settings it predates."""
    data = copy.deepcopy(data)
    for key, value in before_added(cls).items():
        *sections, name = key.split(".")
        node = data
        for s in sections:
            node = node.setdefault(s, {}) if isinstance(node.get(s, {}), dict) else {}
        node.setdefault(name, value)
    return data


def fields_where(cls: type, flag: str, prefix: str = "") -> set[str]:
    """Dotted names of the settings whose metadata sets `flag` (e.g. `launch`)."""
    out: set[str] = set()
    for f in dataclasses.fields(cls):
        tp = typing.get_type_hints(cls)[f.name]
        if dataclasses.is_dataclass(tp):
            out |= fields_where(tp, flag, f"{prefix}{f.name}.")
        elif f.metadata.get(flag):
            out.add(f"{prefix}{f.name}")
    return out
