"""Judges: who decides which response is better. See base.Judge for the interface and docs/judges.md.

Every module of this package registers its judge types in `JUDGES`; `judge.type` names one of them.
"""

from __future__ import annotations

from pathlib import Path

from dno.judges import noisy
from dno.judges.base import JUDGES, Judge, Scores, compare_from_scores, score_all, scores_from_comparisons

__all__ = ["JUDGES", "Judge", "Scores", "build_judge", "compare_from_scores", "score_all", "scores_from_comparisons"]


def build_judge(cfg, cache_dir: str | Path | None = None, field_prefix: str = "judge") -> Judge:
    """A judge from a `JudgeConfig`, wrapped in its noise when `noise` sets any (noisy.py). LLM, API and reward-model
    judges keep their answer cache in `cache_dir` (in memory if None)."""
    cls = JUDGES.get(cfg.type, f"{field_prefix}.type")
    judge = cls.from_config(
        cfg, cache_dir=Path(cache_dir) if cache_dir is not None else None, field_prefix=field_prefix
    )
    return noisy.NoisyJudge(judge, cfg.noise) if noisy.active(cfg.noise) else judge
