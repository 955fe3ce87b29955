"""Judges: who decides which response is better. See base.Judge for the interface and docs/judges.md."""

from __future__ import annotations

from pathlib import Path

from dno.errors import DnoError
from dno.judges.base import Judge, Scores, compare_from_scores, score_all
from dno.judges.oracle import OracleJudge

__all__ = ["Judge", "Scores", "OracleJudge", "build_judge", "compare_from_scores", "score_all"]

TYPES = ("oracle", "llm", "api", "callable")


def build_judge(cfg, cache_dir: str | Path | None = None, field_prefix: str = "judge") -> Judge:
    """A judge from a `JudgeConfig`. LLM and API judges keep their answer cache in `cache_dir` (in memory if None)."""
    if cfg.type == "oracle":
        return OracleJudge()
    if cfg.type == "callable":
        from dno.judges.callable import CallableJudge

        return CallableJudge(cfg, field_prefix)
    if cfg.type in ("llm", "api"):
        from dno.judges.backends import APIBackend, LocalBackend
        from dno.judges.cache import JudgeCache
        from dno.judges.llm import LLMJudge

        backend = APIBackend(cfg, field_prefix) if cfg.type == "api" else LocalBackend(cfg, field_prefix)
        cache = JudgeCache(Path(cache_dir) / "answers.sqlite" if cache_dir is not None else None)
        return LLMJudge(cfg, backend, cache, field_prefix=field_prefix)
    raise DnoError(f"config: `{field_prefix}.type` {cfg.type!r} is not a known judge (known: {', '.join(TYPES)})")
