"""What a run needs that can be checked in seconds, checked before the run directory is touched: the
models resolve, the prompts load and split, each judge's own `preflight` passes (key set, server reachable,
function importable, oracle fields present). A bad input is then one DnoError and the run directory stays
as it was."""

from __future__ import annotations

from pathlib import Path

from dno import models
from dno.data import make_splits
from dno.errors import DnoError
from dno.formats import load_preference_pairs
from dno.judges import JUDGES
from dno.judges.backends import check_api
from dno.tasks import can_repair, gold_answer


def preflight(cfg, run_root: Path | None = None) -> None:
    """Everything checked; with `run_root`, an existing run directory, the judges only if a stage left to run
    calls them (a finished judge stage needs no judge server to resume)."""
    models.check(cfg.policy.model, "policy.model")
    if cfg.policy.chat_template or cfg.policy.model not in models.BUILTIN:  # the built-ins have one
        models.check_chat_template(cfg.policy.model, "policy.model", cfg.policy.chat_template)
    if cfg.teacher.model.startswith("api:"):
        check_api("teacher", cfg.teacher.base_url, cfg.teacher.api_key_env, 10.0)
    elif cfg.teacher.model:
        models.check(cfg.teacher.model, "teacher.model")
        if cfg.teacher.model not in models.BUILTIN:
            models.check_chat_template(cfg.teacher.model, "teacher.model")
    splits = make_splits(cfg.data, cfg.iterations)
    check_teacher_source(cfg, splits)
    records = [r for recs in splits.values() for r in recs]
    if cfg.data.source != "synthetic":  # the built-in tasks' prompts are short by construction
        check_prompt_lengths(cfg, records)
    if cfg.pair.warm_start and not _done(cfg, run_root, 1, "pair"):  # read by iteration 1's pair stage
        check_pair_lengths(cfg, load_preference_pairs(cfg.pair.warm_start), cfg.pair.warm_start)
    needed = judges_needed(cfg, run_root)
    for prefix, j in (("judge", cfg.judge), ("eval.judge", cfg.eval.judge)):
        if prefix in needed:
            JUDGES.get(j.type, f"{prefix}.type").preflight(j, prefix, records, source=cfg.data.source)


def check_prompt_lengths(cfg, records) -> None:
    """Every prompt, in the chat template, leaves room in the policy's context for the longest answer the
    run asks for: a longer one would fail mid-run, after hours of work, in the sampler or the trainer."""
    context, tok = policy_context(cfg)
    if not context or not records:
        return
    texts = [models.render_prompt(tok, r["messages"]) for r in records]
    lengths = [len(ids) for ids in tok(texts, add_special_tokens=False)["input_ids"]]
    answer = max(cfg.sample.max_new_tokens, cfg.eval.max_new_tokens, cfg.teacher.max_new_tokens)
    answers = [answer] * len(records)
    if cfg.teacher.kind == "data":  # a training prompt's gold answer is trained on whole, + its end-of-turn token
        golds = [(gold_answer(r) or "") if r.get("split") == "train" else "" for r in records]
        gold_lengths = [len(ids) + 1 for ids in tok(golds, add_special_tokens=False)["input_ids"]]
        answers = [max(a, g) for a, g in zip(answers, gold_lengths)]
    total = [n + a for n, a in zip(lengths, answers)]
    longest = max(range(len(records)), key=total.__getitem__)
    if total[longest] > context:
        raise DnoError(
            f"{cfg.data.source}: prompt {records[longest]['id']!r} is {lengths[longest]} tokens in the chat "
            f"template; with answers of up to {answers[longest]} tokens (sample, eval or its gold answer) it "
            f"exceeds policy.model's context of {context} tokens; shorten or drop it"
        )


def check_teacher_source(cfg, splits: dict[str, list[dict]]) -> None:
    """`teacher.source: data` needs gold answers on the training prompts; neither it nor `repair` takes a teacher
    model besides. The default (`auto`, no teacher.model) repairs where a task can and asks nothing."""
    source = cfg.teacher.kind
    if source == "model":
        return
    if cfg.teacher.model:
        raise DnoError(f"config: teacher.source={source} needs no teacher model; teacher.model must then be empty")
    train = [r for name, recs in splits.items() if name.startswith("train") for r in recs]
    if source == "repair":
        if cfg.teacher.source == "repair" and not any(can_repair(r) for r in train):  # asked for, not the default
            raise DnoError(
                f"{cfg.data.source}: teacher.source=repair but no training prompt's task can repair an answer "
                "(of the built-in tasks, instructions and arithmetic can)"
            )
        return
    for r in train:  # a `gold` field read without data.gold_column is kept as the row had it
        if "gold" in r and not isinstance(r["gold"], str):
            raise DnoError(
                f"{cfg.data.source}: prompt {r['id']!r}: `gold` must be a string answer for teacher.source=data, "
                f"got {type(r['gold']).__name__} (data.gold_column=gold also reads messages lists)"
            )
    if not any(gold_answer(r) for r in train):
        raise DnoError(
            f"{cfg.data.source}: teacher.source=data but no training prompt carries a gold answer "
            "(data.gold_column names the column that holds them; of the built-in tasks, arithmetic has one)"
        )


def _done(cfg, run_root: Path | None, t: int, stage: str) -> bool:
    """Stage `stage` of iteration t is complete in the existing run directory `run_root`."""
    if run_root is None or not (Path(run_root) / "config.yaml").is_file():
        return False
    from dno import stages
    from dno.run.rundir import RunDir

    return stages.is_done(RunDir(Path(run_root), cfg), t, stage)


def policy_context(cfg):
    """policy.model's context length in tokens and its tokenizer; (None, None) when its config names none."""
    from transformers import AutoConfig

    path = models.resolve(cfg.policy.model)
    config = AutoConfig.from_pretrained(str(path))
    config = getattr(config, "text_config", None) or config
    context = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
    return (context, models.load_tokenizer(path, cfg.policy.chat_template)) if context else (None, None)


def check_pair_lengths(cfg, pairs: list[dict], source: str) -> None:
    """Each warm-start pair, its prompt in the chat template and its longer answer, fits the policy's context:
    a longer one would fail in the trainer, after iteration 1's sampling and judging."""
    context, tok = policy_context(cfg)
    if not context or not pairs:
        return
    prompts = [models.render_prompt(tok, p["messages"]) for p in pairs]

    def lengths(texts):
        return [len(ids) for ids in tok(texts, add_special_tokens=False)["input_ids"]]

    total = [
        p + max(c, r) + 1  # + the end-of-turn token a finished answer is taught
        for p, c, r in zip(
            lengths(prompts), lengths([p["chosen"] for p in pairs]), lengths([p["rejected"] for p in pairs])
        )
    ]
    i = max(range(len(pairs)), key=total.__getitem__)
    if total[i] > context:
        raise DnoError(
            f"{source}: row {i} (counted from 0) is {total[i]} tokens with its longer answer in the chat template; "
            f"it exceeds policy.model's context of {context} tokens; shorten or drop it"
        )


def judges_needed(cfg, run_root: Path | None) -> set[str]:
    """`judge` and/or `eval.judge`: the judges that the stages not yet done in `run_root` will call."""
    if run_root is None or not (Path(run_root) / "config.yaml").is_file():
        return {"judge", "eval.judge"}
    from dno import stages
    from dno.run.rundir import RunDir

    run = RunDir(Path(run_root), cfg)
    needed = set()
    for t in range(1, cfg.iterations + 1):
        if not stages.is_done(run, t, "judge"):
            needed.add("judge")
        if not all(stages.is_done(run, t, s) for s in stages.EVALS):
            needed.add("eval.judge")
    return needed


def check_training_layout(cfg, processes: int, accelerate_config: str | None) -> str | None:
    """`dno prepare --train-processes N [--accelerate-config F]`: the batch fits the training processes,
    checked before anything is sampled. A DeepSpeed batch that does not split is a DnoError; a batch with
    fewer pairs than processes x accumulation steps only idles some processes (returned as a warning)."""
    import yaml

    from dno.training.loop import check_batch

    kind = ""
    if accelerate_config:
        try:
            kind = str((yaml.safe_load(Path(accelerate_config).read_text()) or {}).get("distributed_type", "")).upper()
        except (OSError, yaml.YAMLError) as e:
            raise DnoError(f"--accelerate-config {accelerate_config}: cannot read it ({e})") from None
    parts = processes * cfg.train.gradient_accumulation_steps
    check_batch(cfg.train.batch_size, processes, cfg.train.gradient_accumulation_steps, deepspeed="DEEPSPEED" in kind)
    if cfg.train.batch_size < parts:
        return (
            f"train.batch_size={cfg.train.batch_size} pairs per step over {parts} micro-batches: "
            f"{parts - cfg.train.batch_size} of them run a weight-0 pair each step; train.batch_size={parts} "
            "would use every process"
        )
    return None
