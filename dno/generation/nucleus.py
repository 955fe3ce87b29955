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


def draw(
    scores: torch.Tensor, temperature: float, top_p: float, u: torch.Tensor | None, cap: int = 128, min_p: float = 0.0
):
    """One token id per row of `scores` (logits): the argmax at temperature 0, else the token at quantile `u`
    (one uniform number in [0, 1) per row) of the row's tempered top-p distribution; with `min_p`, tokens less
    likely than min_p times the row's most likely one are left out after top-p, as transformers' `MinPLogitsWarper`
    does."""
    scores = scores.float()
    if temperature == 0:
        return scores.argmax(-1)
    if top_p >= 1.0:
        whole = (scores / temperature).softmax(-1).sort(-1, descending=True)
        return _at_quantile(whole.indices, _min_p(whole.values, min_p), u)
    idx, probs, short = nucleus(scores, temperature, top_p, cap)
    tokens = _at_quantile(idx, _min_p(probs, min_p), u)
    if short.any():  # rank the whole row, as transformers does
        warped = TopPLogitsWarper(top_p)(None, scores[short] / temperature).softmax(-1)
        whole = warped.sort(-1, descending=True)
        tokens[short] = _at_quantile(whole.indices, _min_p(whole.values, min_p), u[short])
    return tokens


def _min_p(probs: torch.Tensor, min_p: float) -> torch.Tensor:
    """`probs` (each row in descending order) without those below min_p times the row's first."""
    return probs * (probs >= min_p * probs[:, :1]) if min_p > 0 else probs


def _at_quantile(idx: torch.Tensor, probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """The token of each row at which the cumulative (unnormalised) `probs`, in descending order, first exceed `u`
    times their sum."""
    cdf = probs.cumsum(-1)
    at = (cdf <= (u * cdf[:, -1]).unsqueeze(-1)).sum(-1)
    at = torch.minimum(at, (probs > 0).sum(-1) - 1)  # in the support (descending: its last index), whatever rounding
    return idx.gather(-1, at.unsqueeze(-1)).squeeze(-1)
