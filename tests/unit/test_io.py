"""Atomic writes (dno/io.py): a failed write leaves the old file or the new one, never a partial one."""

from __future__ import annotations

import os

import pytest

from dno import io
from dno.errors import DnoError


def test_atomic_write_leaves_the_old_file_or_the_new_one_never_a_partial_one(tmp_path, monkeypatch):
    path = tmp_path / "out.jsonl"
    io.write_jsonl(path, [{"a": 1}])
    before = path.read_bytes()

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(DnoError, match=f"{path}: cannot write \\(No space left on device\\)"):
        io.write_jsonl(path, [{"a": 2}] * 1000)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"], "no temporary file may be left behind"


def test_jsonl_round_trip_and_a_broken_line_is_named(tmp_path):
    from dno.errors import DnoError

    path = tmp_path / "rows.jsonl"
    rows = [{"id": "a", "x": [1, 2]}, {"id": "b", "text": "é\\n"}]
    io.write_jsonl(path, rows)
    assert io.read_jsonl(path) == rows
    path.write_text('{"id": "a"}\n{"id": \n')
    with pytest.raises(DnoError, match=f"{path}:2"):
        io.read_jsonl(path)
