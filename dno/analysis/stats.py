"""Statistics of a policy's win rate against a baseline on held-out prompts.

Every function takes per-prompt outcomes: 1 the policy won, 0.5 a tie, 0 a loss, NaN a failed judgment
(left out of every statistic and counted separately).

- `win_rate`: ties count as half.
- `bootstrap_interval`: percentile bootstrap over prompts.
- `length_controlled_win_rate`: AlpacaEval 2 style. Judges like long answers, so a policy that only
  got longer "wins" more. We fit P(win) = σ(θ0 + θ1·tanh(Δlen / sd(Δlen))), Δlen = policy − baseline length
  in characters, by penalised maximum likelihood (ties are soft labels of ½), and report σ(θ0):
  the win rate the model predicts when both answers are equally long. When no answer changed length
  it equals the raw win rate; when outcomes depend only on length it is ½.
- `summarize`: all of the above plus lengths and a per-task breakdown, as one JSON-ready dict.
"""

from __future__ import annotations

import math
import random
import re
import statistics
from collections import Counter
from collections.abc import Sequence

import numpy as np


def win_rate(outcomes: Sequence[float]) -> float:
    """Mean of per-prompt outcomes: 1 win, 0.5 tie, 0 loss (NaN = failed judgment, left out)."""
    vals = [o for o in outcomes if not math.isnan(o)]
    return sum(vals) / len(vals) if vals else math.nan


def bootstrap_interval(
    outcomes: Sequence[float], *, resamples: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
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


def paired_difference(
    a: dict[str, float], b: dict[str, float], *, resamples: int = 2000, seed: int = 0
) -> dict[str, float]:
    """Win rate of A minus win rate of B on the prompts both judged (outcomes keyed by prompt id, each against
    the same baseline), with a 95% bootstrap interval that resamples prompts: pairing removes the
    prompt-to-prompt variance that two separate intervals both carry, so smaller differences separate."""
    common = [k for k in a if k in b and not math.isnan(a[k]) and not math.isnan(b[k])]
    diffs = [a[k] - b[k] for k in sorted(common)]
    if not diffs:
        return {"diff": math.nan, "ci_low": math.nan, "ci_high": math.nan, "n": 0}
    lo, hi = bootstrap_interval(diffs, resamples=resamples, seed=seed)
    return {"diff": sum(diffs) / len(diffs), "ci_low": lo, "ci_high": hi, "n": len(diffs)}


# ---- length-controlled win rate ---------------------------------------------------------------------

_RIDGE = 1e-2
"""L2 penalty on θ1 (θ0 gets 1e-4 of it): keeps the fit finite when length separates wins from losses."""


def _fit_logistic(x: np.ndarray, y: np.ndarray, iters: int = 50) -> np.ndarray:
    """Penalised logistic regression of soft labels y on one feature x, for B data sets at once.

    x, y: (B, n). Returns θ (B, 2) = (intercept, slope). Newton's method with step halving; the
    objective is convex, so this converges in a handful of steps.
    """
    B = x.shape[0]
    theta = np.zeros((B, 2))
    lam = np.array([_RIDGE * 1e-2, _RIDGE])

    def objective(th):  # (B,)
        z = th[:, :1] + th[:, 1:] * x
        # −Σ [y log σ(z) + (1−y) log σ(−z)] = Σ softplus(z) − y z
        return (np.logaddexp(0.0, z) - y * z).sum(1) + 0.5 * (lam * th**2).sum(1)

    f = objective(theta)
    for _ in range(iters):
        z = theta[:, :1] + theta[:, 1:] * x
        p = 1.0 / (1.0 + np.exp(-z))
        r = p - y
        g = np.stack([r.sum(1), (r * x).sum(1)], 1) + lam * theta  # (B, 2)
        w = p * (1 - p)
        h00 = w.sum(1) + lam[0]
        h01 = (w * x).sum(1)
        h11 = (w * x * x).sum(1) + lam[1]
        det = h00 * h11 - h01 * h01
        step = np.stack([(h11 * g[:, 0] - h01 * g[:, 1]) / det, (h00 * g[:, 1] - h01 * g[:, 0]) / det], 1)
        scale = np.ones(B)
        for _ in range(30):  # halve the step where it does not decrease the objective
            cand = theta - scale[:, None] * step
            fc = objective(cand)
            bad = fc > f + 1e-12
            if not bad.any():
                break
            scale = np.where(bad, scale / 2, scale)
        theta, f = cand, np.minimum(fc, f)
        if np.abs(step * scale[:, None]).max() < 1e-9:
            break
    return theta


def _length_feature(diffs: np.ndarray) -> np.ndarray:
    sd = diffs.std()
    return np.tanh(diffs / sd) if sd > 0 else np.zeros_like(diffs)


def length_controlled_win_rate(
    outcomes: Sequence[float], length_diffs: Sequence[float], *, resamples: int = 0, seed: int = 0, level: float = 0.95
) -> dict:
    """Win rate at zero length difference. `length_diffs[i]` = len(policy answer) − len(baseline answer).

    Returns {"lc_win_rate", "length_coef", "lc_ci_low", "lc_ci_high"} (the interval only when
    `resamples` > 0: a percentile bootstrap over prompts, refitting each resample). `length_coef` is θ1,
    the log-odds of winning gained by being one (tanh-squashed) standard deviation longer.
    """
    pairs = [(o, d) for o, d in zip(outcomes, length_diffs) if not math.isnan(o)]
    out = {"lc_win_rate": math.nan, "length_coef": math.nan, "lc_ci_low": math.nan, "lc_ci_high": math.nan}
    if not pairs:
        return out
    y = np.array([p[0] for p in pairs], dtype=float)
    x = _length_feature(np.array([p[1] for p in pairs], dtype=float))
    theta = _fit_logistic(x[None], y[None])[0]
    out["lc_win_rate"] = float(1 / (1 + math.exp(-theta[0])))
    out["length_coef"] = float(theta[1])
    if resamples > 0:
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, len(y), size=(resamples, len(y)))
        th = _fit_logistic(x[idx], y[idx])
        lcs = np.sort(1 / (1 + np.exp(-th[:, 0])))
        out["lc_ci_low"] = float(lcs[int(math.floor((1 - level) / 2 * resamples))])
        out["lc_ci_high"] = float(lcs[min(resamples - 1, int(math.ceil((1 + level) / 2 * resamples)) - 1)])
    return out


def common_opening(responses: Sequence[str], baseline: Sequence[str]) -> dict:
    """The policy's most common first word (lower-cased) and the share of its answers that open with it, beside
    the baseline's share of the same opening. A policy that opens most answers alike, whatever the prompt, has
    often learned a quirk of its judge (or collapsed): the report flags it."""

    def first(text: str) -> str:
        m = re.search(r"\w+", text.lower())
        return m.group(0) if m else ""

    counts = Counter(first(r) for r in responses)
    word, n = counts.most_common(1)[0] if counts else ("", 0)
    share = n / len(responses) if responses else math.nan
    base = sum(first(b) == word for b in baseline) / len(baseline) if baseline else math.nan
    return {"word": word, "share": share, "baseline_share": base}


# ---- everything at once -----------------------------------------------------------------------------


def summarize(
    outcomes: Sequence[float],
    policy_lengths: Sequence[float],
    baseline_lengths: Sequence[float],
    tasks: Sequence[str] | None = None,
    *,
    resamples: int = 2000,
    seed: int = 0,
) -> dict:
    """The evaluation metrics of one policy against one baseline, as written to metrics.json.

    Keys: n, failures, wins, ties, losses, win_rate, ci_low, ci_high, lc_win_rate, lc_ci_low, lc_ci_high,
    length_coef, mean_length, baseline_mean_length, length_ratio, win_rate_by_task, by_task
    (per task: n, win_rate, ci_low, ci_high, mean_length, baseline_mean_length).
    """
    outcomes = [float(o) for o in outcomes]
    tasks = list(tasks) if tasks is not None else ["all"] * len(outcomes)
    valid = [o for o in outcomes if not math.isnan(o)]
    lo, hi = bootstrap_interval(outcomes, resamples=resamples, seed=seed)
    lc = length_controlled_win_rate(
        outcomes, [a - b for a, b in zip(policy_lengths, baseline_lengths)], resamples=resamples, seed=seed
    )
    mean_len = statistics.fmean(policy_lengths) if policy_lengths else math.nan
    base_len = statistics.fmean(baseline_lengths) if baseline_lengths else math.nan
    by_task: dict[str, dict] = {}
    for task in sorted(set(tasks)):
        idx = [i for i, k in enumerate(tasks) if k == task]
        o = [outcomes[i] for i in idx]
        tlo, thi = bootstrap_interval(o, resamples=resamples, seed=seed)
        by_task[task] = {
            "n": len(idx),
            "win_rate": win_rate(o),
            "ci_low": tlo,
            "ci_high": thi,
            "mean_length": statistics.fmean(policy_lengths[i] for i in idx),
            "baseline_mean_length": statistics.fmean(baseline_lengths[i] for i in idx),
        }
    return {
        "n": len(outcomes),
        "failures": len(outcomes) - len(valid),
        # soft outcomes (a judge's P(policy ≻ baseline)) count as a win above ½ and a loss below
        "wins": sum(o > 0.5 for o in valid),
        "ties": sum(o == 0.5 for o in valid),
        "losses": sum(o < 0.5 for o in valid),
        "win_rate": win_rate(outcomes),
        "ci_low": lo,
        "ci_high": hi,
        **lc,
        "mean_length": mean_len,
        "baseline_mean_length": base_len,
        "length_ratio": mean_len / base_len if base_len else math.nan,
        "win_rate_by_task": {k: v["win_rate"] for k, v in by_task.items()},
        "by_task": by_task,
    }
