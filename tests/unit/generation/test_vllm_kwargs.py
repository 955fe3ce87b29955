"""vLLM sampler settings: pure functions mapping the sample config to vLLM's arguments, and vLLM's outputs to
the HF sampler's `Generation`s (no vLLM needed; the sampler itself runs in tests/gpu/)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from dno import models
from dno.config import SampleConfig
from dno.errors import DnoError
from dno.generation.vllm import encode_prompts, prompt_seed, to_generations, vllm_engine_kwargs, vllm_sampling_kwargs


def test_vllm_sampling_kwargs_map_the_sample_settings_one_to_one():
    cfg = SampleConfig(temperature=0.7, top_p=0.95, max_new_tokens=32)
    kw = vllm_sampling_kwargs(cfg, 6, 1234, stop_token_ids=[2, 0, 2])
    assert kw["n"] == 6 and kw["temperature"] == 0.7 and kw["top_p"] == 0.95
    assert kw["max_tokens"] == 32 and kw["seed"] == 1234
    assert kw["top_k"] == -1, "top-k off, as in the HF sampler (top_k=0)"
    assert kw["stop_token_ids"] == [0, 2]
    assert kw["skip_special_tokens"] is True


def test_vllm_sampling_kwargs_temperature_zero_is_greedy():
    cfg = SampleConfig(temperature=0.0, top_p=0.9, max_new_tokens=8)
    kw = vllm_sampling_kwargs(cfg, 1, 99)
    assert kw["temperature"] == 0.0 and kw["top_p"] == 1.0 and kw["seed"] is None and kw["n"] == 1
    with pytest.raises(ValueError, match="greedy"):
        vllm_sampling_kwargs(cfg, 4, 99)


def test_vllm_engine_kwargs_take_parallelism_and_memory_from_the_config():
    cfg = SampleConfig(
        backend="vllm", tensor_parallel_size=4, gpu_memory_utilization=0.6, max_model_len=2048, enforce_eager=True
    )
    kw = vllm_engine_kwargs(cfg, Path("/models/x"), "bfloat16", seed=3)
    assert kw["model"] == kw["tokenizer"] == "/models/x"
    assert (kw["tensor_parallel_size"], kw["gpu_memory_utilization"], kw["max_model_len"]) == (4, 0.6, 2048)
    assert kw["dtype"] == "bfloat16" and kw["enforce_eager"] is True and kw["seed"] == 3
    assert "max_model_len" not in vllm_engine_kwargs(SampleConfig(), "/m", "float32")


def test_prompt_seeds_depend_on_the_prompt_not_on_the_shard():
    seeds = [prompt_seed(7, i) for i in range(100)]
    assert len(set(seeds)) == 100 and all(0 <= s < 2**31 - 1 for s in seeds)
    assert prompt_seed(8, 0) != prompt_seed(7, 0)


def test_vllm_prompts_are_the_hf_samplers_tokens(tiny_model_dir):
    tok = models.load_tokenizer(tiny_model_dir)
    prompts = [
        {"messages": [{"role": "user", "content": "Say hi."}]},
        {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}]},
    ]
    ids = encode_prompts(tok, prompts)
    tok.padding_side = "left"
    enc = tok([models.render_prompt(tok, p["messages"]) for p in prompts], padding=True, add_special_tokens=False)
    for mine, (row, mask) in zip(ids, zip(enc["input_ids"], enc["attention_mask"])):
        assert mine == [t for t, m in zip(row, mask) if m], "vLLM must condition on the HF sampler's tokens"


def test_vllm_outputs_become_generations_like_the_hf_samplers(tiny_model_dir):
    tok = models.load_tokenizer(tiny_model_dir)
    eos = tok.eos_token_id
    hello = tok("hello world", add_special_tokens=False)["input_ids"]
    outs = [
        SimpleNamespace(
            outputs=[
                SimpleNamespace(index=1, token_ids=hello, finish_reason="length"),
                SimpleNamespace(index=0, token_ids=hello + [eos], finish_reason="stop"),
            ]
        )
    ]
    (gens,) = to_generations(tok, outs, [eos])
    assert [g.text for g in gens] == ["hello world", "hello world"]
    assert [g.finished for g in gens] == [True, False], "ordered by sample index; finished = finish_reason stop"
    assert gens[0].tokens == len(hello)


def test_vllm_backend_without_vllm_is_a_clear_error(tiny_model_dir):
    try:
        import vllm  # noqa: F401

        pytest.skip("vLLM is installed")
    except ImportError:
        pass
    from dno.generation.vllm import VLLMSampler

    with pytest.raises(DnoError, match="vllm"):
        VLLMSampler(tiny_model_dir, SampleConfig(backend="vllm"))
