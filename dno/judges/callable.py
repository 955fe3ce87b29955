"""A user's own Python function as the judge: `judge.function: "package.module:function"` (or `path/to/file.py:function`).

pointwise mode: `function(prompt: dict, candidates: list[str]) -> list[float]` (or a `Scores`), one score per
candidate, NaN/None for a failed judgment. pairwise mode: `function(prompt: dict, a: str, b: str) -> float`,
P(a ≻ b) in [0, 1]; scores are then 6 x mean win probability, as for the LLM pairwise judge.
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import math
from pathlib import Path
from typing import Sequence

from dno.errors import DnoError
from dno.judges.base import Scores


def load_function(spec: str, field: str = "judge.function"):
    if ":" not in spec:
        raise DnoError(f"config: `{field}` must look like module:function, got {spec!r}")
    mod_name, _, fn_name = spec.rpartition(":")
    try:
        if mod_name.endswith(".py"):
            path = Path(mod_name).expanduser()
            if not path.is_file():
                raise DnoError(f"config: `{field}`: {path} not found")
            module_spec = importlib.util.spec_from_file_location(path.stem, path)
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(mod_name)
    except ImportError as e:
        raise DnoError(f"config: `{field}`: cannot import {mod_name!r} ({e})") from None
    fn = getattr(module, fn_name, None)
    if not callable(fn):
        raise DnoError(f"config: `{field}`: {mod_name!r} has no function {fn_name!r}")
    return fn


def _num(x) -> float:
    try:
        return math.nan if x is None else float(x)
    except (TypeError, ValueError):
        return math.nan


class CallableJudge:
    def __init__(self, cfg, field_prefix: str = "judge"):
        self.mode, self.field = cfg.mode, f"{field_prefix}.function"
        self.fn = load_function(cfg.function, self.field)
        self.name = f"callable:{cfg.function}"

    def compare(self, prompt: dict, a: str, b: str) -> float:
        if self.mode != "pairwise":
            s = self.score(prompt, [a, b]).scores
            return math.nan if math.isnan(s[0]) or math.isnan(s[1]) else (1.0 if s[0] > s[1] else 0.0 if s[0] < s[1] else 0.5)
        p = _num(self.fn(prompt, a, b))
        if not math.isnan(p) and not 0 <= p <= 1:
            raise DnoError(f"`{self.field}` returned P(a > b) = {p}, outside [0, 1]")
        return p

    def score(self, prompt: dict, candidates: Sequence[str]) -> Scores:
        n = len(candidates)
        if self.mode == "pointwise":
            out = self.fn(prompt, list(candidates))
            if isinstance(out, Scores):
                return out
            scores = [_num(x) for x in out]
            if len(scores) != n:
                raise DnoError(f"`{self.field}` returned {len(scores)} scores for {n} candidates")
            return Scores(scores)
        p = [[0.5] * n for _ in range(n)]
        for i, j in itertools.combinations(range(n), 2):
            pij = self.compare(prompt, candidates[i], candidates[j])
            p[i][j], p[j][i] = pij, 1 - pij
        scores = []
        for i in range(n):
            others = [p[i][j] for j in range(n) if j != i and not math.isnan(p[i][j])]
            scores.append(6.0 * sum(others) / len(others) if others else math.nan)
        return Scores(scores, {"p": p})
