"""Log-probabilities of pairs (`dno.training.logprobs`). Shared-prompt packing: one row `prompt | chosen |
rejected` must give the same log-probabilities and the same gradients as chosen and rejected run as separate
sequences; a wrapped model (DDP, DeepSpeed, FSDP, peft) goes through its own forward to the same numbers."""

import pytest
import torch

from dno import models
from dno.training.logprobs import (
    collate,
    encode,
    pack_rows,
    packable,
    packed_pair_logps,
    pair_logps,
    separate_pair_logps,
    sequence_logps,
    shared_prefix_len,
)


def _pairs(tok):
    long_q = [{"role": "user", "content": "Write a long poem about the sea and cats, please, with many words."}]
    short_q = [{"role": "user", "content": "What is 12 + 30?"}]
    chosen = [
        encode(tok, short_q, "42", True),
        encode(tok, long_q, "Waves roll over the cat.", False),
        encode(tok, short_q, "It is 42.", True),
    ]
    rejected = [
        encode(tok, short_q, "I think it is maybe 41 or so, it is hard to say really.", True),
        encode(tok, long_q, "", False),  # an empty, unfinished response: no tokens at all
        encode(tok, short_q, "43", True),
    ]
    return chosen, rejected


def _grads(model):
    return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_equals_separate_rows_values_and_gradients(tiny_model_dir, attn):
    model, tok = models.load_policy(tiny_model_dir)
    model.config._attn_implementation = attn
    chosen, rejected = _pairs(tok)
    assert packable(model, chosen, rejected)

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


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_the_shared_opening_run_once_per_batch_gives_the_same_values_and_gradients(tiny_model_dir, attn):
    model, tok = models.load_policy(tiny_model_dir)
    model.config._attn_implementation = attn
    chosen, rejected = _pairs(tok)
    prefix = shared_prefix_len(chosen + rejected)
    assert 20 < prefix < min(c.prompt_len for c in chosen), "the template's system prompt and user header"
    runs = []
    for p in (0, prefix):
        model.zero_grad(set_to_none=True)
        c, r = pair_logps(model, chosen, rejected, tok.pad_token_id, prefix=p)
        (c - 0.5 * r).sum().backward()
        runs.append((torch.cat([c, r]).detach(), _grads(model)))
    torch.testing.assert_close(runs[1][0], runs[0][0], rtol=1e-6, atol=1e-5)
    torch.testing.assert_close(runs[1][1], runs[0][1], rtol=1e-5, atol=1e-6)


def test_pairs_pack_into_rows_longest_first_within_the_cap():
    rows = pack_rows([30, 70, 50, 20, 90], row_tokens=100)
    assert rows == [[4], [1, 0], [2, 3]]
    assert pack_rows([300, 10], row_tokens=100) == [[0], [1]], "a pair longer than the cap gets a row of its own"
    assert pack_rows([5] * 8, row_tokens=1024) == [list(range(8))]


def test_several_pairs_to_a_row_give_what_one_pair_to_a_row_gives(tiny_model_dir):
    model, tok = models.load_policy(tiny_model_dir)
    chosen, rejected = _pairs(tok)
    prefix = shared_prefix_len(chosen + rejected)
    with torch.no_grad():
        one_row = torch.cat(packed_pair_logps(model, chosen, rejected, tok.pad_token_id, prefix, row_tokens=1024))
        per_pair = torch.cat(packed_pair_logps(model, chosen, rejected, tok.pad_token_id, prefix, row_tokens=1))
    torch.testing.assert_close(one_row, per_pair, rtol=1e-6, atol=1e-5)


def test_the_shared_opening_stops_short_of_each_prompts_last_token():
    assert shared_prefix_len([encode_ids([1, 2, 3, 4, 9], 4), encode_ids([1, 2, 3, 5, 9], 4)]) == 3
    assert shared_prefix_len([encode_ids([1, 2, 3, 4, 9], 4), encode_ids([1, 2, 3, 4, 7], 4)]) == 3, "prompt's last"
    assert shared_prefix_len([encode_ids([1, 2], 1), encode_ids([1, 2, 3], 2)]) == 0
    assert shared_prefix_len([encode_ids([1, 2, 3], 2), encode_ids([4, 2, 3], 2)]) == 0
    assert shared_prefix_len([]) == 0


def test_pairs_with_different_prompts_fall_back_to_separate_rows(tiny_model_dir):
    model, tok = models.load_policy(tiny_model_dir)
    chosen = [encode(tok, [{"role": "user", "content": "A?"}], "yes", True)]
    rejected = [encode(tok, [{"role": "user", "content": "B?"}], "no", True)]
    assert not packable(model, chosen, rejected)
    c, r = pair_logps(model, chosen, rejected, tok.pad_token_id)
    torch.testing.assert_close(torch.cat([c, r]), sequence_logps(model, chosen + rejected, tok.pad_token_id))


class Wrapper(torch.nn.Module):
    """Stands in for DistributedDataParallel: no plain head to reach, only its own forward."""

    def __init__(self, m):
        super().__init__()
        self.module = m

    def forward(self, **kw):
        return self.module(**kw)


def test_wrapped_models_give_the_plain_heads_log_probabilities(tiny_model_dir):
    model, tok = models.load_policy(tiny_model_dir, device="cpu")
    chosen, rejected = _pairs(tok)
    wrapped = Wrapper(model)
    assert not packable(wrapped, chosen, rejected)
    with torch.no_grad():
        a = sequence_logps(model, chosen + rejected, tok.pad_token_id)
        b = sequence_logps(wrapped, chosen + rejected, tok.pad_token_id, torch.device("cpu"))
        c, r = pair_logps(wrapped, chosen, rejected, tok.pad_token_id, torch.device("cpu"))
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(torch.cat([c, r]), a, rtol=1e-5, atol=1e-4)
    assert (a[:3] < 0).all() and a[4].item() == 0.0


def test_separate_rows_and_collate():
    seqs = [encode_ids([5, 6, 7, 8], 2), encode_ids([5, 9], 1)]
    ids, attn, resp = collate(seqs, pad_id=0, device="cpu")
    assert ids.tolist() == [[5, 6, 7, 8], [5, 9, 0, 0]] and attn.tolist() == [[1, 1, 1, 1], [1, 1, 0, 0]]
    assert resp.tolist() == [[0, 0, 1, 1], [0, 1, 0, 0]], "response positions only, no padding"


def encode_ids(ids, prompt_len):
    from dno.training.logprobs import Encoded

    return Encoded(ids, prompt_len)


def test_separate_pair_logps_splits_chosen_from_rejected(tiny_model_dir):
    model, tok = models.load_policy(tiny_model_dir, device="cpu")
    chosen, rejected = _pairs(tok)
    with torch.no_grad():
        c, r = separate_pair_logps(model, chosen, rejected, tok.pad_token_id)
        both = sequence_logps(model, chosen + rejected, tok.pad_token_id)
    assert torch.equal(torch.cat([c, r]), both) and len(c) == len(r) == 3
