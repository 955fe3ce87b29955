"""The programmatic verifier of the built-in tasks, as a judge."""

from __future__ import annotations

from typing import Sequence

from dno.errors import DnoError
from dno.judges.base import Scores
from dno.tasks import TASKS


class OracleJudge:
    name = "oracle"

    def score(self, prompt: dict, candidates: Sequence[str]) -> Scores:
        task = TASKS.get(prompt.get("task", ""))
        if task is None:
            raise DnoError(
                f"prompt {prompt.get('id')!r}: the oracle judge needs an `answer` or `constraints` field "
                "(or use an LLM judge for free-form prompts)"
            )
        results = [task.score(prompt, c) for c in candidates]
        return Scores([s for s, _ in results], {"checks": [d for _, d in results]})
