"""Win rate of a policy against a baseline on held-out prompts, with a bootstrap interval."""

from __future__ import annotations

import math
import random
from typing import Sequence


def win_rate(outcomes: Sequence[float]) -> float:
    """Mean of per-prompt outcomes: 1 win, 0.5 tie, 0 loss (NaN = failed judgment, left out)."""
    vals = [o for o in outcomes if not math.isnan(o)]
    return sum(vals) / len(vals) if vals else math.nan


def bootstrap_interval(outcomes: Sequence[float], *, resamples: int = 2000, seed: int = 0,
                       level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the win rate, resampling prompts."""
    vals = [o for o in outcomes if not math.isnan(o)]
    if not vals:
        return (math.nan, math.nan)
    rng = random.Random(seed)
    n = len(vals)
    stats = sorted(sum(rng.choices(vals, k=n)) / n for _ in range(resamples))
    lo = stats[int(math.floor((1 - level) / 2 * resamples))]
    hi = stats[min(resamples - 1, int(math.ceil((1 + level) / 2 * resamples)) - 1)]
    return lo, hi
