"""Temperature and top-p (nucleus) sampling's logit mask, computed over the top tokens instead of the whole vocabulary.

transformers' `TopPLogitsWarper` sorts all V logits of every sequence at every decoding step; on a CPU that
sort was a fifth of the HF sampler's time (V = 49,152 for SmolLM2). The nucleus of a trained model's
next-token distribution is almost always a few tokens, so `NucleusWarper` ranks only the top `cap` (one
`topk`), and where their mass falls short of p (a flat distribution) that row takes transformers' own
warper. The kept tokens are the same set: a token is kept when the probability mass strictly above it is
below p, which is transformers' rule (it removes a token when the mass at or below it is at most 1 − p),
summed from the other end, so only float rounding at the edge of the nucleus could tell them apart (none of
906 real rows differed, tests/unit/generation/test_nucleus.py).
"""

from __future__ import annotations

import torch
from transformers import LogitsProcessor
from transformers.generation.logits_process import TopPLogitsWarper


class NucleusWarper(LogitsProcessor):
    def __init__(self, temperature: float, top_p: float, cap: int = 128):
        self.temperature, self.top_p, self.cap = temperature, top_p, cap
        self._fallback = TopPLogitsWarper(top_p)

    def __call__(self, input_ids, scores: torch.Tensor) -> torch.Tensor:
        if self.temperature != 1.0:
            scores = scores / self.temperature  # as transformers' TemperatureLogitsWarper computes it
        if self.top_p >= 1.0:
            return scores
        _, idx = scores.topk(min(self.cap, scores.shape[-1]), dim=-1)  # descending
        probs = scores.softmax(-1).gather(-1, idx)
        keep = (probs.cumsum(-1) - probs) < self.top_p  # the mass strictly above each token is below p
        remove = torch.ones_like(scores, dtype=torch.bool).scatter_(-1, idx, ~keep)
        out = scores.masked_fill(remove, -float("inf"))
        short = probs.sum(-1) < self.top_p  # the nucleus reaches past the top `cap`: rank the whole row
        if short.any():
            out[short] = self._fallback(input_ids, scores[short])
        return out
