"""A run's prompt slices are fixed once written: growing a run keeps them byte for byte, and a prompt
source edited since the run began is refused, naming the slice and line that would change."""

from __future__ import annotations

import json

from tiny_runs import FAST

from dno.cli import main

SIZES = [*FAST, "data.prompts_per_iteration=8", "data.test_prompts=6"]


def _prompts(path, n, start=0):
    with open(path, "a") as fh:
        for i in range(start, start + n):
            fh.write(
                json.dumps({"prompt": f"How many words are in: {'w ' * (i % 9 + 1)}? ({i})", "n": i % 9 + 1}) + "\n"
            )


def _snapshot(root):
    return {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file() and p.name != ".dno.lock"}


def test_growing_keeps_the_slices_and_a_changed_source_is_refused(tmp_path, capsys):
    source, run = tmp_path / "prompts.jsonl", tmp_path / "run"
    _prompts(source, 30)
    args = [*SIZES, f"data.source={source}"]
    where = ["--run-dir", str(run)]
    assert main(["prepare", *args, *where]) == 0
    test_slice = (run / "test_prompts.jsonl").read_bytes()
    assert main(["prepare", *args, "iterations=2", *where]) == 0  # growing: same source, one more slice
    assert (run / "test_prompts.jsonl").read_bytes() == test_slice and (run / "iter_2" / "prompts.jsonl").is_file()

    _prompts(source, 10, start=30)  # the user appends prompts, then grows the run
    before = _snapshot(run)
    capsys.readouterr()
    assert main(["run", *args, "iterations=3", *where]) == 2
    line = capsys.readouterr().err.strip()
    assert "\n" not in line and "the prompt source changed since this run began" in line
    assert str(run / "test_prompts.jsonl") + ":" in line or str(run / "iter_1" / "prompts.jsonl") + ":" in line
    assert _snapshot(run) == before
