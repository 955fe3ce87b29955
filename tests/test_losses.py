import math

import torch

from dno.losses import dno_loss, dpo_loss, implicit_rewards, preference_logits


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
