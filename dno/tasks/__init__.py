"""Prompt sources: the built-in verifiable tasks (one module each, registered in `TASKS`), or a user's
JSONL file / saved `datasets` dataset.

A prompt record is a plain dict, one JSONL line in a run directory:
  {"id": "train-00017", "messages": [{"role": "user", "content": "..."}], "task": "arithmetic", "answer": 85}
Fields besides `id` and `messages` are for the oracle: each task names the fields it reads (`answer` for
arithmetic, `constraints` for instructions, `n` for wordcount). A user's row is of the task it names in
`task`, or of the one task whose fields it carries; either way the oracle must be able to check it.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from dno.errors import DnoError
from dno.tasks.base import TASKS, Task, register_task, unscorable_reason

__all__ = ["TASKS", "Task", "load_user_prompts", "make_splits", "register_task", "synthetic_pool", "unscorable_reason"]


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


def _record_from_row(row: object, where: str) -> dict:
    if not isinstance(row, dict):
        raise DnoError(f"{where}: expected a JSON object, got {type(row).__name__}")
    if "messages" in row:
        msgs = row["messages"]
        if not (
            isinstance(msgs, list) and msgs and all(isinstance(m, dict) and {"role", "content"} <= set(m) for m in msgs)
        ):
            raise DnoError(f"{where}: `messages` must be a non-empty list of {{role, content}} objects")
    elif isinstance(row.get("prompt"), str) and row["prompt"].strip():
        msgs = [{"role": "user", "content": row["prompt"]}]
    else:
        raise DnoError(f"{where}: needs a non-empty `prompt` string or a `messages` list")
    rec = {k: v for k, v in row.items() if k not in ("prompt", "messages")}
    rec["messages"] = msgs
    if isinstance(rec.get("id"), int) and not isinstance(rec["id"], bool):
        rec["id"] = str(rec["id"])  # datasets often number their rows
    if "id" in rec and not (isinstance(rec["id"], str) and rec["id"].strip()):
        raise DnoError(f"{where}: `id` must be a non-empty string or an integer, got {rec['id']!r}")
    name = rec.get("task")
    if name is None:  # the one task whose oracle fields the row carries, if any
        claims = [task for _, task in TASKS.items() if task.fields and all(f in rec for f in task.fields)]
        if len(claims) > 1:
            raise DnoError(
                f"{where}: carries the fields of tasks {', '.join(t.name for t in claims)}; "
                "say which with a `task` field"
            )
        if claims:
            rec["task"] = name = claims[0].name
    if isinstance(name, str) and name in TASKS:
        # a checkable row or a clear error now, never a crash at judge time
        TASKS.get(name, "task").check(rec, where)
    elif name is not None and not isinstance(name, str):
        raise DnoError(f"{where}: `task` must be a string, got {name!r}")
    return rec


def load_user_prompts(source: str) -> list[dict]:
    path = Path(source)
    if not path.exists():
        raise DnoError(f"{source}: prompts file or dataset directory not found (data.source)")
    rows: list[tuple[object, str]] = []
    if path.is_dir():
        try:
            import datasets

            ds = datasets.load_from_disk(str(path))
        except Exception as e:  # datasets raises many types for a bad directory
            raise DnoError(f"{source}: not a dataset saved with `save_to_disk` ({type(e).__name__}: {e})") from None
        if isinstance(ds, datasets.DatasetDict):
            ds = ds[next(iter(ds))]
        rows = [(row, f"{source}: row {i}") for i, row in enumerate(ds)]
    else:
        with open(path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    rows.append((json.loads(line), f"{source}:{lineno}"))
                except json.JSONDecodeError as e:
                    raise DnoError(f"{source}:{lineno}: not valid JSON ({e.msg})") from None
    records = [_record_from_row(row, where) for row, where in rows]
    first: dict[str, str] = {}
    for rec, (_, where) in zip(records, rows):
        if "id" in rec and first.setdefault(rec["id"], where) != where:
            raise DnoError(f"{where}: prompt id {rec['id']!r} is also used at {first[rec['id']]}; ids must be unique")
    if not records:
        raise DnoError(f"{source}: no prompts found")
    return records


def make_splits(data_cfg, iterations: int) -> dict[str, list[dict]]:
    """Disjoint test, validation and per-iteration train slices, fixed by `data.seed`."""
    n_test, n_val, n_train = data_cfg.test_prompts, data_cfg.val_prompts, data_cfg.prompts_per_iteration
    need = n_test + n_val + n_train * iterations
    if data_cfg.source == "synthetic":
        pool = synthetic_pool(need, data_cfg.tasks, data_cfg.seed)
        pool = [_finish(dict(r), "") for r in pool]
    else:
        pool = load_user_prompts(data_cfg.source)
        random.Random(data_cfg.seed).shuffle(pool)
        if len(pool) < need:
            raise DnoError(
                f"{data_cfg.source}: has {len(pool)} prompts but the config needs {need} "
                f"(test {n_test} + val {n_val} + {iterations} x {n_train} train); lower data.* or iterations"
            )
    splits = {"test": pool[:n_test], "val": pool[n_test : n_test + n_val]}
    if data_cfg.source == "synthetic" and data_cfg.ood_prompts:
        splits["ood"] = [_finish(dict(r), "") for r in ood_pool(data_cfg.ood_prompts, data_cfg.tasks, data_cfg.seed)]
    for t in range(iterations):
        start = n_test + n_val + t * n_train
        splits[f"train{t + 1}"] = pool[start : start + n_train]
    given = {r["id"] for recs in splits.values() for r in recs if r.get("id")}
    seen: set[str] = set()
    for name, recs in splits.items():
        base = name.rstrip("0123456789")
        for i, r in enumerate(recs):
            if not r.get("id") and f"{name}-{i:05d}" in given:
                raise DnoError(
                    f"{data_cfg.source}: prompt id {name}-{i:05d} is one dno gives automatically to unnamed "
                    "prompts; rename it"
                )
            r["id"] = r.get("id") or f"{name}-{i:05d}"
            if r["id"] in seen:  # judging and training look records up by id
                raise DnoError(f"{data_cfg.source}: prompt id {r['id']!r} is used by two prompts; ids must be unique")
            seen.add(r["id"])
            r.setdefault("split", base)
    return splits
