"""Shared-prompt packing (`dno.training.pair_logps`): one row `prompt | chosen | rejected` must give the
same log-probabilities and the same gradients as chosen and rejected run as separate sequences."""

import pytest
import torch

from dno import models
from dno.training import _packable, encode, pair_logps, sequence_logps


def _pairs(tok):
    long_q = [{"role": "user", "content": "Write a long poem about the sea and cats, please, with many words."}]
    short_q = [{"role": "user", "content": "What is 12 + 30?"}]
    chosen = [encode(tok, short_q, "42", True), encode(tok, long_q, "Waves roll over the cat.", False),
              encode(tok, short_q, "It is 42.", True)]
    rejected = [encode(tok, short_q, "I think it is maybe 41 or so, it is hard to say really.", True),
                encode(tok, long_q, "", False),  # an empty, unfinished response: no tokens at all
                encode(tok, short_q, "43", True)]
    return chosen, rejected


def _grads(model):
    return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_equals_separate_rows_values_and_gradients(tiny_model_dir, attn):
    model, tok = models.load_policy(tiny_model_dir)
    model.config._attn_implementation = attn
    chosen, rejected = _pairs(tok)
    assert _packable(model, chosen, rejected)

    c, r = pair_logps(model, chosen, rejected, tok.pad_token_id)
    (c - 0.5 * r).sum().backward()
    packed_grad = _grads(model)
    model.zero_grad(set_to_none=True)

    ref = sequence_logps(model, chosen + rejected, tok.pad_token_id)  # separate rows, padded apart
    (ref[:3] - 0.5 * ref[3:]).sum().backward()
    torch.testing.assert_close(torch.cat([c, r]), ref, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(packed_grad, _grads(model), rtol=1e-4, atol=1e-5)
    assert r[1].item() == 0.0  # no tokens, log-probability 0
    assert torch.isfinite(packed_grad).all()


def test_pairs_with_different_prompts_fall_back_to_separate_rows(tiny_model_dir):
    model, tok = models.load_policy(tiny_model_dir)
    chosen = [encode(tok, [{"role": "user", "content": "A?"}], "yes", True)]
    rejected = [encode(tok, [{"role": "user", "content": "B?"}], "no", True)]
    assert not _packable(model, chosen, rejected)
    c, r = pair_logps(model, chosen, rejected, tok.pad_token_id)
    torch.testing.assert_close(torch.cat([c, r]), sequence_logps(model, chosen + rejected, tok.pad_token_id))
