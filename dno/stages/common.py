"""What the stages share: progress bars, loading π_t, and greedy answers to held-out prompts."""

from __future__ import annotations

from tqdm.auto import tqdm

from dno import models
from dno.generation.hf import HFSampler
from dno.run.rundir import RunDir


def bar(total: int, desc: str, unit: str = "prompt"):
    return tqdm(total=total, desc=desc, unit=unit, leave=False, dynamic_ncols=True)


def load_policy(run: RunDir, t: int):
    """π_t and its tokenizer, in `policy.dtype`."""
    return models.load_policy(run.policy(t), run.cfg.policy.dtype, chat_template=run.cfg.policy.chat_template)


def sampler(run: RunDir, t: int, batch_size: int):
    """The sampler of π_t: `sample.backend` hf (transformers) or vllm (dno/generation/vllm.py)."""
    if run.cfg.sample.backend == "vllm":
        from dno.generation.vllm import VLLMSampler

        return VLLMSampler(
            run.policy(t),
            run.cfg.sample,
            run.cfg.policy.dtype,
            seed=run.cfg.seed,
            chat_template=run.cfg.policy.chat_template,
        )
    model, tok = load_policy(run, t)
    return HFSampler(model, tok, batch_size)


def greedy(run: RunDir, t: int, prompts: list[dict], desc: str) -> list[dict]:
    """π_t's greedy answers to `prompts` through the run's sampler: [{id, response, finished, tokens}]."""
    ev = run.cfg.eval
    engine = sampler(run, t, ev.batch_size)
    with bar(len(prompts), desc) as progress:
        gens = engine.generate(
            prompts, 1, temperature=0.0, top_p=1.0, max_new_tokens=ev.max_new_tokens, seed=0, progress=progress
        )
    return [
        {"id": p["id"], "response": g[0].text, "finished": g[0].finished, "tokens": g[0].tokens}
        for p, g in zip(prompts, gens)
    ]


def pair_messages(pair: dict, prompts: dict[str, dict]) -> list[dict]:
    """The prompt a pair answers: its own `messages` for a warm-start pair (pair.warm_start: not one of the
    run's prompts), else the run's prompt of its id in `prompts`."""
    return pair.get("messages") or prompts[pair["id"]]["messages"]


def shard_inputs(run: RunDir, t: int, stage: str) -> list:
    """What a shard of `stage` is computed from (dno.run.shards fingerprints it): the prompts and the sampling
    policy for a sample shard, the samples for a judge shard."""
    d = run.iter_dir(t)
    return [d / "prompts.jsonl", run.policy(t - 1)] if stage == "sample" else [d / "samples.jsonl"]
