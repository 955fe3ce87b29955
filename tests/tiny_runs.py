"""Small run directories shared by the stage-command, DDP and GPU tests (the `sampled_run` fixture)."""

from __future__ import annotations

import shutil
from pathlib import Path

# The tiny config made smaller still: 12 prompts in batches of 4, 4 new tokens.
FAST = [
    "tiny",
    "threads=1",
    "iterations=1",
    "data.prompts_per_iteration=12",
    "data.test_prompts=4",
    "data.val_prompts=0",
    "data.ood_prompts=4",
    "sample.max_new_tokens=4",
    "sample.batch_size=4",
    "eval.max_new_tokens=4",
]


def make_sampled_run(root: Path) -> Path:
    """A prepared tiny run whose iteration 1 was sampled and judged without shards."""
    from dno.cli import main

    assert main(["prepare", *FAST, "--run-dir", str(root)]) == 0
    assert main(["sample", str(root), "--iter", "1"]) == 0
    assert main(["judge", str(root), "--iter", "1"]) == 0
    return root


def prepared_with_samples(sampled: Path, root: Path, *overrides: str) -> Path:
    """A fresh run prepared with FAST (+ overrides) whose iteration 1 has `sampled`'s samples and judgments."""
    from dno.cli import main

    assert main(["prepare", *FAST, *overrides, "--run-dir", str(root)]) == 0
    for name in ("samples.jsonl", "judgments.jsonl"):
        shutil.copy(sampled / "iter_1" / name, root / "iter_1" / name)
    return root
