"""Judge: a score per candidate, optionally one shard of the prompts."""

from __future__ import annotations

from dno import io
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
