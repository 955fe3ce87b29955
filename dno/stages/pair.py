"""Pair: (chosen, rejected) pairs from the judged candidates, by the DNO-Prct rules or Algorithm 1's."""

from __future__ import annotations

import math
import sys
from collections import Counter

from dno import io
from dno.errors import DnoError
from dno.formats import load_preference_pairs
from dno.preferences.degenerate import is_degenerate
from dno.preferences.pairing import PairRules, all_pairs, build_pairs, pair_type, soft_target, win_rate_estimates
from dno.run.rundir import RunDir


def pair(run: RunDir, t: int) -> None:
    d, cfg = run.iter_dir(t), run.cfg.pair
    samples = {s["id"]: s for s in io.read_jsonl(d / "samples.jsonl")}
    rules = PairRules(
        cfg.positive_min_score, cfg.margin, cfg.student_margin, cfg.max_pairs_per_prompt, cfg.teacher_pairs_per_prompt
    )
    rows, judged = [], []
    for j in io.read_jsonl(d / "judgments.jsonl"):
        s = samples[j["id"]]
        scores = [math.nan if x is None else float(x) for x in j["scores"]]
        degenerate = [
            bool(cfg.degenerate_repeats) and is_degenerate(r, min_repeats=cfg.degenerate_repeats)
            for r in s["responses"]
        ]
        scores = [0.0 if deg and not math.isnan(x) else x for x, deg in zip(scores, degenerate)]  # automatic negatives
        finished = s["finished"]
        if cfg.unfinished == "drop":
            scores = [x if done else math.nan for x, done in zip(scores, finished)]
        rates = win_rate_estimates(scores)
        can_choose = finished if cfg.unfinished == "negative" else None
        judged.append((scores, can_choose or [True] * len(scores)))
        chosen = (
            all_pairs(rates, cfg.max_pairs_per_prompt, can_choose)
            if cfg.rule == "all"
            else build_pairs(scores, s["sources"], rules, can_choose)
        )
        for ci, ri in chosen:
            rows.append(
                {
                    "id": j["id"],
                    "chosen": s["responses"][ci],
                    "rejected": s["responses"][ri],
                    "chosen_finished": finished[ci],
                    "rejected_finished": finished[ri],
                    "chosen_score": scores[ci],
                    "rejected_score": scores[ri],
                    "margin": scores[ci] - scores[ri],
                    "chosen_rate": rates[ci],
                    "rejected_rate": rates[ri],
                    "target": soft_target(rates[ci], rates[ri]) if cfg.target == "soft" else 1.0,
                    "rejected_degenerate": degenerate[ri],
                    "type": pair_type(s["sources"][ci], s["sources"][ri]),
                }
            )
    if t == 1 and run.cfg.pair.warm_start:  # offline pairs join the first iteration's (offline warm start)
        rows += load_preference_pairs(run.cfg.pair.warm_start)
    if not rows:
        # Training on nothing leaves π_t as it was. In iteration 1 nothing has been learned and the next
        # iterations would judge the same policy by the same rules: stop before paying for them. Later, a
        # policy whose candidates all tie may simply have converged: warn and go on.
        why = f"iter {t}: no pair passed the pairing rules, so nothing is trained: {no_pairs_reason(judged, cfg)}"
        if t == 1:
            raise DnoError(
                f"{why}. Set the pair rules to the judge's scale (docs/judges.md#when-no-pair-passes) or use a "
                "judge that separates the candidates, in a new --run-dir"
            )
        print(f"dno: warning: {why}; π_{t} is π_{t - 1}", file=sys.stderr)
    io.write_jsonl(d / "pairs.jsonl", rows)


def no_pairs_reason(judged: list[tuple[list[float], list[bool]]], cfg) -> str:
    """What kept every pair out, in the numbers the user sets: (scores, may be chosen) per prompt."""
    finite = [x for scores, _ in judged for x in scores if not math.isnan(x)]
    if not finite:
        return f"none of the {sum(len(s) for s, _ in judged)} candidates has a score (every judgment failed)"
    if all(len({x for x in scores if not math.isnan(x)}) <= 1 for scores, _ in judged):
        return f"the judge told no two candidates of a prompt apart ({len(finite)} judged, tied within every prompt)"
    span = f"the scores span {min(finite):.2f}-{max(finite):.2f} over {len(finite)} judged candidates"
    if cfg.rule == "all":
        return f"{span}; no candidate that may be chosen out-scores another (pair.unfinished={cfg.unfinished})"
    gaps = [
        x - min(y for y in scores if not math.isnan(y))
        for scores, can_choose in judged
        for x, ok in zip(scores, can_choose)
        if ok and x >= cfg.positive_min_score
    ]
    if not gaps:
        return f"{span}; none that may be chosen reaches pair.positive_min_score={cfg.positive_min_score:g}"
    return (
        f"{span}; {len(gaps)} that may be chosen {'reach' if len(gaps) > 1 else 'reaches'} "
        f"pair.positive_min_score={cfg.positive_min_score:g}, and the widest gap below one of them is {max(gaps):.2f}, "
        f"short of pair.student_margin={cfg.student_margin:g} (pair.margin={cfg.margin:g} below a teacher's answer)"
    )


def pair_counts(run: RunDir, t: int) -> Counter:
    path = run.iter_dir(t) / "pairs.jsonl"
    return Counter(p["type"] for p in io.read_jsonl(path)) if path.is_file() else Counter()
