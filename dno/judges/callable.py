"""A user's own Python function as the judge: `judge.function: "package.module:function"` (or `path/to/file.py:function`).

pointwise mode: `function(prompt: dict, candidates: list[str]) -> list[float]` (or a `Scores`), one score per
candidate, NaN/None for a failed judgment. pairwise mode: `function(prompt: dict, a: str, b: str) -> float`,
P(a ≻ b) in [0, 1]; scores are then 6 x mean win probability, as for the LLM pairwise judge.
"""

from __future__ import annotations

import math
import threading
import traceback
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


def _number(x, what: str) -> float:
    """A judge's number: None and NaN are a failed judgment (NaN); anything else must be a finite number."""
    if x is None:
        return math.nan
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise DnoError(f"{what} must be a number or None, got {type(x).__name__} {str(x)[:40]!r}")
    if math.isinf(x):
        raise DnoError(f"{what} must be finite (NaN or None marks a failed judgment), got {x}")
    return float(x)


def call_with_timeout(fn, args: tuple, timeout_s: float, field: str):
    """fn(*args) on a daemon thread: a function that hangs stops the run after `timeout_s` instead of forever,
    and one that raises is named in one line."""
    box: dict = {}

    def target():
        try:
            box["value"] = fn(*args)
        except BaseException as e:  # noqa: BLE001 - reported below, in the caller's thread
            box["error"] = e

    thread = threading.Thread(target=target, daemon=True, name="callable-judge")
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise DnoError(f"`{field}` did not return within judge.timeout_s={timeout_s:g}s; raise it or fix the function")
    if "error" in box:
        e = box["error"]
        frame = traceback.extract_tb(e.__traceback__)[-1]
        raise DnoError(f"`{field}` raised {type(e).__name__}: {e} (at {frame.filename}:{frame.lineno})") from None
    return box["value"]


@JUDGES.register("callable")
class CallableJudge(Judge):
    def __init__(self, cfg, field_prefix: str = "judge"):
        self.mode, self.field, self.timeout_s = cfg.mode, f"{field_prefix}.function", cfg.timeout_s
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
        p = _number(
            call_with_timeout(self.fn, (prompt, a, b), self.timeout_s, self.field), f"`{self.field}`'s P(a > b)"
        )
        if not math.isnan(p) and not 0 <= p <= 1:
            raise DnoError(f"`{self.field}` returned P(a > b) = {p}, outside [0, 1]")
        return p

    def score(self, prompt: dict, candidates: Sequence[str]) -> Scores:
        if self.mode == "pairwise":  # r_t from every two candidates (Judge.score)
            return super().score(prompt, candidates)
        out = call_with_timeout(self.fn, (prompt, list(candidates)), self.timeout_s, self.field)
        scores_of = out.scores if isinstance(out, Scores) else out
        if not isinstance(scores_of, (list, tuple)):
            raise DnoError(f"`{self.field}` must return a list of scores, one per candidate, got {type(out).__name__}")
        scores = [_number(x, f"`{self.field}`'s score {i}") for i, x in enumerate(scores_of)]
        if isinstance(out, Scores):
            return Scores(scores, out.info)
        if len(scores) != len(candidates):
            raise DnoError(f"`{self.field}` returned {len(scores)} scores for {len(candidates)} candidates")
        return Scores(scores)
