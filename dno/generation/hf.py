"""Sampling K responses per prompt with Hugging Face `transformers` models (CPU or GPU).

Prompts are rendered with the model's chat template (`models.render_prompt`) so that every sampler
and the trainer condition on identical text. Each batch reseeds torch from (seed, batch index), so a
stage re-run after a crash reproduces its samples exactly.

What the prompts share runs once (`shared_prompt_inputs`): the opening every prompt of a batch begins with
(a chat template's system prompt, half of a default prompt) once per batch, and with K > 1 samples each
prompt once, its KV cache copied K times, where `generate`'s `num_return_sequences` would run it K times.
From there dno's own loop decodes (`decode.py`: finished rows leave the batch; each token drawn among the
top ones, `nucleus.py`). The answers are, token for token, `generate`'s on the plain left-padded batch when
`generate` takes the same draw (tested).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from dno import faults
from dno.generation.decode import decode
from dno.models import cache_kwarg, opening_cache, render_prompt, shared_opening, stop_token_ids


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
            new = decode(
                model,
                shared_prompt_inputs(model, enc, n, tok.pad_token_id),
                max_new_tokens=max_new_tokens,
                eos=eos,
                temperature=temperature,
                top_p=top_p,
            )
            for i in range(len(chunk)):
                out.append([_decode(tok, ids, eos) for ids in new[i * n : (i + 1) * n]])
            if progress is not None:
                progress.update(len(chunk))
            faults.point("batch")
        return out


# Decoder-only models whose `DynamicCache` holds one plain key/value tensor per layer, so copying it along the
# batch is exact; others (sliding-window or hybrid caches) run each whole prompt, once per row.
_SHARED_PROMPT_MODELS = {"llama", "mistral", "qwen2", "qwen3"}


def _opening_len(ids: torch.Tensor, attn: torch.Tensor) -> int:
    """The opening all the prompts of a left-padded batch share (`models.shared_opening`)."""
    return shared_opening([row[mask.bool()].tolist() for row, mask in zip(ids, attn)])


def _middle_padded(ids: torch.Tensor, attn: torch.Tensor, opening: int, pad_id: int):
    """The batch laid out as `opening | padding | rest of the prompt`, so that the opening sits in the same
    columns of every row; `generate` takes position ids from the mask, so each token keeps its position."""
    out_ids, out_attn = torch.full_like(ids, pad_id), torch.zeros_like(attn)
    for i, (row, mask) in enumerate(zip(ids, attn)):
        real = row[mask.bool()]
        out_ids[i, :opening], out_attn[i, :opening] = real[:opening], 1
        out_ids[i, ids.shape[1] - len(real) + opening :] = real[opening:]
        out_attn[i, ids.shape[1] - len(real) + opening :] = 1
    return out_ids, out_attn


def shared_prompt_inputs(model, enc, n: int, pad_id: int):
    """Decoding inputs (`decode`, or `generate`'s) for n generations of each prompt of `enc` (left-padded), with
    the work the prompts share done once. The opening every prompt of the batch begins with (a chat template's
    system prompt) runs once for the whole batch, its KV cache repeated for each row; with n > 1 the rest of
    each prompt but its last token runs once too, its cache repeated n times. Decoding starts from there: it feeds what the cache lacks (at
    least each prompt's last token, so its first new token sees the same logits as without the cache). Position
    ids are `generate`'s own (from the padding mask), so the cache equals what it would build. Other model
    families than `_SHARED_PROMPT_MODELS` get an empty cache: decoding runs their whole prompts."""
    from transformers import DynamicCache

    ids, attn = enc["input_ids"], enc["attention_mask"]
    key, cache = cache_kwarg(model), DynamicCache(config=model.config)
    shared = getattr(model.config, "model_type", None) in _SHARED_PROMPT_MODELS and ids.shape[1] > 1
    opening = _opening_len(ids, attn) if shared and len(ids) > 1 else 0  # one prompt alone shares nothing
    if opening:
        ids, attn = _middle_padded(ids, attn, opening, pad_id)
        key, cache = opening_cache(model, ids[:1, :opening], len(ids))
    if shared and n > 1:
        pos = (attn.cumsum(-1) - 1).masked_fill(attn == 0, 1)
        model(
            input_ids=ids[:, opening:-1],
            attention_mask=attn[:, :-1],
            position_ids=pos[:, opening:-1],
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
