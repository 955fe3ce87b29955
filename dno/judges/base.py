"""The judge interface: every judge (oracle, local LLM, API, user callable) satisfies `Judge`.

Judges score pointwise: all candidates of one prompt at once, each on the judge's scale (the
oracle and the DNO rubric use 0-6). A failed judgment is NaN, never a fake middle score; the
pipeline drops NaN candidates from pairing and counts them as failures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol, Sequence, runtime_checkable

from dno import faults


@dataclass
class Scores:
    scores: list[float]
    """One score per candidate, NaN where the judge failed."""
    info: dict = field(default_factory=dict)
    """Judge-specific details worth keeping in judgments.jsonl (per-candidate checks, raw text, tokens)."""


@runtime_checkable
class Judge(Protocol):
    name: str

    def score(self, prompt: dict, candidates: Sequence[str]) -> Scores:
        """Score every candidate response to `prompt` (a prompt record, see dno.tasks)."""
        ...


def compare_from_scores(a: float, b: float) -> float:
    """P(a beats b) implied by two pointwise scores: 1, 0 or 0.5 for a tie; NaN if either failed."""
    if math.isnan(a) or math.isnan(b):
        return math.nan
    return 1.0 if a > b else 0.0 if a < b else 0.5


def score_all(judge: Judge, prompts: Sequence[dict], candidates: Sequence[Sequence[str]], progress=None) -> list[Scores]:
    """Score many prompts; judges with a `score_many` (e.g. concurrent API judges) get the batch whole."""
    if hasattr(judge, "score_many"):
        return judge.score_many(prompts, candidates, progress=progress)
    out = []
    for p, c in zip(prompts, candidates):
        out.append(judge.score(p, c))
        faults.point("judged")
        if progress is not None:
            progress.update(1)
    return out
