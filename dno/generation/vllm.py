"""Sampling with vLLM on GPU nodes, behind the same interface as `dno.sampling.HFSampler`.

- Same conditioning: prompts are rendered with the policy's chat template (`models.render_prompt`) and
  tokenized with its HF tokenizer exactly as the HF sampler does; vLLM gets the token ids
  (`TokensPrompt(prompt_token_ids=...)`), never text to re-tokenize.
- Same settings, one to one (`vllm_sampling_kwargs`): temperature, top-p (top-k off, as in the HF sampler),
  max_new_tokens → max_tokens, n, the same end-of-sequence ids, and temperature 0 = greedy.
- Same outputs: `list[list[Generation]]`, the text decoded from the generated ids up to the first
  end-of-sequence id with `skip_special_tokens=True` and stripped, `finished` = vLLM's finish_reason "stop".
- Seeds: one per prompt from (seed, index of the prompt in the iteration), so sharding never changes them
  (vLLM gives the k-th of n samples seed + k). vLLM's samples are not bit-identical to the HF sampler's.
- GPU memory: the engine holds most of the GPU until its process exits, so run `dno sample` in its own
  process (scripts/iteration.sh does) before `dno train`.

`vllm` is an optional extra (`pip install 'dno[vllm]'`, CUDA only) imported only when the sampler starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from dno.models import load_tokenizer, render_prompt
from dno.generation.hf import Generation, _decode

_MOD = 2**31 - 1


def prompt_seed(seed: int, index: int) -> int:
    """The seed of the prompt at `index` of the iteration's prompts (vLLM adds k for its k-th sample)."""
    return (seed * 1_000_003 + index * 104_729 + 17) % (_MOD - 10_000)


def vllm_sampling_kwargs(cfg, n: int, seed: int | None, *, stop_token_ids: Sequence[int] = ()) -> dict:
    """`SamplingParams(**kwargs)` for one prompt: `cfg` has temperature, top_p, max_new_tokens (a SampleConfig
    or anything alike). Temperature 0 is greedy decoding (then n must be 1), as in the HF sampler."""
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
    }
    return kw


def vllm_engine_kwargs(cfg, model_path: str | Path, dtype: str, seed: int = 0) -> dict:
    """`vllm.LLM(**kwargs)` from the sample config: tensor parallelism, memory share, context length."""
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
    return kw


def encode_prompts(tok, prompts: Sequence[dict]) -> list[list[int]]:
    """The token ids the HF sampler conditions on: the chat-template text, no extra special tokens."""
    return [tok(render_prompt(tok, p["messages"]), add_special_tokens=False)["input_ids"] for p in prompts]


def eos_ids(model_path: str | Path, tok) -> list[int]:
    """End-of-sequence ids as the HF sampler takes them: generation_config's plus the tokenizer's."""
    from transformers import GenerationConfig

    try:
        ids = GenerationConfig.from_pretrained(str(model_path)).eos_token_id
    except OSError:
        ids = None
    ids = list(ids) if isinstance(ids, (list, tuple)) else [ids] if ids is not None else []
    return sorted({i for i in ids + [tok.eos_token_id] if i is not None})


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
    """`generate()` as HFSampler's. The engine starts on construction and holds the GPU(s) until the process ends."""

    def __init__(self, model_path: str | Path, cfg, dtype: str = "bfloat16", seed: int = 0):
        try:
            from vllm import LLM
        except ImportError:
            from dno.errors import DnoError

            raise DnoError("sample.backend=vllm needs vLLM on a CUDA machine: pip install 'dno[vllm]'") from None
        self.cfg, self.path = cfg, str(model_path)
        self.tokenizer = load_tokenizer(model_path)
        self.eos = eos_ids(model_path, self.tokenizer)
        self.llm = LLM(**vllm_engine_kwargs(cfg, model_path, dtype, seed))

    def generate(self, prompts: Sequence[dict], n: int, *, temperature: float, top_p: float,
                 max_new_tokens: int, seed: int, progress=None, offset: int = 0) -> list[list[Generation]]:
        from types import SimpleNamespace

        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        settings = SimpleNamespace(temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens)
        ids = encode_prompts(self.tokenizer, prompts)
        params = [SamplingParams(**vllm_sampling_kwargs(settings, n, prompt_seed(seed, offset + i), stop_token_ids=self.eos))
                  for i in range(len(prompts))]
        outputs = self.llm.generate([TokensPrompt(prompt_token_ids=x) for x in ids], params, use_tqdm=False)
        if progress is not None:
            progress.update(len(prompts))
        return to_generations(self.tokenizer, outputs, self.eos)
