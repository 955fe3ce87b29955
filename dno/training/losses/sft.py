"""Rejection-sampling fine-tuning: the chosen responses' negative log-likelihood (no reference)."""

from __future__ import annotations

import torch

from dno.training.losses.base import LOSSES, PairBatch


def sft_loss(pc, n_tokens) -> torch.Tensor:
    """Mean negative log-likelihood per token of the chosen response. Shape (B,)."""
    return -pc / torch.as_tensor(n_tokens, dtype=pc.dtype, device=pc.device).clamp(min=1)


@LOSSES.register("sft")
def sft(b: PairBatch, beta: float) -> torch.Tensor:
    return sft_loss(b.pc, b.chosen_tokens)
