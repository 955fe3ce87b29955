"""The judge interface, its registry, and the one conversion of pairwise outcomes into scores.

A judge scores pointwise: all candidates of one prompt at once, each on the judge's scale (the oracle
and the DNO rubric use 0-6). A failed judgment is NaN, never a fake middle score; the pipeline drops
NaN candidates from pairing and counts them as failures. Subclass `Judge`, implement `score` (or
`compare` and let the default `score` build r_t from it) and register the class:

    @JUDGES.register("my_judge")
    class MyJudge(Judge):
        def score(self, prompt, candidates): ...
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dno import faults
from dno.registry import Registry

SCALE = 6.0
"""The rubric's top score: a pairwise judge's candidate scores SCALE x its mean win probability (DNO's r_t)."""


@dataclass
class Scores:
    scores: list[float]
    """One score per candidate, NaN where the judge failed."""
    info: dict = field(default_factory=dict)
    """Judge-specific details worth keeping in judgments.jsonl (per-candidate checks, raw text, tokens)."""


class Judge:
    """Who decides which response is better. Subclasses override `score` or `compare` (or both)."""

    name: str = "judge"

    @classmethod
    def from_config(cls, cfg, *, cache_dir: Path | None = None, field_prefix: str = "judge") -> Judge:
        """The judge of a JudgeConfig; `cache_dir` holds answer caches of judges that pay per request."""
        return cls()

    @classmethod
    def check_config(cls, cfg, field_prefix: str) -> None:
        """What the judge needs from its config, checked when the config loads (raise DnoError)."""

    @classmethod
    def preflight(cls, cfg, field_prefix: str, prompts: Sequence[dict], source: str = "") -> None:
        """What the judge needs at run time (a server, a model, oracle fields), checked before a run starts;
        `source` names where the prompts come from (data.source), for the error message."""

    def score(self, prompt: dict, candidates: Sequence[str]) -> Scores:
        """Score every candidate response to `prompt` (a prompt record, see dno.tasks). By default: DNO's
        r_t from `compare` on every two candidates."""
        n = len(candidates)
        p = [[0.5] * n for _ in range(n)]
        for i, j in itertools.combinations(range(n), 2):
            pij = self.compare(prompt, candidates[i], candidates[j])
            p[i][j], p[j][i] = pij, (math.nan if math.isnan(pij) else 1 - pij)
        return Scores(scores_from_comparisons(p), {"p": p})

    def compare(self, prompt: dict, a: str, b: str) -> float:
        """P(a ≻ b) in [0, 1]; NaN when the judge failed. By default from the two pointwise scores."""
        s = self.score(prompt, [a, b]).scores
        return compare_from_scores(s[0], s[1])

    def compare_shown(self, prompt: dict, first: str, second: str) -> float:
        """P(first ≻ second) with `first` shown first, when the judge sees an order (for position-bias
        measurements); judges that see no order answer `compare`."""
        return self.compare(prompt, first, second)

    def compare_shown_many(self, shown: Sequence[tuple[dict, str, str]], progress=None) -> list[float]:
        """`compare_shown` of each (prompt, first, second); judges that batch (a local model) override this."""
        out = []
        for prompt, first, second in shown:
            out.append(self.compare_shown(prompt, first, second))
            if progress is not None:
                progress.update(1)
        return out

    def score_many(self, prompts: Sequence[dict], candidates: Sequence[Sequence[str]], progress=None) -> list[Scores]:
        """Score many prompts (judges that can, e.g. concurrent API judges, override this)."""
        out = []
        for p, c in zip(prompts, candidates):
            out.append(self.score(p, c))
            faults.point("judged")
            if progress is not None:
                progress.update(1)
        return out

    def usage(self) -> dict | None:
        """Requests, tokens and cost so far, for judges that count them; None for the rest."""
        return None


JUDGES: Registry[type[Judge]] = Registry("judge", "dno.judges")


def compare_from_scores(a: float, b: float) -> float:
    """P(a beats b) implied by two pointwise scores: 1, 0 or 0.5 for a tie; NaN if either failed."""
    if math.isnan(a) or math.isnan(b):
        return math.nan
    return 1.0 if a > b else 0.0 if a < b else 0.5


def logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)  # a hard verdict (no log-probs) is a confident one, not an infinite one
    return math.log(p / (1 - p))


def combine_orders(ps: Sequence[float], calibrate: bool) -> float:
    """P(a ≻ b) from each order's verdict, already turned to P(a ≻ b) (NaN if any failed). Averaged as
    probabilities, or with `calibrate` as log-odds: a judge's constant lean b towards the first shown adds +b
    to one order's logit and −b to the other's, so their mean is free of it. A judge that says "A" with
    P 0.95 when a is first and 0.80 when b is first gives 0.575 averaged, σ(0.78) = 0.68 calibrated."""
    if any(math.isnan(p) for p in ps):
        return math.nan
    if calibrate:
        return 1 / (1 + math.exp(-sum(logit(p) for p in ps) / len(ps)))
    return sum(ps) / len(ps)


def mean_win_rates(p: Sequence[Sequence[float]], *, scale: float = 1.0, alone: float = math.nan) -> list[float]:
    """scale x each candidate's mean P(i ≻ j) over the other candidates j (NaN entries left out): DNO's r_t.
    A candidate with no valid comparison gets NaN, or `alone` when it is the only candidate."""
    n = len(p)
    out = []
    for i in range(n):
        others = [p[i][j] for j in range(n) if j != i and not math.isnan(p[i][j])]
        out.append(scale * sum(others) / len(others) if others else (alone if n == 1 else math.nan))
    return out


def scores_from_comparisons(p: Sequence[Sequence[float]]) -> list[float]:
    """Pairwise judges' scores on the rubric's 0-6 scale: SCALE x mean win probability (a lone candidate: SCALE/2)."""
    return mean_win_rates(p, scale=SCALE, alone=SCALE / 2)


def score_all(
    judge: Judge, prompts: Sequence[dict], candidates: Sequence[Sequence[str]], progress=None
) -> list[Scores]:
    return judge.score_many(prompts, candidates, progress=progress)
