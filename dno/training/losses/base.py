"""The loss interface: the registry, the batch every loss sees, and the shared pieces of the DPO logit.

Notation: `pc`/`pr` are log π(y_chosen|x) / log π(y_rejected|x) under the policy being trained,
`rc`/`rr` the same under the reference (π_t for DNO). All tensors have shape (B,).

A loss is registered by name (`train.loss`) and maps a `PairBatch` and β to per-pair losses (B,):

    @LOSSES.register("my_loss")
    def my_loss(b: PairBatch, beta: float) -> torch.Tensor: ...
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from dno.registry import Registry

LossFn = Callable[["PairBatch", float], torch.Tensor]
LOSSES: Registry[LossFn] = Registry("loss", "dno.training.losses")


@dataclass
class PairBatch:
    """One batch of pairs as the losses see it; every tensor has shape (B,)."""

    pc: torch.Tensor
    pr: torch.Tensor
    rc: torch.Tensor
    rr: torch.Tensor
    target: torch.Tensor
    """P(chosen ≻ rejected): 1 for DPO's hard labels, σ(r1 − r2) for DNO's soft labels."""
    chosen_rate: Sequence[float]
    rejected_rate: Sequence[float]
    """r_t estimates (win rate against the policy's own samples), for SPPO."""
    chosen_tokens: Sequence[int]
    """Response tokens of each chosen response, for per-token losses."""


def preference_logits(pc, pr, rc, rr, beta: float) -> torch.Tensor:
    """η·log π(y1)/π_t(y1) − η·log π(y2)/π_t(y2): the DPO-style logit of "y1 beats y2"."""
    return beta * ((pc - rc) - (pr - rr))


def implicit_rewards(pc, pr, rc, rr, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """β·log π/π_t for chosen and rejected: their gap is the reward margin logged during training."""
    return beta * (pc - rc), beta * (pr - rr)


def loss_fn(name: str) -> LossFn:
    return LOSSES.get(name, "train.loss")
