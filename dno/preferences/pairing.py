"""Turn judged candidates into preference pairs (the DNO-Prct rules of the paper, section 4).

- the positive is the best-scoring candidate and must score at least `positive_min_score`;
- a negative must score at least `margin` below a teacher positive, or `student_margin` below a
  student positive (the paper's relaxed margin: a student that beats its siblings is informative);
- equal scores never form a pair; failed judgments (NaN) never take part;
- the worst negatives are paired first, up to `max_pairs_per_prompt` (`teacher_pairs_per_prompt` when the
  positive is the teacher's and that is set);
- a candidate that may not be chosen (`can_choose` False: a sample cut off mid-answer, see
  `pair.unfinished`) can still be a negative.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from dno.judges.base import compare_from_scores, mean_win_rates


@dataclass(frozen=True)
class PairRules:
    positive_min_score: float = 5.0
    margin: float = 2.0
    student_margin: float = 1.0
    max_pairs_per_prompt: int = 1
    teacher_pairs_per_prompt: int = 0  # 0: as max_pairs_per_prompt


def build_pairs(
    scores: Sequence[float], sources: Sequence[str], rules: PairRules, can_choose: Sequence[bool] | None = None
) -> list[tuple[int, int]]:
    """(chosen index, rejected index) pairs for one prompt's candidates; `sources` are 'student'/'teacher'."""
    valid = [i for i, s in enumerate(scores) if not math.isnan(s)]
    positives = [i for i in valid if can_choose is None or can_choose[i]]
    if not positives:
        return []
    best = max(positives, key=lambda i: (scores[i], sources[i] == "teacher", -i))
    if scores[best] < rules.positive_min_score:
        return []
    need = rules.margin if sources[best] == "teacher" else rules.student_margin
    negatives = sorted(
        (i for i in valid if scores[best] - scores[i] >= need and scores[i] < scores[best]),
        key=lambda i: (scores[i], i),
    )
    keep = rules.max_pairs_per_prompt
    if sources[best] == "teacher" and rules.teacher_pairs_per_prompt:
        keep = min(keep, rules.teacher_pairs_per_prompt)
    return [(best, i) for i in negatives[:keep]]


def win_rate_estimates(scores: Sequence[float]) -> list[float]:
    """DNO's r_t(x, y): each candidate's mean P(y ≻ y') against the other candidates of its prompt.

    P comes from pointwise scores (1 if higher, ½ if equal, 0 if lower); NaN candidates get NaN and are
    left out of the others' means.
    """
    return mean_win_rates([[compare_from_scores(a, b) for b in scores] for a in scores])


def soft_target(r1: float, r2: float) -> float:
    """σ(r_t(x,y1) − r_t(x,y2)): the probability target of Algorithm 1."""
    return 1.0 / (1.0 + math.exp(-(r1 - r2)))


def all_pairs(
    rates: Sequence[float], max_pairs: int, can_choose: Sequence[bool] | None = None
) -> list[tuple[int, int]]:
    """Algorithm 1's pairs: candidates with different r_t, the largest gaps first, higher r first."""
    valid = [i for i, r in enumerate(rates) if not math.isnan(r)]
    pairs = [(i, j) for i in valid for j in valid if rates[i] > rates[j] and (can_choose is None or can_choose[i])]
    pairs.sort(key=lambda p: (-(rates[p[0]] - rates[p[1]]), p))
    return pairs[:max_pairs]


def pair_type(chosen_source: str, rejected_source: str) -> str:
    return f"{chosen_source}>{rejected_source}"


def unfinished_share(samples: Sequence[dict]) -> float | None:
    """The share of policy samples (rows of samples.jsonl) cut off at sample.max_new_tokens; None if none
    (or if the rows do not say)."""
    flags = [
        done for s in samples if "finished" in s for done, src in zip(s["finished"], s["sources"]) if src == "student"
    ]
    return sum(not done for done in flags) / len(flags) if flags else None
