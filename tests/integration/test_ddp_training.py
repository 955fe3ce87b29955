"""The one training loop in 2 processes: a real DDP run (torchrun + gloo on CPU, as `accelerate launch` starts
it on GPUs) trains the same weights as one process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from tiny_runs import prepared_with_samples

from dno import io
from dno.cli import main

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_process_ddp_training_gives_the_one_process_weights(sampled_run, tmp_path, tiny_model_dir):
    """With gradient accumulation in the DDP run: each step's 4 pairs are cut into 2 processes x 2 micro-batches."""
    one, ddp = tmp_path / "one", tmp_path / "ddp"
    prepared_with_samples(sampled_run, one)
    prepared_with_samples(sampled_run, ddp, "train.gradient_accumulation_steps=2")
    for root in (one, ddp):
        assert main(["pair", str(root), "--iter", "1"]) == 0
    assert main(["train", str(one), "--iter", "1"]) == 0
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "ACCELERATE_MIXED_PRECISION": "no", "OMP_NUM_THREADS": "1"}
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_addr",
            "127.0.0.1",
            "--master_port",
            str(free_port()),
            "-m",
            "dno.cli",
            "train",
            str(ddp),
            "--iter",
            "1",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "1 process)" in io.read_json(one / "iter_1" / "train_summary.json")["backend"]
    assert "2 processes" in io.read_json(ddp / "iter_1" / "train_summary.json")["backend"]
    a, b = (io.read_jsonl(root / "iter_1" / "train_log.jsonl") for root in (one, ddp))
    assert len(a) == len(b) >= 2
    assert [x["loss"] for x in a] == pytest.approx([x["loss"] for x in b], abs=1e-5)
    wa, wb = (load_file(str(root / "iter_1" / "policy" / "model.safetensors")) for root in (one, ddp))
    assert wa.keys() == wb.keys() and all(torch.allclose(wa[k], wb[k], atol=1e-5) for k in wa)
    start = load_file(str(tiny_model_dir / "model.safetensors"))
    assert any(not torch.equal(start[k], wa[k]) for k in wa), "both trained: the same weights, not the start's"
