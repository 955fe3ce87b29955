"""A user's own Python function as the judge: `judge.function: "package.module:function"` (or `path/to/file.py:function`).

pointwise mode: `function(prompt: dict, candidates: list[str]) -> list[float]` (or a `Scores`), one score per
candidate, NaN/None for a failed judgment. pairwise mode: `function(prompt: dict, a: str, b: str) -> float`,
P(a ≻ b) in [0, 1]; scores are then 6 x mean win probability, as for the LLM pairwise judge.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from dno.errors import DnoError
from dno.judges.base import JUDGES, Judge, Scores
from dno.registry import import_module_or_file


def load_function(spec: str, field: str = "judge.function"):
    if ":" not in spec:
        raise DnoError(f"config: `{field}` must look like module:function, got {spec!r}")
    mod_name, _, fn_name = spec.rpartition(":")
    fn = getattr(import_module_or_file(mod_name, field), fn_name, None)
    if not callable(fn):
        raise DnoError(f"config: `{field}`: {mod_name!r} has no function {fn_name!r}")
    return fn


def _num(x) -> float:
    try:
        return math.nan if x is None else float(x)
    except (TypeError, ValueError):
        return math.nan


@JUDGES.register("callable")
class CallableJudge(Judge):
    def __init__(self, cfg, field_prefix: str = "judge"):
        self.mode, self.field = cfg.mode, f"{field_prefix}.function"
        self.fn = load_function(cfg.function, self.field)
        self.name = f"callable:{cfg.function}"

    @classmethod
    def from_config(cls, cfg, *, cache_dir=None, field_prefix: str = "judge") -> CallableJudge:
        return cls(cfg, field_prefix)

    @classmethod
    def check_config(cls, cfg, field_prefix: str) -> None:
        if ":" not in cfg.function:
            raise DnoError(f"`{field_prefix}.function` must be module:function when {field_prefix}.type is callable")

    @classmethod
    def preflight(cls, cfg, field_prefix: str, prompts, source: str = "") -> None:
        load_function(cfg.function, f"{field_prefix}.function")

    def compare(self, prompt: dict, a: str, b: str) -> float:
        if self.mode != "pairwise":
            return super().compare(prompt, a, b)
        p = _num(self.fn(prompt, a, b))
        if not math.isnan(p) and not 0 <= p <= 1:
            raise DnoError(f"`{self.field}` returned P(a > b) = {p}, outside [0, 1]")
        return p

    def score(self, prompt: dict, candidates: Sequence[str]) -> Scores:
        if self.mode == "pairwise":  # r_t from every two candidates (Judge.score)
            return super().score(prompt, candidates)
        out = self.fn(prompt, list(candidates))
        if isinstance(out, Scores):
            return out
        scores = [_num(x) for x in out]
        if len(scores) != len(candidates):
            raise DnoError(f"`{self.field}` returned {len(scores)} scores for {len(candidates)} candidates")
        return Scores(scores)
