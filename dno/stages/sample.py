"""Sample: K responses per prompt from π_{t-1} (plus a teacher's, the data's gold answer, or a sample the task's
verifier repaired), optionally one shard of the prompts."""

from __future__ import annotations

from dno import io
from dno.generation.hf import Generation
from dno.generation.teacher import teacher_responses
from dno.run import shards
from dno.run.rundir import RunDir
from dno.stages.common import bar, sampler, shard_inputs
from dno.tasks import gold_answer, repaired_answer


def sample(run: RunDir, t: int, shard: tuple[int, int] | None = None) -> None:
    """K samples per prompt from π_{t-1}; with `shard=(i, n)` only shard i of n (dno/run/shards.py), merged
    into samples.jsonl once all n shards are on disk."""
    cfg = run.cfg.sample
    prompts = io.read_jsonl(run.iter_dir(t) / "prompts.jsonl")
    offset = 0
    if shard is not None:
        offset, stop = shards.shard_range(len(prompts), *shard, align=cfg.batch_size)
        prompts = prompts[offset:stop]
    model = (
        sampler(run, t - 1, cfg.batch_size) if prompts else None
    )  # an empty shard (more shards than batches) loads nothing
    seed = run.cfg.seed * 1000 + t
    with bar(len(prompts), f"iter {t} sample (k={cfg.k})") as progress:
        gens = (
            model.generate(
                prompts,
                cfg.k,
                temperature=cfg.temperature,
                top_p=cfg.top_p,
                max_new_tokens=cfg.max_new_tokens,
                seed=seed,
                progress=progress,
                offset=offset,
            )
            if prompts
            else []
        )
    if run.cfg.teacher.kind == "data":  # the data's reference answers (or the task's), where a prompt has one
        golds = [gold_answer(p) for p in prompts]
        gens = [gs + [Generation(g, True, 0)] if g else gs for g, gs in zip(golds, gens)]
    elif run.cfg.teacher.kind == "repair":  # the task's verifier edits one of the policy's own finished samples
        fixes = [repaired_answer(p, [g.text for g in gs if g.finished]) for p, gs in zip(prompts, gens)]
        gens = [gs + [Generation(f, True, 0)] if f else gs for f, gs in zip(fixes, gens)]
    elif run.cfg.teacher.model and prompts:
        del model
        with bar(len(prompts), f"iter {t} teacher") as progress:
            gold = teacher_responses(
                run.cfg.teacher,
                prompts,
                max_new_tokens=cfg.max_new_tokens,
                batch_size=cfg.batch_size,
                dtype=run.cfg.policy.dtype,
                seed=seed,
                progress=progress,
            )
        gens = [gs + [g] for gs, g in zip(gens, gold)]
    rows = [
        {
            "id": p["id"],
            "responses": [g.text for g in gs],
            "finished": [g.finished for g in gs],
            "tokens": [g.tokens for g in gs],
            "sources": ["student"] * cfg.k + ["teacher"] * (len(gs) - cfg.k),
            "seed": seed,
        }
        for p, gs in zip(prompts, gens)
    ]
    if shard is None:
        io.write_jsonl(run.iter_dir(t) / "samples.jsonl", rows)
    else:
        inputs = shard_inputs(run, t, "sample")
        shards.write_shard(run.iter_dir(t), "sample", *shard, rows, inputs)
        if shards.complete_count(run.iter_dir(t), "sample", inputs) == shard[1]:
            shards.merge(run.iter_dir(t), "sample", shard[1], inputs)
