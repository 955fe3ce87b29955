"""Replay: mix pairs of earlier iterations into this one's training set (DNO-Prct).

The paper: up to 30% of the training pairs come from iteration t-1, 15% from t-2, and so on:
fraction f_k = fraction · decay^(k-1) of the final mix comes from iteration t-k.
"""

from __future__ import annotations

import random
from collections.abc import Sequence


def replay_counts(n_current: int, available: Sequence[int], fraction: float, decay: float) -> list[int]:
    """How many pairs to draw from t-1, t-2, ... (`available[k-1]` pairs exist for t-k)."""
    shares = [fraction * decay**k for k in range(len(available))]
    if not n_current or not shares or sum(shares) >= 1:
        return [0] * len(available)
    total = n_current / (1 - sum(shares))  # so that current pairs fill the rest of the mix
    return [min(avail, round(share * total)) for share, avail in zip(shares, available)]


def sample_replay(
    earlier: Sequence[Sequence[dict]], n_current: int, fraction: float, decay: float, seed: int
) -> list[dict]:
    """Pairs drawn without replacement from earlier iterations, `earlier[k-1]` being iteration t-k's."""
    counts = replay_counts(n_current, [len(e) for e in earlier], fraction, decay)
    rng = random.Random(seed)
    out: list[dict] = []
    for k, (pairs, count) in enumerate(zip(earlier, counts), 1):
        out.extend({**p, "replay_from": k} for p in rng.sample(list(pairs), count))
    return out
