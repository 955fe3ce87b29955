"""A teacher's ("gold") response per prompt, added to the candidates (DNO-Prct uses GPT-4-Turbo).

The teacher is a local model (built-in name or directory) or, as `api:<model>`, any OpenAI-compatible
server through the API judge's backend (same timeouts, retries and key handling).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

from dno import models
from dno.generation.hf import Generation, HFSampler


def teacher_responses(
    cfg, prompts: Sequence[dict], *, max_new_tokens: int, batch_size: int, dtype: str, seed: int, progress=None
) -> list[Generation]:
    budget = cfg.max_new_tokens or max_new_tokens
    if cfg.model.startswith("api:"):
        from dno.judges.backends import APIBackend

        api = APIBackend(
            SimpleNamespace(
                base_url=cfg.base_url,
                model=cfg.model[4:],
                api_key_env=cfg.api_key_env,
                timeout_s=60.0,
                max_retries=4,
                backoff_s=1.0,
            ),
            "teacher",
        )

        def ask(p: dict) -> Generation:
            c = api.complete(p["messages"], max_tokens=budget, temperature=cfg.temperature, seed=seed, logprobs=0)
            if progress is not None:
                progress.update(1)
            return Generation(c.text.strip(), True, int(c.usage.get("completion_tokens", 0)))

        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(ask, prompts))
    model, tok = models.load_policy(models.resolve(cfg.model), dtype)
    gens = HFSampler(model, tok, batch_size).generate(
        prompts, 1, temperature=cfg.temperature, top_p=1.0, max_new_tokens=budget, seed=seed, progress=progress
    )
    return [g[0] for g in gens]
