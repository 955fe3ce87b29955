"""DPO and DNO Algorithm 1: binary cross-entropy of the preference logit against a (soft) target."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dno.training.losses.base import LOSSES, PairBatch, preference_logits


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


@LOSSES.register("dpo")
@LOSSES.register("dno")
def pair_targets_loss(b: PairBatch, beta: float) -> torch.Tensor:
    """`dpo` and `dno` differ only in the pairs' targets (hard 1 or soft σ(Δr), set by `pair.target`)."""
    return dno_loss(b.pc, b.pr, b.rc, b.rr, b.target, beta)
