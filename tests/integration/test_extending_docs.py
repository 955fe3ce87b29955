"""docs/extending.md's examples are real: each block is written to the file it names and a whole tiny
run uses the new judge, task and loss through `plugins`, as the page says."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from dno import io
from dno.cli import main

PAGE = Path(__file__).resolve().parents[2] / "docs" / "extending.md"


def example_files(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for block in re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.S):
        first = block.splitlines()[0]
        assert first.startswith("# file: "), f"every python block of {PAGE.name} names its file: {first!r}"
        path = tmp_path / first[len("# file: ") :].strip()
        path.write_text(block)
        out[path.stem] = path
    return out


def test_the_extending_page_examples_run_end_to_end(tmp_path, capsys):
    files = example_files(tmp_path)
    assert set(files) == {"shortest_judge", "echo_task", "ipo_loss"}
    command = re.search(r"```bash\n(dno run tiny .*?)```", PAGE.read_text(), re.S).group(1)
    argv = shlex.split(command.replace("\\\n", " "))[1:]  # as the shell would pass them
    joined = [
        re.sub(r"(\w+\.py)", lambda m: str(tmp_path / m.group(1)), a) if a.startswith("plugins=") else a for a in argv
    ]
    run = tmp_path / "run"
    assert main([*joined, "iterations=1", "--run-dir", str(run)]) == 0, capsys.readouterr().err
    judged = io.read_jsonl(run / "iter_1" / "judgments.jsonl")
    assert {j["judge"] for j in judged} == {"shortest"}
    prompts = io.read_jsonl(run / "iter_1" / "prompts.jsonl")
    assert {p["task"] for p in prompts} == {"echo"} and all("word" in p for p in prompts)
    assert io.read_json(run / "iter_1" / "train_summary.json")["loss"] == "ipo"
    assert len(io.read_jsonl(run / "iter_1" / "train_log.jsonl")) >= 1
    assert io.read_json(run / "iter_1" / "eval" / "metrics.json")["by_task"].keys() == {"echo"}
