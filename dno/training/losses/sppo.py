"""SPPO (Wu et al., 2024): a square loss on each response's log-ratio against its estimated win rate."""

from __future__ import annotations

import torch

from dno.training.losses.base import LOSSES, PairBatch


def sppo_loss(pc, pr, rc, rr, p_chosen, p_rejected, beta: float) -> torch.Tensor:
    """(log π/π_t(y) − (P̂(y ≻ π_t) − ½)/β)², summed over the pair; P̂ is the response's r_t. Shape (B,)."""
    pw = torch.as_tensor(p_chosen, dtype=pc.dtype, device=pc.device)
    pl = torch.as_tensor(p_rejected, dtype=pc.dtype, device=pc.device)
    return ((pc - rc) - (pw - 0.5) / beta) ** 2 + ((pr - rr) - (pl - 0.5) / beta) ** 2


@LOSSES.register("sppo")
def sppo(b: PairBatch, beta: float) -> torch.Tensor:
    return sppo_loss(b.pc, b.pr, b.rc, b.rr, b.chosen_rate, b.rejected_rate, beta)
