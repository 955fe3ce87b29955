"""Choosing each row's next token: greedy, or temperature + top-p (nucleus) sampling over the top tokens.

transformers' `TopPLogitsWarper` sorts all V logits of every sequence at every decoding step, and its
sampling step then draws from all V; on a CPU these were a fifth and a sixth of the sampler's time
(V = 49,152 for SmolLM2). The nucleus of a trained model's next-token distribution is almost always a few
tokens, so `nucleus` ranks only the top `cap` (one `topk`). Where the nucleus reaches past the top `cap` (a
flat distribution) that row takes transformers' own warper over the whole vocabulary.

The kept tokens are transformers' set: a token is kept when the probability mass strictly above it is below
p, which is transformers' rule (it removes a token when the mass at or below it is at most 1 − p), summed
from the other end, so only float rounding at the edge of the nucleus could tell them apart (none of 906 real
rows differed). Each kept token is drawn with its probability renormalised over the nucleus, as transformers
draws it, by inverting the nucleus's cumulative distribution at one uniform number per row: a row's token
depends on its own logits and number only, never on the other rows of the batch (`decode` relies on it).
"""

from __future__ import annotations

import torch
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


def draw(scores: torch.Tensor, temperature: float, top_p: float, u: torch.Tensor | None, cap: int = 128):
    """One token id per row of `scores` (logits): the argmax at temperature 0, else the token at quantile `u`
    (one uniform number in [0, 1) per row) of the row's tempered top-p distribution."""
    scores = scores.float()
    if temperature == 0:
        return scores.argmax(-1)
    if top_p >= 1.0:
        return _at_quantile(
            torch.arange(scores.shape[-1], device=scores.device).expand_as(scores),
            (scores / temperature).softmax(-1),
            u,
        )
    idx, probs, short = nucleus(scores, temperature, top_p, cap)
    tokens = _at_quantile(idx, probs, u)
    if short.any():  # rank the whole row, as transformers does
        warped = TopPLogitsWarper(top_p)(None, scores[short] / temperature).softmax(-1)
        whole = warped.sort(-1, descending=True)
        tokens[short] = _at_quantile(whole.indices, whole.values, u[short])
    return tokens


def _at_quantile(idx: torch.Tensor, probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """The token of each row at which the cumulative (unnormalised) `probs` first exceed `u` times their sum."""
    cdf = probs.cumsum(-1)
    at = (cdf <= (u * cdf[:, -1]).unsqueeze(-1)).sum(-1)
    at = torch.minimum(at, (probs > 0).sum(-1) - 1)  # u * sum can round up to the sum: stay in the support
    return idx.gather(-1, at.unsqueeze(-1)).squeeze(-1)
