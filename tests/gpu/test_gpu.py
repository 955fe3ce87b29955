"""GPU nodes (run with `pytest -m gpu tests/gpu`): the vLLM sampler, sharded vLLM sampling, bf16 training and
multi-GPU training stages. Skipped without CUDA (and vLLM / 2 GPUs / DeepSpeed where they need them)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tiny_runs import FAST, prepared_with_samples

from dno import io, models
from dno.cli import main
from dno.config import SampleConfig
from dno.training.logprobs import encode
from dno.training.loop import PairBatchItem, fit

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def test_gpu_vllm_sampler_matches_the_hf_samplers_interface(tiny_model_dir):
    pytest.importorskip("vllm")
    from dno.generation.hf import HFSampler
    from dno.generation.vllm import VLLMSampler

    prompts = [{"messages": [{"role": "user", "content": f"Count to {i}."}]} for i in range(5)]
    cfg = SampleConfig(backend="vllm", gpu_memory_utilization=0.3, enforce_eager=True, max_model_len=512)
    v = VLLMSampler(tiny_model_dir, cfg, "bfloat16").generate(
        prompts, 3, temperature=0.7, top_p=0.95, max_new_tokens=8, seed=1
    )
    model, tok = models.load_policy(tiny_model_dir, "bfloat16", device="cuda")
    h = HFSampler(model, tok, 4).generate(prompts, 3, temperature=0.7, top_p=0.95, max_new_tokens=8, seed=1)
    assert len(v) == len(h) == 5 and all(len(g) == 3 for g in v)
    assert all(isinstance(g.text, str) and g.tokens <= 8 for gs in v for g in gs)
    assert all(g.tokens < 8 for gs in v for g in gs if g.finished), "finished = ended before the budget"


def test_gpu_decoding_loop_gives_generates_tokens_on_cuda(tiny_model_dir):
    """dno's decoding loop on a GPU (its uniforms come from the CPU generator, its row indices move to the cache's
    device): the tokens of `generate` taking the same draw, greedy and sampled, with rows dropped as they end."""
    from same_draw import SameDraw

    from dno.generation.decode import decode
    from dno.generation.hf import shared_prompt_inputs

    model, tok = models.load_policy(tiny_model_dir, "float32", device="cuda")
    tok.padding_side = "left"
    texts = [models.render_prompt(tok, [{"role": "user", "content": f"Count to {i}."}]) for i in (1, 22, 333)]
    enc = tok(texts, return_tensors="pt", padding=True).to("cuda")
    eos = set(range(3, len(tok), 4))  # a random model seldom ends: a quarter of the vocabulary ends a row here
    for n, temperature in [(1, 0.0), (3, 0.8)]:
        torch.manual_seed(7)
        mine = decode(
            model,
            shared_prompt_inputs(model, enc, n, tok.pad_token_id),
            max_new_tokens=16,
            eos=eos,
            temperature=temperature,
            top_p=0.9,
        )
        torch.manual_seed(7)
        gen = model.generate(
            **{k: v.repeat_interleave(n, 0) for k, v in enc.items()},
            max_new_tokens=16,
            do_sample=False,
            logits_processor=[SameDraw(temperature, 0.9)],
            pad_token_id=tok.pad_token_id,
            eos_token_id=sorted(eos),
        )
        cut = lambda r: r[: next((i + 1 for i, t in enumerate(r) if t in eos), len(r))]  # noqa: E731
        assert [cut(r) for r in mine] == [cut(r) for r in gen[:, enc["input_ids"].shape[1] :].tolist()]


def test_gpu_sharded_vllm_sampling_merges_to_the_unsharded_bytes(tmp_path):
    pytest.importorskip("vllm")
    flags = [
        "sample.backend=vllm",
        "sample.gpu_memory_utilization=0.3",
        "sample.enforce_eager=true",
        "sample.max_model_len=512",
        "policy.dtype=bfloat16",
    ]
    a, b = tmp_path / "a", tmp_path / "b"
    env = dict(os.environ)
    for root in (a, b):
        assert main(["prepare", *FAST, *flags, "--run-dir", str(root)]) == 0
    # a process per engine, as on a node: the engine's memory is freed when its process exits
    dno = [sys.executable, "-m", "dno.cli"]
    subprocess.run([*dno, "sample", str(a), "--iter", "1"], check=True, env=env, cwd=ROOT)
    for i in range(2):
        subprocess.run([*dno, "sample", str(b), "--iter", "1", "--shard", f"{i}/2"], check=True, env=env, cwd=ROOT)
    assert (a / "iter_1" / "samples.jsonl").read_bytes() == (b / "iter_1" / "samples.jsonl").read_bytes()


def test_gpu_bf16_training_lowers_the_loss(tiny_model_dir):
    from accelerate import Accelerator

    model, tok = models.load_policy(tiny_model_dir, "float32", device="cpu")
    msgs = lambda i: [{"role": "user", "content": f"Count to {i}."}]  # noqa: E731
    items = [
        PairBatchItem(
            encode(tok, msgs(i), "one two three " * (i % 3 + 1), True),
            encode(tok, msgs(i), "no" * (i % 4 + 1), i % 2 == 0),
        )
        for i in range(10)
    ]
    acc = Accelerator(mixed_precision="bf16")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model, opt = acc.prepare(model, opt)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    history = fit(
        acc, model, opt, items, pad_id=tok.pad_token_id, beta=0.1, epochs=3, batch_size=4, max_grad_norm=1.0, seed=3
    )
    assert history[-1]["loss"] < history[0]["loss"]


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 GPUs")
@pytest.mark.parametrize("config", ["ddp", "zero3", "fsdp"])
def test_gpu_multi_gpu_train_stage(sampled_run, tmp_path, config):
    if config == "zero3":
        pytest.importorskip("deepspeed")
    run = prepared_with_samples(sampled_run, tmp_path / config, "policy.dtype=float32")
    assert main(["pair", str(run), "--iter", "1"]) == 0
    subprocess.run(
        [
            "accelerate",
            "launch",
            "--config_file",
            str(ROOT / "configs" / "accelerate" / f"{config}.yaml"),
            "--num_processes",
            "2",
            "-m",
            "dno.cli",
            "train",
            str(run),
            "--iter",
            "1",
        ],
        check=True,
        cwd=ROOT,
    )
    assert "2 processes" in io.read_json(run / "iter_1" / "train_summary.json")["backend"]
    assert models.load_policy(run / "iter_1" / "policy", device="cpu")[0] is not None
