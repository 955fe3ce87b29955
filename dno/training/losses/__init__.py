"""Preference losses as pure functions of summed sequence log-probabilities, and their registry (base.py).

One module per loss, each registering itself: dpo.py (`dpo`, `dno`), sppo.py, sft.py. Adding one is one
new file (docs/extending.md).
"""

from __future__ import annotations

from dno.training.losses.base import LOSSES, PairBatch, implicit_rewards, loss_fn, preference_logits
from dno.training.losses.dpo import dno_loss, dpo_loss
from dno.training.losses.sft import sft_loss
from dno.training.losses.sppo import sppo_loss

__all__ = [
    "LOSSES",
    "PairBatch",
    "dno_loss",
    "dpo_loss",
    "implicit_rewards",
    "loss_fn",
    "preference_logits",
    "sft_loss",
    "sppo_loss",
]
