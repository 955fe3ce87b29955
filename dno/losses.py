"""Preference losses as pure functions of summed sequence log-probabilities.

Notation: `pc`/`pr` are log π(y_chosen|x) / log π(y_rejected|x) under the policy being trained,
`rc`/`rr` the same under the reference π_t (the policy that sampled this iteration's data).
All tensors have shape (B,).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def preference_logits(pc, pr, rc, rr, beta: float) -> torch.Tensor:
    """η·log π(y1)/π_t(y1) − η·log π(y2)/π_t(y2): the DPO-style logit of "y1 beats y2"."""
    return beta * ((pc - rc) - (pr - rr))


def dno_loss(pc, pr, rc, rr, target, beta: float) -> torch.Tensor:
    """DNO Algorithm 1: binary cross-entropy of the preference logit against a soft target.

    target = σ(r_t(x,y1) − r_t(x,y2)) ∈ [0, 1]; with target 1 this is exactly the DPO loss.
    Returns per-pair losses, shape (B,).
    """
    z = preference_logits(pc, pr, rc, rr, beta)
    target = torch.as_tensor(target, dtype=z.dtype, device=z.device)
    return -(target * F.logsigmoid(z) + (1 - target) * F.logsigmoid(-z))


def dpo_loss(pc, pr, rc, rr, beta: float) -> torch.Tensor:
    """DPO (DNO-Prct trains with hard labels): −log σ(logit). Per-pair losses, shape (B,)."""
    return -F.logsigmoid(preference_logits(pc, pr, rc, rr, beta))


def implicit_rewards(pc, pr, rc, rr, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """β·log π/π_t for chosen and rejected: their gap is the reward margin logged during training."""
    return beta * (pc - rc), beta * (pr - rr)


def sppo_loss(pc, pr, rc, rr, p_chosen, p_rejected, beta: float) -> torch.Tensor:
    """SPPO's square loss on each response: (log π/π_t(y) − (P̂(y ≻ π_t) − ½)/β)², summed over the pair.

    P̂ is the response's estimated win rate against the policy (r_t). Per-pair losses, shape (B,).
    """
    pw = torch.as_tensor(p_chosen, dtype=pc.dtype, device=pc.device)
    pl = torch.as_tensor(p_rejected, dtype=pc.dtype, device=pc.device)
    return ((pc - rc) - (pw - 0.5) / beta) ** 2 + ((pr - rr) - (pl - 0.5) / beta) ** 2


def sft_loss(pc, n_tokens) -> torch.Tensor:
    """Rejection-sampling fine-tuning: mean negative log-likelihood per token of the chosen response."""
    return -pc / torch.as_tensor(n_tokens, dtype=pc.dtype, device=pc.device).clamp(min=1)
