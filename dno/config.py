"""Typed, documented configuration.

Every setting lives in one dataclass below with its default, a one-line reason, and its own check (`setting(default,
check)`): ranges, choices (`Literal`) and registry names sit next to the field they guard. `launch=True` marks how a
run executes, not what it computes (threads, engine and network knobs): it may differ between invocations of one run
directory. A YAML file in `configs/` is a small diff from these defaults, and `key=value` arguments override it
(`apply_overrides`). Unknown keys, wrong types and out-of-range values are one-line errors that name the key.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from dno.config_fields import (
    above,
    at_least,
    build,
    device_name,
    fields_where,
    fill_before_added,
    preference_data,
    registered,
    section,
    setting,
    task_weights,
    url_without_credentials,
    within,
)
from dno.errors import DnoError


@dataclass
class PolicyConfig:
    model: str = "smollm2-135m-instruct"
    """The starting policy π_0: a built-in name (`smollm2-135m-instruct`, `tiny-random`) or a Hugging Face model directory."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """π_t's dtype for sampling and greedy answers (and vLLM): `auto` = bfloat16 where the hardware computes it
    natively (GPUs, CPUs with AMX or AVX512-BF16), else float32 (dno/precision.py); training: train.mixed_precision."""
    chat_template: str = ""
    """For a model whose tokenizer has no chat template (a base model): a Jinja template, as a file path or
    the shipped name `chatml`; "" = the tokenizer's own (a model without one is refused before the run)."""


@dataclass
class DataConfig:
    source: str = "synthetic"
    """`synthetic` (built-in verifiable tasks); a `.jsonl`, `.json`, `.parquet` or `.csv` file or a folder of
    them; a `datasets` dataset saved with `save_to_disk`; or a Hugging Face Hub dataset name (docs/data.md)."""
    split: str = ""
    """Hub datasets, data folders and saved DatasetDicts: the split to read; "" = `train`, else the first."""
    subset: str = ""
    """Hub datasets: the configuration (subset) name; "" = the default one."""
    prompt_column: str = ""
    """The prompt's column: a string or a chat-messages list (trailing assistant turns cut off); "" = `messages`,
    else `prompt`, rows kept whole. Naming it keeps only `id`, `task`, the oracle's fields and the gold answer."""
    gold_column: str = ""
    """A reference answer per prompt: a string, or a messages list whose last assistant turn is the answer
    (UltraFeedback's `chosen`); with `teacher.source: data` it joins the candidates. "" = a `gold` field if any."""
    id_column: str = ""
    """The column holding a prompt's unique id; "" = `id` if present, else ids are given by position."""
    tasks: dict[str, float] = setting({"arithmetic": 0.5, "instructions": 0.5}, task_weights)
    """Synthetic task mix, as relative weights."""
    prompts_per_iteration: int = setting(96, at_least(1))
    """Training prompts per iteration; every iteration gets a fresh, disjoint slice (DNO-Prct)."""
    val_prompts: int = setting(64, at_least(0))
    """Held-out validation prompts (disjoint from train and test) on which the best iteration is chosen."""
    test_prompts: int = setting(128, at_least(1))
    """Held-out test prompts on which win rate is reported."""
    ood_prompts: int = setting(128, at_least(0))
    """Out-of-distribution test prompts (synthetic tasks only): the same skills in templates and words training
    never uses (`generate_ood`), evaluated beside the test prompts, so that a gain in phrasing alone shows. 0 = none."""
    seed: int = 1234
    """Fixes which prompts land in train, validation and test."""


@dataclass
class SampleConfig:
    backend: Literal["hf", "vllm"] = "hf"
    """`hf` (transformers generate, CPU or GPU) or `vllm` (GPU nodes; also vLLM's CPU build: docs/gpu.md)."""
    k: int = setting(6, at_least(1))
    """Responses sampled per prompt from π_t (the paper uses 5)."""
    temperature: float = setting(0.7, at_least(0))
    top_p: float = setting(0.95, within(0, 1, open_lo=True))
    max_new_tokens: int = setting(32, at_least(1))
    batch_size: int = setting(48, at_least(1), before=8)
    """hf: prompts decoded together, k rows each (1.3x 16's speed on 2 CPU cores; their KV cache must fit)."""
    tensor_parallel_size: int = setting(1, at_least(1), launch=True)
    """vllm: GPUs one engine spreads the model over (`dno sample --shard` runs one engine per GPU group)."""
    gpu_memory_utilization: float = setting(0.85, within(0, 1, open_lo=True), launch=True)
    """vllm: share of each GPU's memory the engine may take (weights + KV cache)."""
    max_model_len: int = setting(0, at_least(0), launch=True)
    """vllm: context length the engine reserves KV cache for; 0 = the model's own."""
    enforce_eager: bool = setting(False, launch=True)
    """vllm: skip CUDA-graph capture (faster start-up, slower decoding; useful for small runs and tests)."""


@dataclass
class TeacherConfig:
    source: Literal["auto", "model", "data", "repair"] = setting("auto", before="model")
    """`repair`: one of π's samples edited by its task's verifier to a top score (Task.repair). `model`: teacher.model
    answers ("" = none). `data`: the data's gold answer, else the task's. `auto`: `model` if teacher.model is set,
    else `repair` (the default since 2026-12-07)."""
    model: str = ""
    """A stronger model whose response joins each prompt's candidates (DNO-Prct's "gold" answer): a built-in
    name or model directory, or `api:<model name>` for any OpenAI-compatible server. "" = no teacher."""
    base_url: str = setting("", url_without_credentials)
    """api teacher: the server, e.g. https://api.openai.com/v1."""
    api_key_env: str = "OPENAI_API_KEY"
    """api teacher: the environment variable holding the key (never written anywhere)."""
    temperature: float = setting(0.0, at_least(0))
    max_new_tokens: int = setting(0, at_least(0))  # 0 = sample.max_new_tokens

    @property
    def kind(self) -> str:  # `source`, with `auto` resolved
        return ("model" if self.model else "repair") if self.source == "auto" else self.source


@dataclass
class NoiseConfig:
    """A judge made wrong on purpose, reproducibly (weak-supervision studies); all 0 = the judge as it is.
    Each pair of distinct candidates gets one draw, in this order (dno/judges/noisy.py, docs/judges.md)."""

    position_bias: float = setting(0.0, within(0, 1))
    """Probability that the first-shown candidate of a pair wins, whatever the clean verdict."""
    length_bias: float = setting(0.0, within(0, 1))
    """Else, probability that the longer candidate (characters) wins."""
    flip: float = setting(0.0, within(0, 1))
    """Else, probability that the clean verdict is reversed."""
    score_sd: float = setting(0.0, at_least(0))
    """Standard deviation of Gaussian noise added to every score (score points; not clipped)."""
    seed: int = 0
    """With the prompt id and the texts, decides every draw: reruns, resumes and shards agree."""


@dataclass
class JudgeConfig:
    type: str = setting("oracle", registered("judges"))
    """`oracle` (the built-in tasks' verifier), `llm` (a local causal LM), `api` (any OpenAI-compatible server),
    `reward_model` (a sequence-classification reward model) or `callable` (your Python function). See docs/judges.md."""
    mode: Literal["pointwise", "pairwise"] = "pointwise"
    """`pointwise`: all candidates in one request, each scored 0-6 on the DNO rubric. `pairwise`: P(a ≻ b) per
    pair; a candidate's score is 6 x its mean win probability against the others (DNO's r_t)."""
    model: str = ""
    """llm: a built-in name (default `smollm2-135m-instruct`) or a model directory; api: the served model name;
    reward_model: the model directory (its own tokenizer and chat template)."""
    base_url: str = setting("", url_without_credentials)
    """api: the server, e.g. https://api.openai.com/v1 or http://127.0.0.1:8000/v1 (vLLM, llama.cpp)."""
    api_key_env: str = "OPENAI_API_KEY"
    """api: the environment variable holding the key (the key is never written anywhere); "" = no key."""
    function: str = ""
    """callable: `package.module:function` or `path/to/file.py:function`."""
    template: str = ""
    """Prompt template: a shipped name (`rubric`, `pairwise`) or a .txt path; "" = the mode's default."""
    temperature: float = setting(0.0, at_least(0))
    max_tokens: int = setting(0, at_least(0))
    """Reply budget per request; 0 = 384 for pointwise, 8 for pairwise (the verdict is one letter)."""
    seed: int = 0
    """Sent with every request, so a re-asked question gets the same answer where the backend honours it."""
    logprobs: bool = True
    """pairwise: ask for log-probabilities and use a soft P(A) at the verdict token."""
    position: Literal["both", "seeded"] = "both"
    """pairwise: `both` judges each pair in both orders and averages (2 requests); `seeded` judges one order
    chosen by a hash of the content (1 request, position bias cancels on average, reruns reproduce)."""
    calibrate: bool = False
    """pairwise, position both: average the two orders in log-odds, not probabilities, which cancels a constant
    lean towards the first-shown answer instead of pulling every P(a ≻ b) towards ½ (docs/judges.md)."""
    concurrency: int = setting(8, at_least(1), launch=True)
    """api: requests in flight at once."""
    timeout_s: float = setting(60.0, above(0), launch=True)
    """api: seconds before a request is abandoned and retried. callable: seconds one call may take before
    the run stops with an error (a function that hangs would otherwise hang the run)."""
    max_retries: int = setting(4, at_least(0), launch=True)
    """api: retries after a timeout, 429, 5xx or dropped connection (exponential backoff with jitter)."""
    backoff_s: float = setting(1.0, at_least(0), launch=True)
    """api: first retry delay; doubles each retry (x0.5-1.5 jitter; a Retry-After header is honoured)."""
    parse_retries: int = setting(1, at_least(0))
    """Re-asks when an answer does not parse; then it is recorded as a failure (NaN), never a tie."""
    price_input_per_mtok: float = setting(0.0, at_least(0))
    """api: USD per million prompt tokens, for the cost in judge_usage.json (0 = not priced)."""
    price_output_per_mtok: float = setting(0.0, at_least(0))
    """api: USD per million completion tokens."""
    reward_scale: Literal["rank", "sigmoid", "standardize", "raw"] = "rank"
    """reward_model: how one prompt's raw rewards become 0-6 scores. `rank`: 6 x the share of the other
    candidates it out-scores (DNO's r_t); `sigmoid`: 6 x mean σ(r_i - r_j) (Bradley-Terry r_t); `standardize`:
    3 + z-score, clipped to 0-6; `raw`: the rewards (set the pair thresholds in reward units)."""
    batch_size: int = setting(8, at_least(1), launch=True)
    """reward_model: texts per forward pass; llm: questions per `generate` (left-padded)."""
    max_length: int = setting(2048, at_least(1))
    """reward_model: tokens per text (prompt + response); longer ones are cut at the end and counted."""
    device: str = setting("auto", device_name, launch=True)
    """reward_model, llm: `auto` (cuda if available, else cpu), cpu, cuda, cuda:N or mps."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """reward_model, llm: `auto` = bfloat16 on cuda, float32 elsewhere."""
    check_pairs: int = setting(24, at_least(0))
    """The training judge (not the oracle) is first checked on up to this many pairs of iteration 1's samples
    that the oracle ranks, both orders each: agreement and position consistency go to judge_check.json, the
    log and the report, with a warning when they do not beat chance. 0 = no check; unused by eval.judge."""
    min_agreement: float = setting(0.0, within(0, 1), launch=True)
    """> 0: stop before judging when the judge check's agreement is below this (check_pairs > 0, oracle prompts)."""
    noise: NoiseConfig = section(NoiseConfig)
    """Noise added to this judge's verdicts (weak-supervision studies); off by default."""


@dataclass
class PairConfig:
    positive_min_score: float = 3.5
    """A chosen response must score at least this (DNO-Prct: 5 on its 6-point rubric). With the built-in
    oracle, 3.5 admits a right but wordy sum (4) and an answer meeting half its constraints (3.5)."""
    margin: float = setting(2.0, above(0))
    """Score gap required below a teacher positive."""
    student_margin: float = setting(1.0, above(0))
    """Relaxed gap when the positive is a student (policy) sample."""
    max_pairs_per_prompt: int = setting(2, at_least(1))
    """Pairs kept per prompt: the best response against the worst qualifying ones first."""
    teacher_pairs_per_prompt: int = setting(1, at_least(0), before=0)
    """Of those, at most this many when the best is the teacher's (0 = no cap): keeps teacher pairs from crowding out."""
    rule: Literal["prct", "all"] = "prct"
    """`prct`: DNO-Prct's thresholds and margins above. `all`: Algorithm 1, every two candidates with
    different win-rate estimates r_t, largest gaps first (thresholds unused)."""
    target: Literal["hard", "soft"] = "hard"
    """`hard`: P(chosen ≻ rejected) = 1 (DPO). `soft`: σ(r_t(chosen) − r_t(rejected)) (DNO Algorithm 1)."""
    unfinished: Literal["negative", "drop", "keep"] = setting("negative", before="keep")
    """Samples cut off at sample.max_new_tokens: `negative` = may only be the rejected side of a pair (a cut-off
    answer is never taught as the one to give), `drop` = left out of pairing, `keep` = treated like any other."""
    degenerate_repeats: int = setting(3, lambda v: None if v == 0 or v >= 2 else "must be 0 (off) or >= 2")
    """A sample repeating a word 3-gram this often, or looping characters, scores 0: a negative (DNO-Prct). 0: off."""
    warm_start: str = setting("", preference_data)
    """Offline warm start: a TRL-format preference dataset (prompt, chosen, rejected; chat messages or plain
    strings) whose pairs join iteration 1's, typed `data>data`: a .jsonl / .json / .parquet / .csv file or a
    dataset folder, e.g. another run's `dno export --format trl`. "" = none (docs/export.md)."""


@dataclass
class TrainConfig:
    loss: str = setting("dpo", registered("losses"))
    """`dpo`/`dno`: binary cross-entropy of the DPO logit against the pairs' targets (hard labels = DPO,
    DNO-Prct; soft = DNO Algorithm 1). `sppo`: SPPO's square loss. `sft`: fine-tune on the chosen responses."""
    reference: Literal["previous", "initial"] = "previous"
    """`previous`: the reference is π_t, the policy that sampled (DNO). `initial`: a fixed π_0 (iterative DPO)."""
    replay_fraction: float = setting(0.3, within(0, 1, open_hi=True))
    """Share of the training pairs drawn from iteration t-1 (DNO-Prct: up to 30%)."""
    replay_decay: float = setting(0.5, within(0, 1))
    """Each earlier iteration contributes this times the previous one's share (30%, 15%, 7.5%, ...)."""
    beta: float = setting(0.1, above(0))
    """η in the paper, β in DPO: the strength of the pull towards the reference π_t."""
    nll_weight: float = setting(1.0, at_least(0))
    """α × the chosen answer's per-token NLL added to the preference loss (RPO): keeps chosen answers likely; 0 = none."""
    lr: float = setting(1e-5, above(0))
    lr_decay: float = setting(0.7, within(0, 1, open_lo=True))
    """Learning rate multiplier applied per iteration (the paper lowers the rate in later iterations)."""
    epochs: int = setting(2, at_least(1))
    batch_size: int = setting(8, at_least(1))
    """Pairs per optimizer step."""
    max_grad_norm: float = setting(1.0, above(0))
    """Gradients are clipped to this norm (> 0; a negative norm would flip them)."""
    weight_decay: float = setting(0.0, at_least(0))
    seed: int = 0
    gradient_accumulation_steps: int = setting(1, at_least(1))
    """Micro-batches per optimizer step; `batch_size` stays the pairs per step, so it must be a multiple of
    gradient_accumulation_steps x the number of processes."""
    mixed_precision: Literal["auto", "no", "bf16", "fp16"] = "auto"
    """Compute dtype of training over float32 master weights (autocast): `auto` = `accelerate launch`'s setting
    (the shipped configs: bf16), else bf16 on a GPU that has it, float32 on a CPU (dno/precision.py). The optimizer
    always updates float32 weights: AdamW steps on bf16 weights round most updates away."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass: less GPU memory, ~30% more compute."""
    lora_r: int = setting(0, at_least(0))
    """> 0: train LoRA adapters of this rank (peft, all linear layers) instead of all weights; they are
    merged into the weights before saving, so π_t loads in transformers and vLLM unchanged."""
    lora_alpha: float = setting(0.0, at_least(0))
    """LoRA scaling numerator; 0 = 2 x lora_r."""
    lora_dropout: float = setting(0.0, within(0, 1, open_hi=True))
    report_to: Literal["none", "tensorboard", "wandb"] = setting("none", launch=True)
    """Training curves (loss, reward margin, implicit-reward accuracy) to `tensorboard` (RUN/tensorboard/) or `wandb`."""


@dataclass
class EvalConfig:
    judge: JudgeConfig = section(JudgeConfig)
    """The judge that decides wins on held-out prompts (default: the oracle)."""
    max_new_tokens: int = setting(40, at_least(1))
    """Greedy decoding budget for the held-out responses."""
    batch_size: int = setting(128, at_least(1), before=32)  # 1.2x as fast as 64 on 2 CPU cores, the same answers
    bootstrap: int = setting(2000, at_least(100))
    """Bootstrap resamples for the 95% interval of the win rate."""
    best_on: Literal["val", "ood"] = "val"
    """Which held-out win rate picks the best iteration (best.json): the validation prompts (`val`, phrased like
    training) or the out-of-distribution ones (`ood`; their win rate then no longer tests the chosen one)."""


@dataclass
class Config:
    plugins: list[str] = setting([])
    """Your own judges, tasks or losses: modules (`my_pkg.judges`) or `.py` files imported before the
    config is checked, so the names they register are valid values (docs/extending.md)."""
    iterations: int = setting(3, at_least(1))
    """DNO iterations T."""
    seed: int = 0
    """Seeds sampling; each iteration and batch derives its own seed from it."""
    threads: int = setting(0, at_least(0), launch=True)
    """torch CPU threads; 0 = all cores."""
    policy: PolicyConfig = section(PolicyConfig)
    data: DataConfig = section(DataConfig)
    sample: SampleConfig = section(SampleConfig)
    teacher: TeacherConfig = section(TeacherConfig)
    judge: JudgeConfig = section(JudgeConfig)
    pair: PairConfig = section(PairConfig)
    train: TrainConfig = section(TrainConfig)
    eval: EvalConfig = section(EvalConfig)


def validate(cfg: Any, source: str, prefix: str = "") -> Any:
    """Run every field's own check (and each judge's `check_config`); the first failure is a DnoError."""
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            validate(value, source, f"{prefix}{f.name}.")
            continue
        check = f.metadata.get("check")
        problem = check(value) if check is not None else None
        if problem:
            raise DnoError(f"{source}: `{prefix}{f.name}` {problem}, got {value!r}")
    if isinstance(cfg, JudgeConfig):
        from dno.judges import JUDGES

        if cfg.min_agreement and not cfg.check_pairs:
            raise DnoError(
                f"{source}: `{prefix}min_agreement` gates the judge check: it needs `{prefix}check_pairs` > 0"
            )
        try:
            JUDGES.get(cfg.type, f"{prefix}type").check_config(cfg, prefix.rstrip("."))
        except DnoError as e:
            raise DnoError(f"{source}: {e}") from None
    return cfg


def launch_keys() -> set[str]:
    """Settings that say how a run executes, not what it computes (see `setting`)."""
    return fields_where(Config, "launch")


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


def parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise DnoError(f"command line: override `{text}` must look like key=value (for example train.beta=0.05)")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError:
        value = raw
    return key.strip().split("."), value


def apply_overrides(data: dict, overrides: Sequence[str]) -> dict:
    """`data` (a nested mapping of settings) with `key.sub=value` overrides applied; YAML-typed values."""
    data = copy.deepcopy(data)
    for text in overrides:
        keys, value = parse_override(text)
        node = data
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise DnoError(f"command line: `{text}`: `{k}` is not a section")
        node[keys[-1]] = value
    return data


def load_config(path: str | Path | None = None, overrides: Sequence[str] = (), *, saved_run: bool = False) -> Config:
    """Defaults <- YAML file <- `key=value` overrides, then type and range checks. `saved_run`: the file is a
    run directory's config.yaml (settings it predates read as what dno did before them: `setting(before=)`)."""
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
        if saved_run:
            data = fill_before_added(Config, data)
    data = apply_overrides(data, overrides)
    import_plugins(data.get("plugins") or [], source)
    label = source if not overrides else f"{source} (+ command line)"
    return validate(build(Config, data, "", label), label)


def import_plugins(plugins: Any, source: str) -> None:
    """Import the config's `plugins` (their registrations must exist before the checks run)."""
    from dno.registry import import_module_or_file

    if not isinstance(plugins, list) or not all(isinstance(p, str) for p in plugins):
        raise DnoError(f"{source}: `plugins` must be a list of module names or .py paths, got {plugins!r}")
    for i, spec in enumerate(plugins):
        import_module_or_file(spec, f"plugins[{i}]")


def dump(cfg: Config) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


PACKAGE_CONFIGS = Path(__file__).parent / "configs"


def find_config(name: str | None) -> Path:
    """A config path, or the name of a shipped config (`default`, `tiny`)."""
    if name is None:
        return PACKAGE_CONFIGS / "default.yaml"
    path = Path(name)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    shipped = PACKAGE_CONFIGS / f"{name}.yaml"
    if shipped.is_file():
        return shipped
    names = ", ".join(sorted(p.stem for p in PACKAGE_CONFIGS.glob("*.yaml")))
    raise DnoError(f"{name}: no such config file (shipped configs: {names})")


def split_config_args(items: list[str]) -> tuple[str | None, list[str]]:
    """`[CONFIG] [key=value ...]` from the command line: (the config name or path, or None; the overrides)."""
    if items and "=" not in items[0]:
        return items[0], items[1:]
    return None, items
