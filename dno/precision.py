"""Which precision a stage computes in when the config says `auto`: bf16 where the hardware computes it natively
(sampling and greedy answers; training only on GPUs), float32 elsewhere.

bf16 is only a win where the hardware has bf16 arithmetic: a CUDA GPU that supports it, or a CPU with AMX-BF16
(Intel Sapphire Rapids and later) or AVX512-BF16 (Cooper Lake, AMD Zen 4 and later). On this project's
AMX machine a bf16 matmul ran 6-8x as fast as fp32 (2,703 against 434 GFLOP/s at 2048²); on an AVX2-only
CPU bf16 is emulated and slower than fp32 (BENCHMARKS.md). So `auto` is bf16 where it is native and float32
elsewhere for sampling and greedy answers; training takes bf16 autocast on such GPUs only (see
`train_mixed_precision`). Training records the precision it ran in (train_summary.json); a run resumed on a
machine of another kind may compute its later stages in another precision.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import torch

CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


@functools.cache
def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU's feature flags (Linux /proc/cpuinfo); empty where there is no such file."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return frozenset()
    line = next((x for x in text.splitlines() if x.startswith(("flags", "Features"))), "")
    return frozenset(line.partition(":")[2].split())


def native_bf16(device: str) -> bool:
    """True when `device` (cpu, cuda, cuda:N, mps) computes bf16 in hardware. `DNO_NATIVE_BF16=0/1` overrides
    the detection (to measure one against the other on one machine; the tests pin 0, so that they compute
    alike on every machine kind)."""
    forced = os.environ.get("DNO_NATIVE_BF16")
    if forced in ("0", "1"):
        return forced == "1"
    if device.startswith("cuda"):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device == "cpu":
        return any(f in cpu_flags() for f in CPU_BF16_FLAGS)
    return False


def policy_dtype(spec: str, device: str) -> str:
    """`policy.dtype` resolved: `auto` is bfloat16 where bf16 is native on `device`, else float32."""
    if spec != "auto":
        return spec
    return "bfloat16" if native_bf16(device) else "float32"


def train_mixed_precision(spec: str, device: str) -> str | None:
    """`train.mixed_precision` resolved for the Accelerator: None (take `accelerate launch`'s setting) when
    auto runs under `accelerate launch`, else `bf16` on a GPU with native bf16 and `no` (float32) elsewhere.
    On a CPU, even one with AMX, training stays float32: bf16 autocast there ended the default run lower on
    512 fresh prompts with the same samples (65.7 against 68.8%, docs/methods.md) for 40 s less of training."""
    if spec != "auto":
        return spec
    if "ACCELERATE_MIXED_PRECISION" in os.environ:
        return None
    return "bf16" if device.startswith("cuda") and native_bf16(device) else "no"
