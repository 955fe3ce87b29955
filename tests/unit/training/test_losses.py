import math

import pytest
import torch

from dno.errors import DnoError
from dno.training.losses import (
    LOSSES,
    PairBatch,
    dno_loss,
    dpo_loss,
    implicit_rewards,
    loss_fn,
    preference_logits,
    sft_loss,
    sppo_loss,
)


def t(*xs):
    return torch.tensor(xs, dtype=torch.float64)


def sig(x):
    return 1 / (1 + math.exp(-x))


def test_preference_logit_by_hand():
    # β((pc-rc)-(pr-rr)) = 0.1 * ((-10+12) - (-20+18)) = 0.1 * (2 + 2) = 0.4
    z = preference_logits(t(-10.0), t(-20.0), t(-12.0), t(-18.0), 0.1)
    assert torch.allclose(z, t(0.4))


def test_dpo_loss_by_hand():
    loss = dpo_loss(t(-10.0, -5.0), t(-20.0, -5.0), t(-12.0, -5.0), t(-18.0, -5.0), 0.1)
    assert torch.allclose(loss, t(-math.log(sig(0.4)), math.log(2)))


def test_dno_soft_target_by_hand_and_equals_dpo_at_one():
    args = (t(-10.0), t(-20.0), t(-12.0), t(-18.0))
    p = sig(1.0 - 0.0)  # σ(r1 - r2) with r1 = 1, r2 = 0
    expected = -(p * math.log(sig(0.4)) + (1 - p) * math.log(sig(-0.4)))
    assert torch.allclose(dno_loss(*args, t(p), 0.1), t(expected))
    assert torch.allclose(dno_loss(*args, t(1.0), 0.1), dpo_loss(*args, 0.1))
    # target 0 is DPO with the roles swapped
    assert torch.allclose(dno_loss(*args, t(0.0), 0.1), dpo_loss(args[1], args[0], args[3], args[2], 0.1))
    # target ½ is minimised at logit 0: equal log-ratios
    z0 = dno_loss(t(-1.0), t(-1.0), t(-1.0), t(-1.0), t(0.5), 0.1)
    assert torch.allclose(z0, t(math.log(2)))


def test_loss_gradient_pushes_chosen_up():
    pc = torch.tensor([-10.0], requires_grad=True)
    pr = torch.tensor([-10.0], requires_grad=True)
    dpo_loss(pc, pr, torch.tensor([-10.0]), torch.tensor([-10.0]), 0.1).sum().backward()
    assert pc.grad.item() < 0 < pr.grad.item()  # descending the loss raises chosen, lowers rejected


def test_implicit_rewards():
    c, r = implicit_rewards(t(-10.0), t(-20.0), t(-12.0), t(-18.0), 0.5)
    assert torch.allclose(c, t(1.0)) and torch.allclose(r, t(-1.0))


def test_sppo_loss_by_hand():
    # chosen: log-ratio 1, P=1 → (1 - 0.5/0.1)^2 = 16; rejected: log-ratio 0, P=0 → (0 + 5)^2 = 25
    loss = sppo_loss(t(-9.0), t(-10.0), t(-10.0), t(-10.0), [1.0], [0.0], 0.1)
    assert torch.allclose(loss, t(41.0))


def test_sft_loss_is_mean_token_nll():
    assert torch.allclose(sft_loss(t(-6.0, -2.0), [3, 4]), t(2.0, 0.5))


def _batch(target=1.0):
    # log-probabilities of 2 pairs; chosen responses of 2 and 4 tokens
    return PairBatch(
        t(-1.0, -4.0), t(-3.0, -2.0), t(-2.0, -4.0), t(-2.0, -3.0), t(target, target), [1.0, 0.75], [0.0, 0.25], [2, 4]
    )


def test_the_registry_maps_each_loss_name_to_its_formula():
    b = _batch()
    assert torch.allclose(loss_fn("dpo")(b, 0.1), dpo_loss(b.pc, b.pr, b.rc, b.rr, 0.1))
    assert torch.allclose(loss_fn("dno")(_batch(0.7), 0.1), dno_loss(b.pc, b.pr, b.rc, b.rr, t(0.7, 0.7), 0.1))
    assert not torch.allclose(loss_fn("dno")(_batch(0.7), 0.1), loss_fn("dpo")(b, 0.1)), "soft targets matter"
    assert torch.allclose(loss_fn("sft")(b, 0.1), t(0.5, 1.0))
    assert torch.allclose(loss_fn("sppo")(b, 0.1), sppo_loss(b.pc, b.pr, b.rc, b.rr, [1.0, 0.75], [0.0, 0.25], 0.1))
    assert {"dpo", "dno", "sft", "sppo"} <= set(LOSSES.names())
    with pytest.raises(DnoError, match="`train.loss` 'ppo'"):
        loss_fn("ppo")
