"""The programmatic verifier of the built-in tasks, as a judge."""

from __future__ import annotations

from collections.abc import Sequence

from dno.errors import DnoError
from dno.judges.base import JUDGES, Judge, Scores
from dno.tasks import TASKS, unscorable_reason


@JUDGES.register("oracle")
class OracleJudge(Judge):
    name = "oracle"

    @classmethod
    def preflight(cls, cfg, field_prefix: str, prompts: Sequence[dict], source: str = "") -> None:
        for rec in prompts:
            if rec.get("task") not in TASKS:
                raise DnoError(
                    f"{source + ': ' if source else ''}prompt {rec['id']!r}: "
                    f"the oracle judge (`{field_prefix}.type`) cannot check it: {unscorable_reason(rec)}; "
                    "fix the record or use an llm, api or callable judge"
                )

    def score(self, prompt: dict, candidates: Sequence[str]) -> Scores:
        if prompt.get("task") not in TASKS:
            raise DnoError(
                f"prompt {prompt.get('id')!r}: the oracle judge cannot check it: {unscorable_reason(prompt)}"
            )
        task = TASKS.get(prompt["task"], "task")
        results = [task.score(prompt, c) for c in candidates]
        return Scores([s for s, _ in results], {"checks": [d for _, d in results]})
