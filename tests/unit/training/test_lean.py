"""The lean MLP keeps one activation less per token for the backward pass and changes no number."""

import contextlib

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from dno.training.lean import lean_activations

LAYERS, TOKENS, WIDTH = 3, 3 * 20, 160


def _loss_grads_saved(model, ids, lean: bool, bf16: bool):
    model.zero_grad(set_to_none=True)
    saved = [0]

    def pack(t):
        saved[0] += t.numel() * t.element_size()
        return t

    with (
        lean_activations(model) if lean else contextlib.nullcontext(),
        torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t),
        torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16),
    ):
        loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}, saved[0]


@pytest.mark.parametrize("bf16", [False, True], ids=["float32", "bf16-autocast"])
def test_lean_mlp_gives_the_same_loss_and_gradients_bit_for_bit_and_keeps_less(bf16):
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=300, hidden_size=64, intermediate_size=WIDTH, num_hidden_layers=LAYERS, num_attention_heads=4,
        num_key_value_heads=2,
    )  # fmt: skip
    model = LlamaForCausalLM(cfg)
    ids = torch.randint(0, 300, (3, 20))
    loss, grads, saved = _loss_grads_saved(model, ids, lean=False, bf16=bf16)
    lean_loss, lean_grads, lean_saved = _loss_grads_saved(model, ids, lean=True, bf16=bf16)
    assert torch.equal(loss, lean_loss)
    assert all(torch.equal(grads[n], lean_grads[n]) for n in grads)
    # silu(gate) is no longer kept: one tensor of the MLP's width per token and layer
    assert saved - lean_saved == LAYERS * TOKENS * WIDTH * (2 if bf16 else 4)
    assert all("forward" not in vars(layer.mlp) for layer in model.model.layers), "restored after the block"
