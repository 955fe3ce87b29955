"""Judges: who decides which response is better. See base.Judge for the interface."""

from __future__ import annotations

from dno.errors import DnoError
from dno.judges.base import Judge, Scores, compare_from_scores, score_all
from dno.judges.oracle import OracleJudge

__all__ = ["Judge", "Scores", "OracleJudge", "build_judge", "compare_from_scores", "score_all"]


def build_judge(cfg) -> Judge:
    """A judge from a `JudgeConfig`."""
    if cfg.type == "oracle":
        return OracleJudge()
    raise DnoError(f"config: `judge.type` {cfg.type!r} is not a known judge (known: oracle)")
