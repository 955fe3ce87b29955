"""`auto` precision: sampling in bf16 where the hardware computes it natively, training in bf16 on such GPUs
(float32 on CPUs), float32 elsewhere, and what a run records."""

import pytest

from dno import io, precision
from dno.cli import main


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f amx_bf16 amx_tile\nbugs\t\t: spectre\n")
    assert {"avx2", "amx_bf16"} <= precision.cpu_flags(str(info))
    assert precision.cpu_flags(str(tmp_path / "missing")) == frozenset()


@pytest.mark.parametrize(
    "flags,native",
    [({"avx2", "fma"}, False), ({"avx512f", "avx512bw"}, False), ({"avx512_bf16"}, True), ({"amx_bf16"}, True)],
)
def test_a_cpu_is_native_bf16_only_with_amx_or_avx512_bf16(monkeypatch, flags, native):
    monkeypatch.delenv("DNO_NATIVE_BF16")
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset(flags))
    assert precision.native_bf16("cpu") is native
    assert precision.policy_dtype("auto", "cpu") == ("bfloat16" if native else "float32")
    assert precision.train_mixed_precision("auto", "cpu") == "no"  # CPUs train in float32 (measured)


@pytest.mark.parametrize("bf16", [True, False])
def test_a_gpu_with_bf16_samples_and_trains_in_bf16(monkeypatch, bf16):
    import torch

    monkeypatch.delenv("DNO_NATIVE_BF16")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    assert precision.policy_dtype("auto", "cuda:1") == ("bfloat16" if bf16 else "float32")
    assert precision.train_mixed_precision("auto", "cuda") == ("bf16" if bf16 else "no")


def test_explicit_settings_and_accelerate_launch_win_over_detection(monkeypatch):
    monkeypatch.setenv("DNO_NATIVE_BF16", "1")
    assert precision.policy_dtype("float32", "cpu") == "float32"
    assert precision.train_mixed_precision("no", "cpu") == "no"
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "fp16")
    assert precision.train_mixed_precision("auto", "cpu") is None  # accelerate launch's own setting


def test_a_run_on_a_native_bf16_cpu_samples_in_bf16_and_trains_in_float32(tmp_path, monkeypatch, tiny_model_dir):
    monkeypatch.setenv("DNO_NATIVE_BF16", "1")
    loaded = []
    from dno import models

    real = models.load_policy

    def spy(path, dtype="float32", *a, **k):
        model, tok = real(path, dtype, *a, **k)
        loaded.append(str(next(model.parameters()).dtype))
        return model, tok

    monkeypatch.setattr(models, "load_policy", spy)
    assert main(["run", "tiny", "iterations=1", "--run-dir", str(tmp_path)]) == 0
    summary = io.read_json(tmp_path / "iter_1" / "train_summary.json")
    assert summary["mixed_precision"] == "no"
    assert "torch.bfloat16" in loaded  # sampling and greedy answers
    assert "torch.float32" in loaded  # training's master weights
    assert main(["run", "tiny", "iterations=1", "train.mixed_precision=bf16", "--run-dir", str(tmp_path / "b")]) == 0
    assert io.read_json(tmp_path / "b" / "iter_1" / "train_summary.json")["mixed_precision"] == "bf16"
