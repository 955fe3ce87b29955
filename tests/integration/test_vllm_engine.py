"""dno's VLLMSampler against the real vLLM engine: vLLM's CPU build on a machine without CUDA
(`bash scripts/install.sh --vllm`), the CUDA build on a GPU node. Skipped where vLLM is not installed.

One engine per model, started once: a tiny random Llama (float32, the sample config's defaults) for most tests,
SmolLM2-135M-Instruct for the last; one more in a child process checks that a fresh engine repeats the samples.
The tiny model is dno's built-in one (its head of 32 is what vLLM's CPU attention needs: it takes head sizes
from 32 up). `dno run tiny sample.backend=vllm` runs the whole loop through the engine. What the sampler sends the engine (prompt ids, SamplingParams) and gets back
(token ids) is read by wrapping the engine's `generate` (`engine_call`). ~2.5 min on one CPU core.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("vllm")

from dno import models  # noqa: E402
from dno.config import DataConfig, SampleConfig  # noqa: E402
from dno.data import make_splits  # noqa: E402
from dno.generation.hf import HFSampler  # noqa: E402
from dno.generation.vllm import CPU_KV_CACHE_GIB, VLLMSampler, on_cpu  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SEED = 1234
SAMPLING = dict(temperature=0.7, top_p=0.95, max_new_tokens=12)
GREEDY = dict(temperature=0.0, top_p=1.0, max_new_tokens=8)


@pytest.fixture(scope="module")
def prompts():
    """32 of dno's chat prompts (the default config's first training slice)."""
    return make_splits(DataConfig(), 1)["train1"][:32]


@pytest.fixture(scope="module")
def tiny_model(tiny_model_dir):
    """The built-in tiny random Llama (2 layers, one head of 32, SmolLM2's tokenizer)."""
    return tiny_model_dir


@pytest.fixture(scope="module")
def engine(tiny_model):
    """VLLMSampler on the tiny model with the sample config's defaults (gpu_memory_utilization 0.85, no
    enforce_eager), in float32; shut down after the module."""
    sampler = VLLMSampler(tiny_model, SampleConfig(backend="vllm"), dtype="float32", seed=0)
    yield sampler
    sampler.llm.llm_engine.engine_core.shutdown()


def engine_call(sampler, prompts, n, **settings):
    """`sampler.generate(...)` and what passed through the engine's `generate`: (Generations, the prompts'
    token ids as the engine saw them, their SamplingParams, the K token-id tuples of each prompt)."""
    calls = []
    real = sampler.llm.generate

    def recording(inputs, params, **kw):
        outputs = real(inputs, params, **kw)
        calls.append((params, outputs))
        return outputs

    sampler.llm.generate = recording
    try:
        gens = sampler.generate(prompts, n, **settings)
    finally:
        del sampler.llm.generate
    ((params, outputs),) = calls
    samples = [[tuple(c.token_ids) for c in sorted(o.outputs, key=lambda c: c.index)] for o in outputs]
    return gens, [list(o.prompt_token_ids) for o in outputs], params, samples


def hf_call(model_dir, prompts, monkeypatch):
    """What the HF sampler conditions on and stops at: (unpadded prompt ids, the end-of-sequence ids its decoding
    loop stops at, the model, its tokenizer)."""
    from dno.generation import hf

    model, tok = models.load_policy(model_dir, "float32", "cpu")
    seen, real = {}, hf.decode

    def recording(model, inputs, **kw):
        seen.update(inputs, eos=kw["eos"])
        return real(model, inputs, **kw)

    monkeypatch.setattr(hf, "decode", recording)
    HFSampler(model, tok, batch_size=8).generate(prompts, 1, seed=SEED, **{**GREEDY, "max_new_tokens": 1})
    rows = zip(seen["input_ids"].tolist(), seen["attention_mask"].tolist())
    return [[t for t, m in zip(ids, mask) if m] for ids, mask in rows], seen["eos"], model, tok


def test_the_cpu_engine_gets_the_settings_it_needs(engine):
    if not on_cpu():
        pytest.skip("vLLM runs on a GPU here")
    config = engine.llm.llm_engine.vllm_config
    assert config.scheduler_config.enable_chunked_prefill is False, "a split prefill kills the seeded CPU engine"
    assert config.model_config.enforce_eager is True
    gib = int(os.environ.get("VLLM_CPU_KVCACHE_SPACE") or CPU_KV_CACHE_GIB)  # the variable overrides dno's budget
    assert config.cache_config.kv_cache_memory_bytes == gib * 2**30, "a fixed KV cache, not a share of the node"


def test_the_k_samples_of_a_prompt_are_distinct_token_sequences(engine, prompts):
    gens, _, params, samples = engine_call(engine, prompts[:8], 6, seed=SEED, **SAMPLING)
    assert [len(g) for g in gens] == [6] * 8
    assert all(len(set(s)) == 6 for s in samples), "each prompt's 6 samples must differ"
    assert len({p.seed for p in params}) == 8, "one seed per prompt"
    assert [g.tokens for g in gens[0]] == [len(s) - (s[-1] in engine.eos) for s in samples[0]]


def test_the_same_seed_gives_the_same_samples_and_another_seed_others(engine, prompts):
    gens, _, _, first = engine_call(engine, prompts[:8], 4, seed=SEED, **SAMPLING)
    again_gens, _, _, again = engine_call(engine, prompts[:8], 4, seed=SEED, **SAMPLING)
    _, _, _, other = engine_call(engine, prompts[:8], 4, seed=SEED + 1, **SAMPLING)
    assert again == first, "float32: the same seed must reproduce the samples token for token"
    assert [[g.text for g in gs] for gs in again_gens] == [[g.text for g in gs] for gs in gens]
    assert all(a != b for a, b in zip(first, other)), "another seed must give other samples"


def test_float32_samples_are_reproduced_by_a_fresh_engine_in_another_process(engine, prompts, tiny_model, tmp_path):
    _, _, _, here = engine_call(engine, prompts[:4], 3, seed=SEED, **SAMPLING)
    (tmp_path / "prompts.json").write_text(json.dumps(prompts[:4]))
    script = f"""
import json, sys
from dno.config import SampleConfig
from dno.generation.vllm import VLLMSampler
s = VLLMSampler({str(tiny_model)!r}, SampleConfig(backend="vllm"), dtype="float32", seed=0)
calls, real = [], s.llm.generate
def recording(inputs, params, **kw):
    calls.append(real(inputs, params, **kw))
    return calls[-1]
s.llm.generate = recording
s.generate(json.load(open({str(tmp_path / "prompts.json")!r})), 3, seed={SEED}, **{SAMPLING!r})
print("IDS=" + json.dumps([[list(c.token_ids) for c in sorted(o.outputs, key=lambda c: c.index)] for o in calls[0]]))
"""
    run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    line = next((x for x in run.stdout.splitlines() if x.startswith("IDS=")), None)
    assert line, run.stdout[-2000:] + run.stderr[-4000:]
    assert json.loads(line[4:]) == [[list(t) for t in s] for s in here]


def test_a_prompts_samples_do_not_depend_on_its_shard(engine, prompts):
    _, _, _, whole = engine_call(engine, prompts[:8], 4, seed=SEED, offset=0, **SAMPLING)
    _, _, _, shard = engine_call(engine, prompts[4:8], 4, seed=SEED, offset=4, **SAMPLING)
    _, _, _, misplaced = engine_call(engine, prompts[4:8], 4, seed=SEED, offset=0, **SAMPLING)
    assert shard == whole[4:], "prompt seeds depend on the prompt's index in the iteration, not on the shard"
    assert all(a != b for a, b in zip(misplaced, whole[4:])), "the offset must reach the seeds"


def test_the_engine_conditions_on_and_stops_at_the_hf_samplers_tokens(engine, prompts, tiny_model, monkeypatch):
    hf_prompt_ids, hf_eos, model, tok = hf_call(tiny_model, prompts[:8], monkeypatch)
    _, prompt_ids, params, _ = engine_call(engine, prompts[:8], 2, seed=SEED, **SAMPLING)
    assert prompt_ids == hf_prompt_ids
    expected = sorted(models.stop_token_ids(tok, model.generation_config.eos_token_id))
    assert sorted(hf_eos) == expected
    assert all(sorted(p.stop_token_ids) == expected for p in params)
    assert sorted(engine.eos) == expected


def test_greedy_decoding_gives_one_sample_and_ignores_the_seed(engine, prompts):
    gens, _, params, first = engine_call(engine, prompts[:8], 1, seed=SEED, **GREEDY)
    _, _, _, again = engine_call(engine, prompts[:8], 1, seed=SEED + 1, **GREEDY)
    assert [len(g) for g in gens] == [1] * 8
    assert again == first
    assert all(p.temperature == 0 and p.seed is None and p.n == 1 for p in params)
    with pytest.raises(ValueError, match="greedy"):
        engine.generate(prompts[:1], 2, seed=SEED, **GREEDY)


def test_32_prompts_x_6_samples_exceed_one_engine_step_and_do_not_crash(engine, prompts):
    gens, prompt_ids, _, samples = engine_call(engine, prompts, 6, seed=SEED, **{**SAMPLING, "max_new_tokens": 4})
    budget = engine.llm.llm_engine.vllm_config.scheduler_config.max_num_batched_tokens
    assert 6 * sum(map(len, prompt_ids)) > budget, "the prefills must not fit one engine step, or nothing is tested"
    assert [len(g) for g in gens] == [6] * 32 and all(len(set(s)) == 6 for s in samples)


def test_smollm2_samples_differ_stop_at_its_end_of_turn_and_greedy_is_hfs(prompts):
    path = models.resolve(models.SMOLLM2)
    sampler = VLLMSampler(path, SampleConfig(backend="vllm"), dtype="float32", seed=0)
    try:
        gens, _, _, samples = engine_call(sampler, prompts[:8], 6, seed=SEED, **{**SAMPLING, "max_new_tokens": 16})
        greedy = sampler.generate(prompts[:8], 1, seed=SEED, **GREEDY)
    finally:
        sampler.llm.llm_engine.engine_core.shutdown()
    assert [len(g) for g in gens] == [6] * 8
    pairs = [(g, s) for gs, ss in zip(gens, samples) for g, s in zip(gs, ss)]
    eos = set(sampler.eos)
    assert any(g.finished for g, _ in pairs), "some of SmolLM2's answers end within 16 tokens"
    for g, s in pairs:
        if g.finished:
            assert s[-1] in eos and g.tokens == len(s) - 1, "a finished sample ends at one of dno's stop ids"
        else:
            assert g.tokens == len(s) == 16 and not eos & set(s)
    # a real model's short answers may coincide; K copies of one sample would mean one seed for all K
    assert all(len(set(s)) >= 2 for s in samples), [len(set(s)) for s in samples]
    model, tok = models.load_policy(path, "float32", "cpu")
    hf_greedy = HFSampler(model, tok, batch_size=8).generate(prompts[:8], 1, seed=SEED, **GREEDY)
    assert [g[0].text for g in greedy] == [g[0].text for g in hf_greedy], "float32 greedy: the HF sampler's answers"


def test_dno_run_tiny_with_the_vllm_backend_runs_to_the_end(tmp_path):
    """The loop with every sampling stage in vLLM's CPU engine (each stage in its own child process)."""
    from tiny_runs import FAST

    run = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "dno.cli", "run", *FAST, "sample.backend=vllm", "--run-dir", str(run)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    samples = [json.loads(line) for line in (run / "iter_1" / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 12 and all(len(s["responses"]) == 4 for s in samples)
    assert (run / "iter_1" / "policy" / "model.safetensors").is_file()
    assert json.loads((run / "iter_1" / "eval" / "metrics.json").read_text())["n"] == 4
