"""The standard file shapes dno's answers and pairs travel in, both ways:

- AlpacaEval's `model_outputs.json`: a JSON list of {instruction, output, generator, dataset}; AlpacaEval,
  and most leaderboards that start from a model's answers, read it. dno writes it (`dno export`) and reads it
  as reference answers (`dno eval --baseline answers.json`), matched to prompts by instruction text.
- TRL's conversational preference dataset: rows of {prompt: [messages], chosen: [assistant message],
  rejected: [assistant message]}, which TRL's DPOTrainer loads unchanged. dno writes each iteration's pairs
  in it (`dno export --format trl`) and reads one as offline pairs for iteration 1 (`pair.warm_start`),
  from any container data.source reads (dno/data.py).
"""

from __future__ import annotations

from pathlib import Path

from dno.analysis.compare import align
from dno.data import FILE_FORMATS, answer_text, prompt_messages, read_rows
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


def _answer(value, column: str, where: str) -> str:
    text = answer_text(value, where, column)
    if text is None:
        raise DnoError(f"{where}: `{column}` is empty")
    return text


PREFERENCE_COLUMNS = ("prompt", "chosen", "rejected")


def load_preference_pairs(source: str) -> list[dict]:
    """A TRL-format preference dataset (a .jsonl / .json / .parquet / .csv file, a folder of them, or a
    `save_to_disk` folder) as dno pair rows (pairs.jsonl's shape) of type WARM_START_TYPE; each row carries
    its own prompt `messages`, since its prompts are not the run's. Answers count as finished (taught to
    end), targets as hard (1.0)."""
    path = Path(source).expanduser()
    if not path.exists():
        raise DnoError(f"{source}: preference dataset not found")
    if path.is_file() and path.suffix not in FILE_FORMATS:
        raise DnoError(f"{source}: expected a .jsonl, .json, .parquet or .csv file or a dataset folder")
    # the readers of data.source: .jsonl line by line, the rest with `datasets` (a DatasetDict: its train split)
    rows = read_rows(source, field="pair.warm_start")
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
                "messages": prompt_messages(r["prompt"], where, "prompt"),
                "chosen": _answer(r["chosen"], "chosen", where),
                "rejected": _answer(r["rejected"], "rejected", where),
                "chosen_finished": True,
                "rejected_finished": True,
                "target": 1.0,
                "type": WARM_START_TYPE,
            }
        )
    return pairs
