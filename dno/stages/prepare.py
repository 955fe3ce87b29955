"""Before iteration 1: the prompt slices, and π_0's answers that every iteration is compared to."""

from __future__ import annotations

from dno import io
from dno.data import make_splits
from dno.run.rundir import RunDir
from dno.stages.common import greedy

BASELINE_FILES = {"test": "responses.jsonl", "val": "val_responses.jsonl", "ood": "ood_responses.jsonl"}


def prepare(run: RunDir) -> None:
    """Fix the disjoint prompt slices: test (and validation) prompts, one training slice per iteration.
    A slice once written is never rewritten (RunDir.open refuses a prompt source that changed since)."""
    files = run.prompt_files()
    missing = {split: path for split, path in files.items() if not path.is_file()}
    if not missing:
        return
    splits = make_splits(run.cfg.data, run.cfg.iterations)
    for split, path in missing.items():
        io.write_jsonl(path, splits[split])


def baseline(run: RunDir) -> None:
    """The iteration-0 policy's greedy answers on the test (and validation) prompts."""
    for split, name in BASELINE_FILES.items():
        out, prompts_path = run.baseline_dir / name, run.root / f"{split}_prompts.jsonl"
        if prompts_path.is_file() and not out.is_file():
            io.write_jsonl(out, greedy(run, 0, io.read_jsonl(prompts_path), f"baseline responses ({split})"))
