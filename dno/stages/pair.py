"""Pair: (chosen, rejected) pairs from the judged candidates, by the DNO-Prct rules or Algorithm 1's."""

from __future__ import annotations

import math
from collections import Counter

from dno import io
from dno.formats import load_preference_pairs
from dno.preferences.degenerate import is_degenerate
from dno.preferences.pairing import PairRules, all_pairs, build_pairs, pair_type, soft_target, win_rate_estimates
from dno.run.rundir import RunDir


def pair(run: RunDir, t: int) -> None:
    d, cfg = run.iter_dir(t), run.cfg.pair
    samples = {s["id"]: s for s in io.read_jsonl(d / "samples.jsonl")}
    rules = PairRules(cfg.positive_min_score, cfg.margin, cfg.student_margin, cfg.max_pairs_per_prompt)
    rows = []
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
    io.write_jsonl(d / "pairs.jsonl", rows)


def pair_counts(run: RunDir, t: int) -> Counter:
    path = run.iter_dir(t) / "pairs.jsonl"
    return Counter(p["type"] for p in io.read_jsonl(path)) if path.is_file() else Counter()
