"""Sampling K responses per prompt with Hugging Face `transformers` (CPU or GPU).

Prompts are rendered with the model's chat template (`models.render_prompt`) so that every sampler
and the trainer condition on identical text. Each batch reseeds torch from (seed, batch index), so a
stage re-run after a crash reproduces its samples exactly.

With K > 1 samples per prompt each prompt is run through the model once and its KV cache copied K times
(`shared_prompt_inputs`), where `generate`'s `num_return_sequences` would run the prompt K times: the
prompt is most of a default run's sampled tokens (the samples are the same token for token as with the
prompt run K times, tested). Top-p ranks and draws among the top tokens only (`nucleus.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from dno import faults
from dno.models import cache_kwarg, render_prompt, stop_token_ids


@dataclass
class Generation:
    text: str
    finished: bool
    """True if the model emitted end-of-sequence; False if `max_new_tokens` cut it off."""
    tokens: int


def batch_seed(seed: int, batch: int) -> int:
    return (seed * 1_000_003 + batch * 7919) % (2**31 - 1)


class HFSampler:
    def __init__(self, model, tokenizer, batch_size: int = 8):
        self.model, self.tokenizer, self.batch_size = model, tokenizer, batch_size

    @torch.no_grad()
    def generate(
        self,
        prompts: Sequence[dict],
        n: int,
        *,
        temperature: float,
        top_p: float,
        max_new_tokens: int,
        seed: int,
        progress=None,
        offset: int = 0,
    ) -> list[list[Generation]]:
        """n generations per prompt; temperature 0 means greedy (then n must be 1).

        `offset`: the index of `prompts[0]` in the full prompt list (a shard of it, `dno.shards`); it must
        be a multiple of `batch_size` so that the batches, and their seeds, are those of an unsharded run.
        """
        if offset % self.batch_size:
            raise ValueError(f"offset {offset} is not a multiple of batch_size {self.batch_size}")
        tok, model = self.tokenizer, self.model
        greedy = temperature == 0
        if greedy and n != 1:
            raise ValueError("greedy decoding gives identical samples: use n=1 or temperature > 0")
        model.eval()
        tok.padding_side = "left"
        eos = set(_eos_ids(model, tok))
        out: list[list[Generation]] = []
        for b, start in enumerate(range(0, len(prompts), self.batch_size)):
            chunk = prompts[start : start + self.batch_size]
            texts = [render_prompt(tok, p["messages"]) for p in chunk]
            enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
            torch.manual_seed(batch_seed(seed, b + offset // self.batch_size))
            kwargs = dict(do_sample=False) if greedy else sampling_kwargs(temperature, top_p)
            inputs, copies = (shared_prompt_inputs(model, enc, n), 1) if n > 1 else (enc, n)
            gen = model.generate(
                **inputs,
                max_new_tokens=max_new_tokens,
                num_return_sequences=copies,
                pad_token_id=tok.pad_token_id,
                eos_token_id=sorted(eos),
                **kwargs,
            )
            new = gen[:, enc["input_ids"].shape[1] :].tolist()
            for i in range(len(chunk)):
                out.append([_decode(tok, ids, eos) for ids in new[i * n : (i + 1) * n]])
            if progress is not None:
                progress.update(len(chunk))
            faults.point("batch")
        return out


def sampling_kwargs(temperature: float, top_p: float) -> dict:
    """`generate` settings for temperature + top-p sampling: `NucleusSampler` draws each token among the top
    ones and leaves `generate` a greedy step (so `generate`'s own warpers and whole-vocabulary draw never run)."""
    from transformers import LogitsProcessorList

    from dno.generation.nucleus import NucleusSampler

    return dict(do_sample=False, logits_processor=LogitsProcessorList([NucleusSampler(temperature, top_p)]))


# Decoder-only models whose `DynamicCache` holds one plain key/value tensor per layer, so copying it along the
# batch is exact; others (sliding-window or hybrid caches) let `generate` expand the prompt itself.
_SHARED_PROMPT_MODELS = {"llama", "mistral", "qwen2", "qwen3"}


def shared_prompt_inputs(model, enc, n: int):
    """`generate` inputs for n samples of each prompt of `enc` (left-padded), with every prompt run once: all
    but its last token go through the model, their KV cache is repeated n times, and `generate` starts from
    there (it feeds the last token itself, so its first sampled token sees the same logits as without the
    cache). Position ids are `generate`'s own (from the padding mask), so the cache equals what it would build."""
    ids, attn = enc["input_ids"], enc["attention_mask"]
    if getattr(model.config, "model_type", None) not in _SHARED_PROMPT_MODELS or ids.shape[1] < 2:
        return {**enc, "input_ids": ids.repeat_interleave(n, 0), "attention_mask": attn.repeat_interleave(n, 0)}
    from transformers import DynamicCache

    cache = DynamicCache(config=model.config)
    key = cache_kwarg(model)
    pos = (attn.cumsum(-1) - 1).masked_fill(attn == 0, 1)
    model(
        input_ids=ids[:, :-1],
        attention_mask=attn[:, :-1],
        position_ids=pos[:, :-1],
        use_cache=True,
        logits_to_keep=1,
        **{key: cache},
    )
    cache.batch_repeat_interleave(n)
    return {"input_ids": ids.repeat_interleave(n, 0), "attention_mask": attn.repeat_interleave(n, 0), key: cache}


def _eos_ids(model, tok) -> list[int]:
    return stop_token_ids(tok, model.generation_config.eos_token_id)


def _decode(tok, ids: list[int], eos: set[int]) -> Generation:
    end = next((i for i, t in enumerate(ids) if t in eos), None)
    body = ids if end is None else ids[:end]
    return Generation(tok.decode(body, skip_special_tokens=True).strip(), end is not None, len(body))
