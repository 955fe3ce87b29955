"""Sampling K responses per prompt with Hugging Face `transformers` (CPU or GPU).

Prompts are rendered with the model's chat template (`models.render_prompt`) so that every sampler
and the trainer condition on identical text. Each batch reseeds torch from (seed, batch index), so a
stage re-run after a crash reproduces its samples exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from dno import faults
from dno.models import render_prompt, stop_token_ids


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
            kwargs = (
                dict(do_sample=False) if greedy else dict(do_sample=True, temperature=temperature, top_p=top_p, top_k=0)
            )
            gen = model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                num_return_sequences=n,
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


def _eos_ids(model, tok) -> list[int]:
    return stop_token_ids(tok, model.generation_config.eos_token_id)


def _decode(tok, ids: list[int], eos: set[int]) -> Generation:
    end = next((i for i, t in enumerate(ids) if t in eos), None)
    body = ids if end is None else ids[:end]
    return Generation(tok.decode(body, skip_special_tokens=True).strip(), end is not None, len(body))
