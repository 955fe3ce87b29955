"""The standard file shapes dno's answers and pairs travel in, both ways:

- AlpacaEval's `model_outputs.json`: a JSON list of {instruction, output, generator, dataset}; AlpacaEval,
  and most leaderboards that start from a model's answers, read it. dno writes it (`dno export`) and reads it
  as reference answers (`dno eval --baseline answers.json`), matched to prompts by instruction text.
- TRL's conversational preference dataset: rows of {prompt: [messages], chosen: [assistant message],
  rejected: [assistant message]}, which TRL's DPOTrainer loads unchanged. dno writes each iteration's pairs
  in it (`dno export --format trl`) and reads one as offline pairs for iteration 1 (`pair.warm_start`).
"""

from __future__ import annotations

import json
from pathlib import Path

from dno.analysis.compare import align
from dno.errors import DnoError

WARM_START_TYPE = "data>data"
"""The pair type of `pair.warm_start` pairs: neither side was sampled by the policy or a teacher."""


def instruction(messages: list[dict]) -> str:
    """The prompt as one instruction: the text of its last user message (AlpacaEval is single-turn)."""
    return next((m["content"] for m in reversed(messages) if m.get("role") == "user"), messages[-1]["content"])


def alpaca_outputs(prompts: list[dict], responses: list[dict], generator: str, dataset: str, where: str) -> list[dict]:
    """`responses` ({id, response}) to `prompts` in model_outputs.json's shape, in the prompts' order;
    `dataset` names the subset of prompts without a `task` (AlpacaEval breaks results down by it)."""
    return [
        {
            "instruction": instruction(p["messages"]),
            "output": r["response"],
            "generator": generator,
            "dataset": p.get("task") or dataset,
        }
        for p, r in zip(prompts, align(responses, prompts, where))
    ]


def is_alpaca_outputs(data) -> bool:
    """A parsed JSON document in model_outputs.json's shape (rather than dno's {id, response} lines)."""
    return isinstance(data, list) and bool(data) and isinstance(data[0], dict) and "instruction" in data[0]


def responses_from_alpaca(rows: list, prompts: list[dict], source: str) -> list[dict]:
    """{id, response} rows for `prompts` from a model_outputs.json list, matched by instruction text."""
    outputs: dict[str, str] = {}
    for i, r in enumerate(rows):
        if not (isinstance(r, dict) and isinstance(r.get("instruction"), str) and isinstance(r.get("output"), str)):
            raise DnoError(f"{source}: entry {i}: needs a string `instruction` and a string `output`")
        if outputs.setdefault(r["instruction"], r["output"]) != r["output"]:
            raise DnoError(f"{source}: entry {i}: a second, different output for instruction {r['instruction'][:60]!r}")
    out = []
    for p in prompts:
        text = instruction(p["messages"])
        if text not in outputs:
            raise DnoError(f"{source}: no output for prompt {p['id']!r} (instruction {text[:60]!r})")
        out.append({"id": p["id"], "response": outputs[text]})
    return out


def trl_row(messages: list[dict], chosen: str, rejected: str) -> dict:
    """One pair as a conversational preference row (TRL's DPOTrainer, and the shape `pair.warm_start` reads)."""
    return {
        "prompt": [{"role": m["role"], "content": m["content"]} for m in messages],
        "chosen": [{"role": "assistant", "content": chosen}],
        "rejected": [{"role": "assistant", "content": rejected}],
    }


def _messages(value, where: str) -> list[dict]:
    """A prompt: a string (TRL's standard format) or a non-empty list of {role, content} ending with the user."""
    if isinstance(value, str) and value.strip():
        return [{"role": "user", "content": value}]
    if not (
        isinstance(value, list)
        and value
        and all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in value
        )
    ):
        raise DnoError(f"{where}: `prompt` must be a non-empty string or a list of {{role, content}} messages")
    if value[-1]["role"] != "user":
        raise DnoError(f"{where}: `prompt` must end with a user message, not {value[-1]['role']!r}")
    return [{"role": m["role"], "content": m["content"]} for m in value]


def _answer(value, column: str, where: str) -> str:
    """A response: a string, or a list of exactly one assistant message."""
    if isinstance(value, str):
        return value
    if (
        isinstance(value, list)
        and len(value) == 1
        and isinstance(value[0], dict)
        and value[0].get("role") == "assistant"
        and isinstance(value[0].get("content"), str)
    ):
        return value[0]["content"]
    raise DnoError(f"{where}: `{column}` must be a string or a list of one {{role: assistant, content}} message")


PREFERENCE_COLUMNS = ("prompt", "chosen", "rejected")


def _json_rows(path: Path) -> list[tuple[object, str]]:
    """(row, where) from a JSON list or JSON lines (either suffix: hubs save JSON lines as .json too); parsed
    here rather than by `datasets`, so that a bad line is named."""
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise DnoError(f"{path}: line {e.lineno}: not valid JSON ({e.msg})") from None
        return [(r, f"{path}: entry {i}") for i, r in enumerate(data)]
    rows = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append((json.loads(line), f"{path}:{lineno}"))
            except json.JSONDecodeError as e:
                raise DnoError(f"{path}:{lineno}: not valid JSON ({e.msg})") from None
    return rows


def _dataset_rows(path: Path) -> list[tuple[object, str]]:
    """(row, where) from a `save_to_disk` directory or a .parquet file, read with `datasets`."""
    import datasets

    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # one small file: a "Generating train split" bar would only be noise
    try:
        if path.is_dir():
            ds = datasets.load_from_disk(str(path))
            if isinstance(ds, datasets.DatasetDict):
                ds = ds["train"] if "train" in ds else ds[next(iter(ds))]
        else:
            ds = datasets.load_dataset("parquet", data_files=str(path), split="train")
    except Exception as e:  # datasets and pyarrow raise many types for an unreadable file
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise DnoError(f"{path}: cannot read it as a dataset ({type(e).__name__}: {first})") from None
    finally:
        if bars:
            datasets.enable_progress_bars()
    missing = [c for c in PREFERENCE_COLUMNS if c not in ds.column_names]
    if missing:
        raise DnoError(
            f"{path}: no `{missing[0]}` column (a preference dataset has prompt, chosen and rejected; "
            f"this one has {', '.join(ds.column_names) or 'none'})"
        )
    return [(r, f"{path}: row {i}") for i, r in enumerate(ds.select_columns(list(PREFERENCE_COLUMNS)))]


def load_preference_pairs(source: str) -> list[dict]:
    """A TRL-format preference dataset (.jsonl, .json or .parquet file, or `save_to_disk` directory) as dno
    pair rows (pairs.jsonl's shape) of type WARM_START_TYPE; each row carries its own prompt `messages`,
    since its prompts are not the run's. Answers count as finished (taught to end), targets as hard (1.0)."""
    path = Path(source)
    if not path.exists():
        raise DnoError(f"{source}: preference dataset not found")
    if path.is_dir() or path.suffix == ".parquet":
        rows = _dataset_rows(path)
    elif path.suffix in (".jsonl", ".json"):
        rows = _json_rows(path)
    else:
        raise DnoError(f"{source}: expected a .jsonl, .json or .parquet file or a `save_to_disk` directory")
    if not rows:
        raise DnoError(f"{source}: no rows")
    pairs = []
    for i, (r, where) in enumerate(rows):
        if not isinstance(r, dict):
            raise DnoError(f"{where}: expected an object with prompt, chosen and rejected, got {type(r).__name__}")
        missing = [c for c in PREFERENCE_COLUMNS if c not in r]
        if missing:
            raise DnoError(f"{where}: no `{missing[0]}` (a preference row has prompt, chosen and rejected)")
        pairs.append(
            {
                "id": f"warm-{i:05d}",
                "messages": _messages(r["prompt"], where),
                "chosen": _answer(r["chosen"], "chosen", where),
                "rejected": _answer(r["rejected"], "rejected", where),
                "chosen_finished": True,
                "rejected_finished": True,
                "target": 1.0,
                "type": WARM_START_TYPE,
            }
        )
    return pairs
