"""The lean MLP keeps two activations less per token for the backward pass and changes no number."""

import contextlib
import gc
import weakref

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from dno.training.lean import lean_activations

LAYERS = 3


def _run(model, ids, lean: bool, bf16: bool, monkeypatch):
    """Loss, gradients, and how many of each MLP's silu(gate) and product the graph still held after the forward."""
    model.zero_grad(set_to_none=True)
    made = []  # weak references: what the graph keeps stays alive, the rest is freed at once
    silu = torch.nn.functional.silu

    def spy_silu(x, inplace=False):
        out = silu(x, inplace)
        made.append(weakref.ref(out))
        return out

    monkeypatch.setattr(torch.nn.functional, "silu", spy_silu)
    hooks = [
        layer.mlp.down_proj.register_forward_pre_hook(lambda m, args: made.append(weakref.ref(args[0])))
        for layer in model.model.layers
    ]
    with (
        lean_activations(model) if lean else contextlib.nullcontext(),
        torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16),
    ):
        loss = model(input_ids=ids, labels=ids).loss
    gc.collect()
    kept = sum(r() is not None for r in made)
    for h in hooks:
        h.remove()
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}, kept


@pytest.mark.parametrize("bf16", [False, True], ids=["float32", "bf16-autocast"])
def test_lean_mlp_gives_the_same_loss_and_gradients_bit_for_bit_and_keeps_less(bf16, monkeypatch):
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=300, hidden_size=64, intermediate_size=160, num_hidden_layers=LAYERS, num_attention_heads=4,
        num_key_value_heads=2,
    )  # fmt: skip
    model = LlamaForCausalLM(cfg)
    ids = torch.randint(0, 300, (3, 20))
    loss, grads, kept = _run(model, ids, lean=False, bf16=bf16, monkeypatch=monkeypatch)
    lean_loss, lean_grads, lean_kept = _run(model, ids, lean=True, bf16=bf16, monkeypatch=monkeypatch)
    assert torch.equal(loss, lean_loss)
    assert all(torch.equal(grads[n], lean_grads[n]) for n in grads)
    # stock autograd keeps silu(gate) and the product of every layer; the lean MLP recomputes both
    assert (kept, lean_kept) == (2 * LAYERS, 0)
    assert all("forward" not in vars(layer.mlp) for layer in model.model.layers), "restored after the block"
