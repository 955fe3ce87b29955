"""Temperature and top-p (nucleus) sampling over the top tokens instead of the whole vocabulary.

transformers' `TopPLogitsWarper` sorts all V logits of every sequence at every decoding step, and its
sampling step then draws from all V (`multinomial` fills a V-wide exponential random tensor per row); on a
CPU these were a fifth and a sixth of the HF sampler's time (V = 49,152 for SmolLM2). The nucleus of a
trained model's next-token distribution is almost always a few tokens, so `NucleusSampler` ranks only the
top `cap` (one `topk`), draws the token among them, and hands `generate` a row whose only finite logit is
that token (so `generate` runs greedy: argmax picks it). Where the nucleus reaches past the top `cap` (a
flat distribution) that row takes transformers' own warper and a draw over the whole vocabulary.

The kept tokens are transformers' set: a token is kept when the probability mass strictly above it is below
p, which is transformers' rule (it removes a token when the mass at or below it is at most 1 − p), summed
from the other end, so only float rounding at the edge of the nucleus could tell them apart (none of 906 real
rows differed). Each kept token is drawn with its probability renormalised over the nucleus, as transformers
draws it; the random stream is torch's global one (each batch reseeds it), but not the one `generate`'s
own `multinomial` would consume, so the tokens are another draw from the same distribution
(tests/unit/generation/test_nucleus.py).
"""

from __future__ import annotations

import torch
from transformers import LogitsProcessor
from transformers.generation.logits_process import TopPLogitsWarper


def nucleus(scores: torch.Tensor, temperature: float, top_p: float, cap: int = 128):
    """(token ids, probabilities, short) of each row's top `cap` tokens: the probabilities are those of the
    tempered softmax over the whole vocabulary, zero outside the nucleus; `short` marks rows whose nucleus
    reaches past the top `cap` (their probabilities are not the whole nucleus)."""
    top, idx = scores.topk(min(cap, scores.shape[-1]), dim=-1)  # descending; temperature keeps the order
    scale = 1.0 / temperature
    log_norm = torch.logsumexp(scores * scale if temperature != 1.0 else scores, -1, keepdim=True)
    probs = (top * scale - log_norm).exp()
    keep = (probs.cumsum(-1) - probs) < top_p  # the mass strictly above each token is below p
    short = probs.sum(-1) < top_p
    return idx, probs * keep, short


class NucleusSampler(LogitsProcessor):
    """Draws the next token of every row itself; returns logits that make `generate`'s greedy step take it."""

    def __init__(self, temperature: float, top_p: float, cap: int = 128):
        self.temperature, self.top_p, self.cap = temperature, top_p, cap
        self._fallback = TopPLogitsWarper(top_p)

    def __call__(self, input_ids, scores: torch.Tensor) -> torch.Tensor:
        tokens = self.draw(scores)
        out = torch.full_like(scores, -float("inf"))
        return out.scatter_(-1, tokens.unsqueeze(-1), 0.0)

    def draw(self, scores: torch.Tensor) -> torch.Tensor:
        """One token id per row, drawn from the tempered top-p distribution of that row's logits."""
        scores = scores.float()
        if self.top_p >= 1.0:
            return torch.multinomial((scores / self.temperature).softmax(-1), 1).squeeze(-1)
        idx, probs, short = nucleus(scores, self.temperature, self.top_p, self.cap)
        tokens = idx.gather(-1, torch.multinomial(probs, 1)).squeeze(-1)
        if short.any():  # rank the whole row, as transformers does
            warped = self._fallback(None, scores[short] / self.temperature)
            tokens[short] = torch.multinomial(warped.softmax(-1), 1).squeeze(-1)
        return tokens
