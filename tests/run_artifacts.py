"""Run-directory artifacts compared between runs: everything but files that hold wall-clock times."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file

TIMED = {"timings.json", "summary.md", "report.md"}
LOCKS = {".dno.lock", ".locks"}  # hold the pid of the last process that locked the run


def artifacts(root: Path) -> dict:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name not in TIMED and p.suffix != ".png" and not LOCKS & set(p.relative_to(root).parts):
            rel = str(p.relative_to(root))
            # best.json names the chosen policy by its path, which holds the run directory's own name
            out[rel] = (
                load_file(str(p)) if p.suffix == ".safetensors" else p.read_bytes().replace(str(root).encode(), b"RUN")
            )
    return out


def differences(a: dict, b: dict) -> list[str]:
    diff = sorted(set(a) ^ set(b))
    for k in sorted(set(a) & set(b)):
        if isinstance(a[k], dict):
            if a[k].keys() != b[k].keys() or any(not torch.equal(a[k][n], b[k][n]) for n in a[k]):
                diff.append(k)
        elif a[k] != b[k]:
            diff.append(k)
    return diff
