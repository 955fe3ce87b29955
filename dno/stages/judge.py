"""Judge: a score per candidate, optionally one shard of the prompts; before iteration 1's judging, a check
of the judge against the oracle."""

from __future__ import annotations

import math
import sys

from dno import io
from dno.analysis.agreement import judge_check
from dno.errors import DnoError
from dno.judges import build_judge, score_all
from dno.run import shards
from dno.run.rundir import RunDir
from dno.stages.common import bar, shard_inputs


def judge(run: RunDir, t: int, shard: tuple[int, int] | None = None) -> None:
    """A score per candidate; with `shard=(i, n)` only shard i of n (dno/run/shards.py), merged into
    judgments.jsonl once all n shards are on disk."""
    d = run.iter_dir(t)
    prompts = {p["id"]: p for p in io.read_jsonl(d / "prompts.jsonl")}
    samples = io.read_jsonl(d / "samples.jsonl")
    if shard is not None:
        samples = samples[slice(*shards.shard_range(len(samples), *shard))]
    j = build_judge(run.cfg.judge, cache_dir=run.root / "judge_cache")
    if t == 1:  # every shard: the gate holds whichever shard starts first (the cache shares the requests)
        check_judge(run, j, prompts, io.read_jsonl(d / "samples.jsonl"))
    with bar(len(samples), f"iter {t} judge ({j.name})") as progress:
        results = score_all(j, [prompts[s["id"]] for s in samples], [s["responses"] for s in samples], progress)
    rows = [{"id": s["id"], "scores": r.scores, "info": r.info, "judge": j.name} for s, r in zip(samples, results)]
    usage = j.usage()  # LLM/API judges: requests, cache hits, failures, tokens, cost; None for the rest
    if shard is not None:
        if usage is not None:
            io.write_json(shards.shard_path(d, "judge", *shard, "json", "judge_usage"), usage)
        inputs = shard_inputs(run, t, "judge")
        shards.write_shard(d, "judge", *shard, rows, inputs)
        if shards.complete_count(d, "judge", inputs) == shard[1]:
            shards.merge(d, "judge", shard[1], inputs)
        return
    if usage is not None:
        io.write_json(d / "judge_usage.json", usage)
    io.write_jsonl(d / "judgments.jsonl", rows)


CHECK_FILE = "judge_check.json"


def check_judge(run: RunDir, j, prompts: dict, samples: list[dict]) -> dict | None:
    """judge_check.json (once per run): the training judge's agreement with the oracle on iteration 1's own
    candidates. A judge no better than chance is a warning, or with judge.min_agreement an error before any
    candidate is judged. The check uses the stage's own judge (one model loaded, one cache): its requests
    and cost are part of iteration 1's judge_usage.json, and judge_check.json keeps them apart as `usage`."""
    cfg, path = run.cfg.judge, run.root / CHECK_FILE
    if cfg.type == "oracle" or cfg.check_pairs == 0:
        return None
    if path.is_file():
        r = io.read_json(path)
    else:
        r = judge_check(j, [prompts[s["id"]] for s in samples], [s["responses"] for s in samples], cfg.check_pairs)
        r = {"skipped": "no training prompt is one the oracle can check"} if r is None else {**r, "usage": j.usage()}
        io.write_json(path, r)
    if "skipped" in r:
        if cfg.min_agreement:
            raise DnoError(f"judge check: {r['skipped']}, so judge.min_agreement={cfg.min_agreement} cannot be tested")
        return r
    if r["at_chance"]:
        print(f"dno: warning: {check_summary(r)}: no better than chance on these pairs", file=sys.stderr)
    if cfg.min_agreement and not r["agreement"] >= cfg.min_agreement:
        raise DnoError(
            f"judge check: {check_summary(r)}, below judge.min_agreement={cfg.min_agreement} ({path}); "
            "use a stronger judge, or lower judge.min_agreement to train on it anyway"
        )
    return r


def check_summary(r: dict) -> str:
    pct = lambda x: "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.0f}%"
    return (
        f"judge {r['judge']} agrees with the oracle on {pct(r['agreement'])} of {r['judged']} pairs "
        f"[{pct(r['agreement_ci_low'])}, {pct(r['agreement_ci_high'])}], position consistency "
        f"{pct(r['position_consistency'])} (calibrated {pct(r['position_consistency_calibrated'])})"
    )
