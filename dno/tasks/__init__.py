"""The built-in verifiable tasks (one module each, registered in `TASKS`) and their synthetic prompt pools.

A prompt record is a plain dict, one JSONL line in a run directory:
  {"id": "train-00017", "messages": [{"role": "user", "content": "..."}], "task": "arithmetic", "answer": 85}
Fields besides `id` and `messages` are for the oracle: each task names the fields it reads (`answer` for
arithmetic, `constraints` for instructions, `n` for wordcount). A user's own prompts: dno/data.py.
"""

from __future__ import annotations

import random

from dno.errors import DnoError
from dno.tasks.base import TASKS, Task, can_repair, gold_answer, register_task, repaired_answer, unscorable_reason

__all__ = [
    "TASKS",
    "Task",
    "can_repair",
    "gold_answer",
    "ood_pool",
    "register_task",
    "repaired_answer",
    "synthetic_pool",
    "unscorable_reason",
]


def _finish(record: dict, pid: str) -> dict:
    text = record.pop("prompt")
    return {"id": pid, "messages": [{"role": "user", "content": text}], **record}


def _draw(n: int, weights: dict[str, float], rng: random.Random, names: list[str], generate) -> list[dict]:
    """Up to `n` distinct prompts: a task drawn by weight, then `generate(task, rng)`; the same rng state gives
    the same list."""
    seen: set[str] = set()
    out: list[dict] = []
    for _ in range(n * 50):
        if len(out) == n:
            break
        name = rng.choices(names, [weights[k] for k in names])[0]
        rec = {"task": name, **generate(TASKS.get(name, "data.tasks"), rng)}
        if rec["prompt"] not in seen:
            seen.add(rec["prompt"])
            out.append(rec)
    return out


def synthetic_pool(n: int, weights: dict[str, float], seed: int) -> list[dict]:
    """`n` distinct prompts drawn from the task mix; the same seed gives the same list."""
    for name in sorted(weights):
        TASKS.get(name, "data.tasks")
    names = sorted(w for w in weights if weights[w] > 0)
    out = _draw(n, weights, random.Random(seed), names, lambda task, rng: task.generate(rng))
    if len(out) < n:
        raise DnoError(f"config: the task mix {weights} cannot produce {n} distinct prompts")
    return out


def ood_pool(n: int, weights: dict[str, float], seed: int) -> list[dict]:
    """`n` distinct out-of-distribution prompts from the task mix's `generate_ood` (tasks without one are
    left out); fixed by the seed, and independent of the training pool's draws."""
    names = sorted(w for w in weights if weights[w] > 0 and TASKS.get(w, "data.tasks").generate_ood(random.Random(0)))
    if not names:
        return []
    return _draw(n, weights, random.Random(f"ood-{seed}"), names, lambda task, rng: task.generate_ood(rng))
