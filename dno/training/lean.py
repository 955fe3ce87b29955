"""Leaner activations for training: the gated MLP keeps gate and up for the backward pass, and nothing else of its width.

For `down_proj(silu(gate) * up)` autograd keeps four tensors of the MLP's width per token: gate (for the SiLU),
silu(gate) and up (for the product), and the product (down_proj's input, for its weight gradient). silu(gate) and
the product are cheap elementwise functions of gate and up, so the lean MLP keeps only those two and recomputes the
other two in the backward pass, as Liger-Kernel's fused SwiGLU does on GPUs: two tensors of the intermediate width
less per token and layer (1,536 floats each for SmolLM2-135M). Forward and gradients are bit for bit the stock
ones: the same kernels on the same values. Not for gradient checkpointing, which keeps none of them anyway (and
whose recomputation check refuses the saved-tensor hooks).
"""

from __future__ import annotations

import contextlib
import types

import torch
import torch.nn.functional as F


class SiluMul(torch.autograd.Function):
    """silu(gate) * up, keeping only gate and up for the backward pass."""

    @staticmethod
    def forward(ctx, gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(gate, up)
        return F.silu(gate) * up

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        gate, up = ctx.saved_tensors
        return torch.ops.aten.silu_backward(grad * up, gate), grad * F.silu(gate)


def _lean_forward(self, x):
    gate, up = self.gate_proj(x), self.up_proj(x)
    product = SiluMul.apply(gate, up)
    if not product.requires_grad:
        return self.down_proj(product)

    # down_proj keeps (a view of) its input for the weight gradient: keep how to recompute it instead (the hooks
    # live as long as the graph, so they must not hold the product itself)
    ptr, dtype = product.data_ptr(), product.dtype

    def pack(t: torch.Tensor):
        if t.data_ptr() == ptr and t.dtype == dtype:
            return gate, up, t.size(), t.stride()
        return t

    def unpack(packed):
        if isinstance(packed, torch.Tensor):
            return packed
        g, u, size, stride = packed
        with torch.no_grad():
            return (F.silu(g) * u).as_strided(size, stride)

    with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
        return self.down_proj(product)


# torch's SiLU module, and transformers' (`nn.functional.silu` too, unless a hub kernel replaces its forward)
_SILU = {"SiLU", "SiLUActivation"}


def _gated_silu_mlps(model) -> list[torch.nn.Module]:
    """The modules computing `down_proj(act_fn(gate_proj(x)) * up_proj(x))` with a SiLU (Llama, Mistral, Qwen)."""
    return [
        m
        for m in model.modules()
        if type(m).__name__.endswith("MLP")
        and all(hasattr(m, n) for n in ("gate_proj", "up_proj", "down_proj"))
        and type(getattr(m, "act_fn", None)).__name__ in _SILU
    ]


@contextlib.contextmanager
def lean_activations(model):
    """Within the block, the model's gated SiLU MLPs keep two tensors less for the backward pass; restored after."""
    mlps = _gated_silu_mlps(model)
    for m in mlps:
        m.forward = types.MethodType(_lean_forward, m)
    try:
        yield len(mlps)
    finally:
        for m in mlps:
            del m.forward
