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
    return models.load_policy(run.policy(t), run.cfg.policy.dtype)


def greedy(run: RunDir, t: int, prompts: list[dict], desc: str) -> list[dict]:
    """π_t's greedy answers to `prompts`: [{id, response, finished}]."""
    model, tok = load_policy(run, t)
    ev = run.cfg.eval
    with bar(len(prompts), desc) as progress:
        gens = HFSampler(model, tok, ev.batch_size).generate(
            prompts, 1, temperature=0.0, top_p=1.0, max_new_tokens=ev.max_new_tokens, seed=0, progress=progress)
    return [{"id": p["id"], "response": g[0].text, "finished": g[0].finished} for p, g in zip(prompts, gens)]
