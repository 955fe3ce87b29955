"""Training keeps float32 master weights under bf16 compute, and teaches the template's end-of-turn token."""

from __future__ import annotations

import copy

import pytest
import torch

from dno import models
from dno.config import TrainConfig
from dno.errors import DnoError
from dno.training.logprobs import encode
from dno.training.loop import PairBatchItem, train


def _items(tok, n=8):
    def msgs(i):
        return [{"role": "user", "content": f"Write {i % 5 + 3} words about tea."}]

    return [
        PairBatchItem(
            encode(tok, msgs(i), "one two three " * (i % 3 + 1), True),
            encode(tok, msgs(i), "no" * (i % 4 + 1), i % 2 == 0),
        )
        for i in range(n)
    ]


def _changed_fraction(before, after) -> float:
    """Share of the elements of the non-embedding weights that moved (embedding rows of tokens no pair
    uses get no gradient, so they rightly stay)."""
    moved = total = 0
    for (name, a), b in zip(before.named_parameters(), after.parameters()):
        if "embed" in name:
            continue
        moved += (a.detach() != b.detach()).sum().item()
        total += a.numel()
    return moved / total


def test_bf16_training_updates_float32_master_weights(tiny_model_dir):
    """At lr 1e-5 AdamW's steps are far below bf16's resolution: with bf16 weights most of them round away
    (the old `policy.dtype=bfloat16` training), with float32 masters under bf16 autocast all of them land."""
    torch.manual_seed(0)
    model, tok = models.load_policy(tiny_model_dir, "float32", device="cpu")
    start = copy.deepcopy(model)
    cfg = TrainConfig(lr=1e-5, epochs=2, batch_size=4, mixed_precision="bf16")
    trained = train(model, _items(tok), cfg, pad_id=tok.pad_token_id, lr=1e-5, seed=0)
    assert len(trained.history) == 4
    assert all(p.dtype == torch.float32 for p in trained.model.parameters())
    assert _changed_fraction(start, trained.model) >= 0.99

    # what the old path did: AdamW on bf16 weights
    bf16 = copy.deepcopy(start).to(torch.bfloat16)
    opt = torch.optim.AdamW(bf16.parameters(), lr=1e-5)
    for _ in range(4):
        for p in bf16.parameters():
            p.grad = torch.randn_like(p) * 1e-2
        opt.step()
    assert _changed_fraction(start.to(torch.bfloat16), bf16) < 0.5


def test_training_refuses_low_precision_weights(tiny_model_dir):
    model, tok = models.load_policy(tiny_model_dir, "bfloat16", device="cpu")
    with pytest.raises(DnoError, match="float32 master weights"):
        train(model, _items(tok, 4), TrainConfig(batch_size=4), pad_id=tok.pad_token_id, lr=1e-5, seed=0)


GEMMA_LIKE = (
    "{% for m in messages %}<start_of_turn>{{ m['role'] }}\n{{ m['content'] }}<end_of_turn>\n{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


def test_finished_responses_end_with_the_templates_end_of_turn_token(tiny_model_dir):
    """A Gemma-style template ends turns with <end_of_turn>, not EOS: training appends that token, and the
    samplers stop on it."""
    tok = models.load_tokenizer(tiny_model_dir)
    tok.add_special_tokens({"additional_special_tokens": ["<start_of_turn>", "<end_of_turn>"]})
    tok.chat_template = GEMMA_LIKE
    eot = tok.convert_tokens_to_ids("<end_of_turn>")
    assert eot != tok.eos_token_id
    assert models.end_of_turn_id(tok) == eot
    msgs = [{"role": "user", "content": "hi"}]
    assert encode(tok, msgs, "hello there", True).ids[-1] == eot
    assert encode(tok, msgs, "hello there", False).ids[-1] != eot  # a truncated reply is not taught to end
    assert eot in models.stop_token_ids(tok, tok.eos_token_id)


def test_chatml_template_ends_with_its_eos(tiny_model_dir):
    tok = models.load_tokenizer(tiny_model_dir)  # SmolLM2's ChatML template: <|im_end|> is also EOS
    assert models.end_of_turn_id(tok) == tok.eos_token_id == tok.convert_tokens_to_ids("<|im_end|>")
