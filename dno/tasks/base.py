"""The task interface and registry: a prompt generator and the oracle that checks its answers.

A task is one module of this package with one registered class:

    @register_task
    class MyTask(Task):
        name = "my_task"
        fields = ("target",)                  # what a prompt record must carry for the oracle
        def generate(self, rng): return {"prompt": "...", "target": ...}
        def score(self, record, response): return 6.0, {"why": ...}     # 0-6, the rubric's scale
        def generate_ood(self, rng): ...      # optional: the same skill in phrasings generate never uses
        def reference(self, record): ...      # optional: a right answer, the gold candidate of teacher.source=data
        def repair(self, record, responses): ...  # optional: a sample edited to a right answer (teacher.source=repair)
"""

from __future__ import annotations

import random

from dno.errors import DnoError
from dno.registry import Registry


class Task:
    name: str = ""
    fields: tuple[str, ...] = ()
    """The record fields the oracle reads; a user's row with these fields is taken as this task."""
    optional_fields: tuple[str, ...] = ()
    """Fields the oracle reads when a row has them (kept from a user's named columns too)."""

    def generate(self, rng: random.Random) -> dict:
        """A fresh prompt record: {"prompt": str, **fields}."""
        raise NotImplementedError

    def generate_ood(self, rng: random.Random) -> dict | None:
        """A prompt of the same skill (or a neighbouring one the oracle can check) phrased in words and
        templates that `generate` never uses: the out-of-distribution evaluation. None: the task has none."""
        return None

    def reference(self, record: dict) -> str | None:
        """A right answer to `record` that the oracle scores at the top, or None: the gold candidate that
        `teacher.source: data` adds where the record has no `gold` of its own."""
        return None

    def repair(self, record: dict, responses: list[str]) -> str | None:
        """One of the policy's own finished `responses` edited into an answer the oracle scores at the top, or
        None (no response to edit, or one already at the top): the candidate of `teacher.source: repair`. A
        verifier that knows *how* an answer fails can often say how to fix it (a format, a missing word)."""
        return None

    def score(self, record: dict, response: str) -> tuple[float, dict]:
        """The oracle: a 0-6 score for `response` and the checks behind it."""
        raise NotImplementedError

    def check(self, record: dict, where: str) -> None:
        """Raise a DnoError naming `where` when the oracle could not score answers to `record`."""
        missing = [f for f in self.fields if f not in record]
        if missing:
            raise DnoError(f"{where}: task {self.name!r} needs the field `{missing[0]}`")


TASKS: Registry[Task] = Registry("task", "dno.tasks")


def register_task(cls: type[Task]) -> type[Task]:
    """Class decorator: register one instance of the task under its `name`."""
    TASKS.register(cls.name)(cls())
    return cls


def gold_answer(record: dict) -> str | None:
    """The record's own `gold` answer, else its task's reference answer (synthetic arithmetic has one)."""
    if isinstance(record.get("gold"), str) and record["gold"]:
        return record["gold"]
    name = record.get("task")
    return TASKS.get(name, "task").reference(record) if name in TASKS else None


def repaired_answer(record: dict, responses: list[str]) -> str | None:
    """The record's task's repair of one of `responses` (see Task.repair); None for a task without one."""
    name = record.get("task")
    return TASKS.get(name, "task").repair(record, responses) if name in TASKS else None


def can_repair(record: dict) -> bool:
    """Whether the record's task implements Task.repair."""
    name = record.get("task")
    return name in TASKS and type(TASKS.get(name, "task")).repair is not Task.repair


def unscorable_reason(record: dict) -> str:
    """Why the oracle cannot score a record: its task is unknown, or a field it needs is missing or wrong."""
    name = record.get("task")
    if name is not None and name not in TASKS:
        return f"unknown task {name!r} (known: {', '.join(TASKS.names())})"
    for _, task in TASKS.items():
        if name in (None, task.name) and any(f in record for f in task.fields):
            try:
                task.check(record, "it")
            except DnoError as e:
                return str(e)
    wanted = "; ".join(f"`{'`, `'.join(t.fields)}` for {n}" for n, t in TASKS.items() if t.fields)
    return f"no field the oracle can check ({wanted})"
