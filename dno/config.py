"""Typed, documented configuration.

Every setting lives in one dataclass below with its default and a one-line reason. A YAML file in
`configs/` is a small diff from these defaults; `key=value` arguments on the command line override it.
Unknown keys and wrong types are errors that name the key.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dno.errors import DnoError


@dataclass
class PolicyConfig:
    model: str = "smollm2-135m-instruct"
    """The starting policy π_0: a built-in name (`smollm2-135m-instruct`, `tiny-random`) or a Hugging Face model directory."""
    dtype: str = "float32"
    """Weights dtype for sampling and training: float32 (CPU), bfloat16 or float16 (GPU)."""


@dataclass
class DataConfig:
    source: str = "synthetic"
    """`synthetic` (built-in verifiable tasks), a `.jsonl` file of prompts, or a `datasets` dataset saved with `save_to_disk`."""
    tasks: dict[str, float] = field(default_factory=lambda: {"arithmetic": 0.5, "instructions": 0.5})
    """Synthetic task mix, as relative weights."""
    prompts_per_iteration: int = 96
    """Training prompts per iteration; every iteration gets a fresh, disjoint slice (DNO-Prct)."""
    val_prompts: int = 64
    """Held-out validation prompts (disjoint from train and test) on which the best iteration is chosen."""
    test_prompts: int = 128
    """Held-out test prompts on which win rate is reported."""
    seed: int = 1234
    """Fixes which prompts land in train, validation and test."""


@dataclass
class SampleConfig:
    backend: str = "hf"
    """`hf` (transformers generate, CPU or GPU) or `vllm` (GPU nodes)."""
    k: int = 6
    """Responses sampled per prompt from π_t (the paper uses 5)."""
    temperature: float = 0.7
    top_p: float = 0.95
    max_new_tokens: int = 32
    batch_size: int = 8
    """Prompts per generate call (each expands to k sequences)."""
    tensor_parallel_size: int = 1
    """vllm: GPUs one engine spreads the model over (`dno sample --shard` runs one engine per GPU group)."""
    gpu_memory_utilization: float = 0.85
    """vllm: share of each GPU's memory the engine may take (weights + KV cache)."""
    max_model_len: int = 0
    """vllm: context length the engine reserves KV cache for; 0 = the model's own."""
    enforce_eager: bool = False
    """vllm: skip CUDA-graph capture (faster start-up, slower decoding; useful for small runs and tests)."""


@dataclass
class TeacherConfig:
    model: str = ""
    """A stronger model whose response joins each prompt's candidates (DNO-Prct's "gold" answer): a built-in
    name or model directory, or `api:<model name>` for any OpenAI-compatible server. "" = no teacher."""
    base_url: str = ""
    """api teacher: the server, e.g. https://api.openai.com/v1."""
    api_key_env: str = "OPENAI_API_KEY"
    """api teacher: the environment variable holding the key (never written anywhere)."""
    temperature: float = 0.0
    max_new_tokens: int = 0
    """0 = sample.max_new_tokens."""


@dataclass
class JudgeConfig:
    type: str = "oracle"
    """`oracle` (the built-in tasks' verifier), `llm` (a local causal LM), `api` (any OpenAI-compatible server)
    or `callable` (your Python function). See docs/judges.md."""
    mode: str = "pointwise"
    """`pointwise`: all candidates in one request, each scored 0-6 on the DNO rubric. `pairwise`: P(a ≻ b) per
    pair; a candidate's score is 6 x its mean win probability against the others (DNO's r_t)."""
    model: str = ""
    """llm: a built-in name (default `smollm2-135m-instruct`) or a model directory; api: the served model name."""
    base_url: str = ""
    """api: the server, e.g. https://api.openai.com/v1 or http://127.0.0.1:8000/v1 (vLLM, llama.cpp)."""
    api_key_env: str = "OPENAI_API_KEY"
    """api: the environment variable holding the key (the key is never written anywhere); "" = no key."""
    function: str = ""
    """callable: `package.module:function` or `path/to/file.py:function`."""
    template: str = ""
    """Prompt template: a shipped name (`rubric`, `pairwise`) or a .txt path; "" = the mode's default."""
    temperature: float = 0.0
    max_tokens: int = 0
    """Reply budget per request; 0 = 384 for pointwise, 8 for pairwise (the verdict is one letter)."""
    seed: int = 0
    """Sent with every request, so a re-asked question gets the same answer where the backend honours it."""
    logprobs: bool = True
    """pairwise: ask for log-probabilities and use a soft P(A) at the verdict token."""
    position: str = "both"
    """pairwise: `both` judges each pair in both orders and averages (2 requests); `seeded` judges one order
    chosen by a hash of the content (1 request, position bias cancels on average, reruns reproduce)."""
    concurrency: int = 8
    """api: requests in flight at once."""
    timeout_s: float = 60.0
    """api: seconds before a request is abandoned and retried."""
    max_retries: int = 4
    """api: retries after a timeout, 429, 5xx or dropped connection (exponential backoff with jitter)."""
    backoff_s: float = 1.0
    """api: first retry delay; doubles each retry (x0.5-1.5 jitter; a Retry-After header is honoured)."""
    parse_retries: int = 1
    """Re-asks when an answer does not parse; then it is recorded as a failure (NaN), never a tie."""
    price_input_per_mtok: float = 0.0
    """api: USD per million prompt tokens, for the cost in judge_usage.json (0 = not priced)."""
    price_output_per_mtok: float = 0.0
    """api: USD per million completion tokens."""


@dataclass
class PairConfig:
    positive_min_score: float = 3.5
    """A chosen response must score at least this (DNO-Prct: 5 on its 6-point rubric). With the built-in
    oracle, 3.5 admits a right but wordy sum (4) and an answer meeting half its constraints (3.5)."""
    margin: float = 2.0
    """Score gap required below a teacher positive."""
    student_margin: float = 1.0
    """Relaxed gap when the positive is a student (policy) sample."""
    max_pairs_per_prompt: int = 2
    """Pairs kept per prompt: the best response against the worst qualifying ones first."""
    rule: str = "prct"
    """`prct`: DNO-Prct's thresholds and margins above. `all`: Algorithm 1, every two candidates with
    different win-rate estimates r_t, largest gaps first (thresholds unused)."""
    target: str = "hard"
    """`hard`: P(chosen ≻ rejected) = 1 (DPO). `soft`: σ(r_t(chosen) − r_t(rejected)) (DNO Algorithm 1)."""
    degenerate_repeats: int = 3
    """A sample repeating a word 3-gram this often, or looping characters, scores 0: an automatic
    negative (DNO-Prct). 0 turns the check off."""


@dataclass
class TrainConfig:
    loss: str = "dpo"
    """`dpo`/`dno`: binary cross-entropy of the DPO logit against the pairs' targets (hard labels = DPO,
    DNO-Prct; soft = DNO Algorithm 1). `sppo`: SPPO's square loss. `sft`: fine-tune on the chosen responses."""
    reference: str = "previous"
    """`previous`: the reference is π_t, the policy that sampled (DNO). `initial`: a fixed π_0 (iterative DPO)."""
    replay_fraction: float = 0.3
    """Share of the training pairs drawn from iteration t-1 (DNO-Prct: up to 30%)."""
    replay_decay: float = 0.5
    """Each earlier iteration contributes this times the previous one's share (30%, 15%, 7.5%, ...)."""
    beta: float = 0.1
    """η in the paper, β in DPO: the strength of the pull towards the reference π_t."""
    lr: float = 1e-5
    lr_decay: float = 0.7
    """Learning rate multiplier applied per iteration (the paper lowers the rate in later iterations)."""
    epochs: int = 2
    batch_size: int = 8
    """Pairs per optimizer step."""
    max_grad_norm: float = 1.0
    weight_decay: float = 0.0
    seed: int = 0
    gradient_accumulation_steps: int = 1
    """accelerate path: micro-batches per optimizer step; `batch_size` stays the pairs per step, so it must
    be a multiple of gradient_accumulation_steps x the number of processes."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass: less GPU memory, ~30% more compute (accelerate path)."""
    lora_r: int = 0
    """> 0: train LoRA adapters of this rank (peft, all linear layers) instead of all weights; they are
    merged into the weights before saving, so π_t loads in transformers and vLLM unchanged."""
    lora_alpha: float = 0.0
    """LoRA scaling numerator; 0 = 2 x lora_r."""
    lora_dropout: float = 0.0
    accelerate: bool = False
    """Train through `accelerate` (dno/distributed.py) even in a plain process; `accelerate launch`,
    gradient accumulation, gradient checkpointing and LoRA use it anyway."""
    report_to: str = "none"
    """Training curves (loss, reward margin, implicit-reward accuracy) to `tensorboard` (RUN/tensorboard/) or `wandb`."""


@dataclass
class EvalConfig:
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    """The judge that decides wins on held-out prompts (default: the oracle)."""
    max_new_tokens: int = 40
    """Greedy decoding budget for the held-out responses."""
    batch_size: int = 32
    bootstrap: int = 2000
    """Bootstrap resamples for the 95% interval of the win rate."""


@dataclass
class Config:
    iterations: int = 3
    """DNO iterations T."""
    seed: int = 0
    """Seeds sampling; each iteration and batch derives its own seed from it."""
    threads: int = 0
    """torch CPU threads; 0 = all cores."""
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    data: DataConfig = field(default_factory=DataConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    pair: PairConfig = field(default_factory=PairConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


# Value checks run after loading; each returns an error message or None.
_CHECKS: dict[str, tuple[typing.Callable[[Any], bool], str]] = {
    "iterations": (lambda v: v >= 1, "must be >= 1"),
    "sample.k": (lambda v: v >= 1, "must be >= 1"),
    "sample.temperature": (lambda v: v >= 0, "must be >= 0"),
    "sample.top_p": (lambda v: 0 < v <= 1, "must be in (0, 1]"),
    "sample.max_new_tokens": (lambda v: v >= 1, "must be >= 1"),
    "sample.batch_size": (lambda v: v >= 1, "must be >= 1"),
    "sample.backend": (lambda v: v in ("hf", "vllm"), "must be 'hf' or 'vllm'"),
    "sample.tensor_parallel_size": (lambda v: v >= 1, "must be >= 1"),
    "sample.gpu_memory_utilization": (lambda v: 0 < v <= 1, "must be in (0, 1]"),
    "sample.max_model_len": (lambda v: v >= 0, "must be >= 0 (0 = the model's own)"),
    "train.gradient_accumulation_steps": (lambda v: v >= 1, "must be >= 1"),
    "train.lora_r": (lambda v: v >= 0, "must be >= 0 (0 = train all weights)"),
    "train.lora_alpha": (lambda v: v >= 0, "must be >= 0 (0 = 2 x lora_r)"),
    "train.lora_dropout": (lambda v: 0 <= v < 1, "must be in [0, 1)"),
    "data.prompts_per_iteration": (lambda v: v >= 1, "must be >= 1"),
    "data.test_prompts": (lambda v: v >= 1, "must be >= 1"),
    "data.val_prompts": (lambda v: v >= 0, "must be >= 0"),
    "pair.margin": (lambda v: v > 0, "must be > 0 (equal scores never form a pair)"),
    "pair.student_margin": (lambda v: v > 0, "must be > 0 (equal scores never form a pair)"),
    "pair.max_pairs_per_prompt": (lambda v: v >= 1, "must be >= 1"),
    "train.beta": (lambda v: v > 0, "must be > 0"),
    "train.lr": (lambda v: v > 0, "must be > 0"),
    "train.lr_decay": (lambda v: 0 < v <= 1, "must be in (0, 1]"),
    "train.epochs": (lambda v: v >= 1, "must be >= 1"),
    "train.batch_size": (lambda v: v >= 1, "must be >= 1"),
    "train.loss": (lambda v: v in ("dpo", "dno", "sppo", "sft"), "must be dpo, dno, sppo or sft"),
    "train.reference": (lambda v: v in ("previous", "initial"), "must be 'previous' or 'initial'"),
    "train.replay_fraction": (lambda v: 0 <= v < 1, "must be in [0, 1)"),
    "train.replay_decay": (lambda v: 0 <= v <= 1, "must be in [0, 1]"),
    "pair.rule": (lambda v: v in ("prct", "all"), "must be 'prct' or 'all'"),
    "pair.target": (lambda v: v in ("hard", "soft"), "must be 'hard' or 'soft'"),
    "pair.degenerate_repeats": (lambda v: v == 0 or v >= 2, "must be 0 (off) or >= 2"),
    "train.report_to": (lambda v: v in ("none", "tensorboard", "wandb"), "must be none, tensorboard or wandb"),
    "eval.bootstrap": (lambda v: v >= 100, "must be >= 100"),
    "policy.dtype": (lambda v: v in ("float32", "bfloat16", "float16"), "must be float32, bfloat16 or float16"),
    "threads": (lambda v: v >= 0, "must be >= 0"),
}
for _j in ("judge", "eval.judge"):
    _CHECKS.update({
        f"{_j}.type": (lambda v: v in ("oracle", "llm", "api", "callable"), "must be oracle, llm, api or callable"),
        f"{_j}.mode": (lambda v: v in ("pointwise", "pairwise"), "must be pointwise or pairwise"),
        f"{_j}.position": (lambda v: v in ("both", "seeded"), "must be both or seeded"),
        f"{_j}.temperature": (lambda v: v >= 0, "must be >= 0"),
        f"{_j}.max_tokens": (lambda v: v >= 0, "must be >= 0"),
        f"{_j}.concurrency": (lambda v: v >= 1, "must be >= 1"),
        f"{_j}.timeout_s": (lambda v: v > 0, "must be > 0"),
        f"{_j}.max_retries": (lambda v: v >= 0, "must be >= 0"),
        f"{_j}.backoff_s": (lambda v: v >= 0, "must be >= 0"),
        f"{_j}.parse_retries": (lambda v: v >= 0, "must be >= 0"),
        f"{_j}.price_input_per_mtok": (lambda v: v >= 0, "must be >= 0"),
        f"{_j}.price_output_per_mtok": (lambda v: v >= 0, "must be >= 0"),
    })


def _check_judge(j: "JudgeConfig", prefix: str, source: str) -> None:
    """What a judge needs, checked at load so a typo fails before any judging is paid for."""
    if j.type in ("llm", "api"):
        from dno.judges import templates

        try:
            templates.load(j.template, j.mode, f"{prefix}.template")
        except DnoError as e:
            raise DnoError(f"{source}: {e}") from None
    if j.type == "api" and not (j.base_url and j.model):
        raise DnoError(f"{source}: `{prefix}.base_url` and `{prefix}.model` are required when {prefix}.type is api")
    if j.type == "callable" and ":" not in j.function:
        raise DnoError(f"{source}: `{prefix}.function` must be module:function when {prefix}.type is callable")


def _type_ok(value: Any, tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp in (str, bool):
        return isinstance(value, tp)
    if origin is dict:
        kt, vt = typing.get_args(tp)
        return isinstance(value, dict) and all(_type_ok(k, kt) and _type_ok(v, vt) for k, v in value.items())
    if origin is list:
        (it,) = typing.get_args(tp)
        return isinstance(value, list) and all(_type_ok(v, it) for v in value)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, a) for a in typing.get_args(tp))
    if tp is type(None):
        return value is None
    return True


def _build(cls: type, data: dict, prefix: str, source: str) -> Any:
    if not isinstance(data, dict):
        raise DnoError(f"{source}: `{prefix.rstrip('.') or 'config'}` must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in names:
            raise DnoError(f"{source}: unknown key `{prefix}{key}` (known: {', '.join(sorted(names))})")
    kwargs = {}
    for key, value in data.items():
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            kwargs[key] = _build(tp, value, f"{prefix}{key}.", source)
        else:
            if isinstance(value, int) and tp is float and not isinstance(value, bool):
                value = float(value)
            if not _type_ok(value, tp):
                tname = getattr(tp, "__name__", str(tp))
                raise DnoError(f"{source}: `{prefix}{key}` must be {tname}, got {value!r}")
            kwargs[key] = value
    return cls(**kwargs)


def to_dict(cfg: Any) -> dict:
    return dataclasses.asdict(cfg)


def flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and k not in ("tasks",):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def validate(cfg: Config, source: str) -> Config:
    flat = flatten(to_dict(cfg))
    for key, (ok, msg) in _CHECKS.items():
        if not ok(flat[key]):
            raise DnoError(f"{source}: `{key}` {msg}, got {flat[key]!r}")
    if not cfg.data.tasks or any(w < 0 for w in cfg.data.tasks.values()) or sum(cfg.data.tasks.values()) <= 0:
        raise DnoError(f"{source}: `data.tasks` needs at least one positive weight, got {cfg.data.tasks!r}")
    _check_judge(cfg.judge, "judge", source)
    _check_judge(cfg.eval.judge, "eval.judge", source)
    return cfg


def parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise DnoError(f"command line: override `{text}` must look like key=value (for example train.beta=0.05)")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError:
        value = raw
    return key.strip().split("."), value


def load_config(path: str | Path | None = None, overrides: typing.Sequence[str] = ()) -> Config:
    """Defaults <- YAML file <- `key=value` overrides, then type and range checks."""
    data: dict = {}
    source = "defaults"
    if path is not None:
        path = Path(path)
        source = str(path)
        if not path.is_file():
            raise DnoError(f"{path}: config file not found")
        try:
            loaded = yaml.safe_load(path.read_text())
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark is not None else ""
            raise DnoError(f"{path}:{where} malformed YAML: {getattr(e, 'problem', e)}") from None
        data = loaded or {}
        if not isinstance(data, dict):
            raise DnoError(f"{path}: the top level must be a mapping of settings")
    for text in overrides:
        keys, value = parse_override(text)
        node = data
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise DnoError(f"command line: `{text}`: `{k}` is not a section")
        node[keys[-1]] = value
    cfg = _build(Config, data, "", source if not overrides else f"{source} (+ command line)")
    return validate(cfg, source)


def diff(a: dict, b: dict) -> list[str]:
    """Keys whose values differ between two config dicts (flattened)."""
    fa, fb = flatten(a), flatten(b)
    return sorted(k for k in set(fa) | set(fb) if fa.get(k) != fb.get(k))


def dump(cfg: Config) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)
