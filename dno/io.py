"""Atomic file writes and JSONL reading: a crash never leaves a half-written artifact behind."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from dno import faults
from dno.errors import DnoError

TMP_SUFFIX = ".dno.tmp"
"""Temporary files of atomic writes end with this (and nothing else of dno's or a user's does), so the clean-up
after a crash can tell them apart from a user's own `.tmp` files."""


def write_text(path: Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            if faults.ACTIVE:  # tests: die with half the bytes in the temporary file
                fh.write(text[: len(text) // 2])
                fh.flush()
                faults.point(f"writing.{path.name}")
                text = text[len(text) // 2 :]
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        faults.point(f"wrote.{path.name}")
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):  # disk full, read-only, permission: the old file (if any) is intact
            raise DnoError(f"{path}: cannot write ({e.strerror or e}); fix that and run again to resume") from None
        raise


def write_json(path: Path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    write_text(path, "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows))


def read_json(path: Path):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DnoError(f"{path}: line {e.lineno}: corrupt JSON ({e.msg}); delete it to redo that stage") from None


def numbered_jsonl(path: Path, name: str | None = None, problem: str = "") -> list[tuple[object, int]]:
    """(value, line number) per non-blank line; a line that is not JSON is a DnoError naming `name` (default
    the path) and the line: "corrupt JSONL line ... delete the file" for dno's own files, else `problem`."""
    rows = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rows.append((json.loads(line), lineno))
            except json.JSONDecodeError as e:
                what = problem or "corrupt JSONL line ({}); delete the file to redo that stage"
                raise DnoError(f"{name or path}:{lineno}: {what.format(e.msg)}") from None
    return rows


def read_jsonl(path: Path) -> list[dict]:
    return [row for row, _ in numbered_jsonl(path)]


def replace_dir(tmp: Path, target: Path) -> None:
    """Move a fully written directory into place (the rename is the commit point)."""
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)
