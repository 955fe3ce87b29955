"""The programmatic verifier of the built-in tasks, as a judge."""

from __future__ import annotations

from typing import Sequence

from dno.errors import DnoError
from dno.judges.base import Scores, compare_from_scores
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

    def compare(self, prompt: dict, a: str, b: str) -> float:
        """1, 0 or 0.5 from the verifier's scores."""
        s = self.score(prompt, [a, b]).scores
        return compare_from_scores(s[0], s[1])
