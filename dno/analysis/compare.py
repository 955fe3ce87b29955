"""The one evaluation: judge a policy's answers against a baseline's on the same prompts.

Used by the eval and val stages, by `dno eval` (any baseline, any judge) and, through the metrics it
writes, by the report. Each prompt's two answers are scored together by the judge; the outcome is
1 (policy better), ½ (tie) or 0, NaN when the judge failed.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from pathlib import Path

from dno import io
from dno.analysis.stats import common_opening, summarize
from dno.errors import DnoError
from dno.judges.base import Judge, compare_from_scores, score_all


def align(rows: Sequence[dict], prompts: Sequence[dict], where: str) -> list[dict]:
    """`rows` ({id, response}) in the order of `prompts`; a DnoError naming the first prompt with no answer."""
    by_id = {r["id"]: r for r in rows}
    missing = [p["id"] for p in prompts if p["id"] not in by_id]
    if missing:
        raise DnoError(f"{where}: no response for prompt {missing[0]!r} ({len(missing)} of {len(prompts)} missing)")
    return [by_id[p["id"]] for p in prompts]


def _usage_delta(before: dict | None, after: dict | None) -> dict | None:
    """What a judge used between two `usage()` readings (a judge may serve several evaluations)."""
    if after is None:
        return None
    before = before or {}

    def number(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    return {k: (v - before.get(k, 0) if number(v) and number(before.get(k, 0)) else v) for k, v in after.items()}


def judge_against_baseline(
    judge: Judge,
    prompts: Sequence[dict],
    policy_rows: Sequence[dict],
    baseline_rows: Sequence[dict],
    out_dir: Path,
    *,
    resamples: int = 2000,
    progress=None,
) -> dict:
    """Judge each prompt's policy answer against the baseline's; write out_dir/judgments.jsonl (and
    judge_usage.json for judges that count tokens) and return the metrics (dno.analysis.stats.summarize
    keys plus mean_score, baseline_mean_score and judge). The caller writes metrics.json."""
    policy = align(policy_rows, prompts, "policy responses")
    baseline = align(baseline_rows, prompts, "baseline responses")
    before = judge.usage()
    results = score_all(judge, prompts, [[a["response"], b["response"]] for a, b in zip(policy, baseline)], progress)
    usage = _usage_delta(before, judge.usage())
    if usage is not None:
        io.write_json(Path(out_dir) / "judge_usage.json", usage)
    outcomes = [compare_from_scores(r.scores[0], r.scores[1]) for r in results]
    plen = [len(r["response"]) for r in policy]
    blen = [len(r["response"]) for r in baseline]
    tasks = [p.get("task", "user") for p in prompts]
    io.write_jsonl(
        Path(out_dir) / "judgments.jsonl",
        [
            {
                "id": p["id"],
                "task": k,
                "scores": r.scores,
                "outcome": o,
                "policy_length": a,
                "baseline_length": b,
                "info": r.info,
                "judge": judge.name,
            }
            for p, k, r, o, a, b in zip(prompts, tasks, results, outcomes, plen, blen)
        ],
    )
    m = summarize(outcomes, plen, blen, tasks, resamples=resamples)
    ps = [r.scores[0] for r in results if not math.isnan(r.scores[0])]
    bs = [r.scores[1] for r in results if not math.isnan(r.scores[1])]
    m.update(
        judge=judge.name,
        mean_score=statistics.fmean(ps) if ps else math.nan,
        baseline_mean_score=statistics.fmean(bs) if bs else math.nan,
        opening=common_opening([a["response"] for a in policy], [b["response"] for b in baseline]),
    )
    return m
