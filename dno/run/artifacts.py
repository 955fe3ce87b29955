"""What a resumed run or a stage command may read, checked before it reads it: every JSON/JSONL file
parses, holds what its stage writes (a schema per artifact, not just "it parses"), and every saved policy's
weights are whole. Anything wrong is one DnoError naming the file, line and field, and saying what to
delete to redo the stage. (Atomic writes never leave such files; a disk fault or a hand edit can.)"""

from __future__ import annotations

import fnmatch
import json
import math
import struct
from pathlib import Path

from dno import io
from dno.errors import DnoError


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _finite(v) -> bool:
    return _number(v) and math.isfinite(v)


def _text(v) -> bool:
    return isinstance(v, str)


def _texts(v) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _numbers(v) -> bool:  # NaN is a judge's recorded failure
    return isinstance(v, list) and all(_number(x) for x in v)


def _messages(v) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(m, dict) and {"role", "content"} <= set(m) for m in v)


_KINDS = {_number: "a number", _finite: "a finite number", _text: "a string", _texts: "a list of strings",
          _numbers: "a list of numbers", _messages: "a list of {role, content} messages", int: "an integer"}  # fmt: skip

PROMPTS = {"id": _text, "messages": _messages}
RESPONSES = {"id": _text, "response": _text}
SAMPLES = {"id": _text, "responses": _texts}
JUDGMENTS = {"id": _text, "scores": _numbers}
METRICS = {"win_rate": _finite, "ci_low": _finite, "ci_high": _finite, "n": int, "mean_score": _number}

SCHEMAS: dict[str, dict] = {
    "*_prompts.jsonl": PROMPTS,
    "iter_*/prompts.jsonl": PROMPTS,
    "baseline/*.jsonl": RESPONSES,
    "iter_*/samples.jsonl": SAMPLES,
    "iter_*/shards/samples.*.jsonl": SAMPLES,
    "iter_*/judgments.jsonl": JUDGMENTS,
    "iter_*/shards/judgments.*.jsonl": JUDGMENTS,
    "iter_*/pairs.jsonl": {"id": _text, "chosen": _text, "rejected": _text, "target": _finite, "type": _text},
    "iter_*/train_log.jsonl": {"step": int, "loss": _number},
    "iter_*/*/responses.jsonl": RESPONSES,
    "iter_*/*/judgments.jsonl": {**JUDGMENTS, "outcome": _number},
    "iter_*/*/metrics.json": METRICS,
    "evals/*/iter_*/metrics.json": METRICS,
    "iter_*/train_summary.json": {"steps": int, "pairs": int},
    "best.json": {"iteration": int, "policy": _text},
}


def matches(rel: str, pattern: str) -> bool:
    """fnmatch per path segment (a `*` never spans a `/`)."""
    a, b = rel.split("/"), pattern.split("/")
    return len(a) == len(b) and all(fnmatch.fnmatchcase(x, y) for x, y in zip(a, b))


def schema_for(rel: str) -> dict | None:
    return next((s for pattern, s in SCHEMAS.items() if matches(rel, pattern)), None)


def check_record(row, schema: dict, where: str, path: Path) -> None:
    if not isinstance(row, dict):
        raise DnoError(f"{where}: expected a JSON object, got {type(row).__name__}; delete {path} to redo that stage")
    for key, ok in schema.items():
        if key not in row or not (
            isinstance(row[key], int) and not isinstance(row[key], bool) if ok is int else ok(row[key])
        ):
            got = "missing" if key not in row else f"got {json.dumps(row[key])[:40]}"
            raise DnoError(f"{where}: `{key}` must be {_KINDS[ok]} ({got}); delete {path} to redo that stage")


def check_json_file(path: Path, rel: str) -> None:
    schema = schema_for(rel)
    if path.suffix == ".json":
        data = io.read_json(path)
        if rel.endswith("timings.json"):
            schema = None
            if not isinstance(data, dict) or not all(_number(v) for v in data.values()):
                raise DnoError(f"{path}: expected seconds per stage; delete it (only times are lost)")
        if schema is not None:
            check_record(data, schema, str(path), path)
        return
    rows = io.read_jsonl(path)
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        line = data.count(b"\n") + 1
        raise DnoError(
            f"{path}:{line}: truncated JSONL (the last line has no newline); delete the file to redo that stage"
        )
    if schema is not None:
        for line, row in enumerate(rows, 1):
            check_record(row, schema, f"{path}:{line}", path)


def check_safetensors(path: Path) -> None:
    """The header parses and the file is as long as the tensors it lists (a cut copy is not)."""
    size = path.stat().st_size
    try:
        with open(path, "rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
            if n > size - 8:
                raise ValueError("header longer than the file")
            header = json.loads(fh.read(n))
        end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
    except (struct.error, ValueError, KeyError, TypeError, IndexError) as e:
        raise DnoError(
            f"{path}: corrupt safetensors ({e}); delete {path.parent} to train that iteration again"
        ) from None
    if size != 8 + n + end:
        raise DnoError(
            f"{path}: truncated safetensors ({size} bytes, expected {8 + n + end}); "
            f"delete {path.parent} to train that iteration again"
        )


def check_files(root: Path) -> None:
    """Every artifact of run directory `root` that a resume may read is whole and holds what its stage wrote."""
    for path in sorted(root.rglob("*")):
        parts = path.relative_to(root).parts  # hidden files and folders: temporaries, left to the clean-up
        if any(p.startswith(".") for p in parts) or not path.is_file():
            continue
        rel = path.relative_to(root).as_posix()
        if path.suffix in (".json", ".jsonl"):
            check_json_file(path, rel)
        elif path.suffix == ".safetensors" and matches(rel, "iter_*/policy/*"):
            check_safetensors(path)
