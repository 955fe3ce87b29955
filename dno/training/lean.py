"""Leaner activations for training: the gated MLP's `silu(gate) * up` without keeping `silu(gate)`.

Autograd keeps three tensors of the MLP's width per token for `act(gate) * up` (gate for the SiLU, silu(gate) and
up for the product); the gradient needs only gate and up, since silu(gate) is cheap to recompute. Each layer
then keeps one tensor of the intermediate width less per token (1,536 floats per token and layer for
SmolLM2-135M: 162 MB of the default batch's activations), as Liger-Kernel's fused SwiGLU does on GPUs. Forward
and gradients are bit for bit the stock ones: the same kernels (`silu`, `silu_backward`, products) on the
same values.
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
    return self.down_proj(SiluMul.apply(self.gate_proj(x), self.up_proj(x)))


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
    """Within the block, the model's gated SiLU MLPs keep one tensor less for the backward pass; restored after."""
    mlps = _gated_silu_mlps(model)
    for m in mlps:
        m.forward = types.MethodType(_lean_forward, m)
    try:
        yield len(mlps)
    finally:
        for m in mlps:
            del m.forward
