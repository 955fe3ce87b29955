"""Where a run's prompts come from, and how they are split.

`data.source` is `synthetic` (the built-in tasks, dno/tasks/) or a user's data:
- a `.jsonl` file, read here line by line so that an error names its line;
- a `.json` / `.parquet` / `.csv` file, a folder of such files, or a Hugging Face Hub dataset name
  (`data.split`, `data.subset`), read with `datasets.load_dataset`;
- a folder written by `datasets`' `save_to_disk` (a DatasetDict: the `data.split` split).

Each row becomes one prompt record, a plain dict (one JSONL line of the run directory):
  {"id": "train-00017", "messages": [{"role": "user", "content": "..."}], "task": "arithmetic", "answer": 85,
   "gold": "a reference answer"}
`data.prompt_column` holds a prompt string or a chat-messages list (default: `messages`, else `prompt`); a list
ending in assistant turns is cut before them. `data.gold_column` holds a reference answer, or a messages list
whose last assistant turn is one (UltraFeedback's `chosen`): `teacher.source: data` makes it a candidate.
With the default columns a row keeps all its other fields; with a named `prompt_column` only `id`, `task`,
the oracle's fields and the gold answer are kept (a dataset's other columns stay out of the run directory).
A row's task is the one it names in `task`, or the one task whose oracle fields it carries.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from dno import io
from dno.errors import DnoError
from dno.tasks import TASKS, _finish, ood_pool, synthetic_pool

FILE_FORMATS = {".json": "json", ".jsonl": "json", ".parquet": "parquet", ".csv": "csv"}


def _jsonl_rows(path: Path, source: str) -> list[tuple[object, str]]:
    return [(row, f"{source}:{n}") for row, n in io.numbered_jsonl(path, source, "not valid JSON ({})")]


def _json_list_rows(path: Path, source: str) -> list[tuple[object, str]] | None:
    """A .json file holding one list of rows, read as it is (`datasets` would infer the columns from the first
    rows and drop a field that only later rows have); None for other JSON (e.g. JSON lines), left to `datasets`."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return [(row, f"{source}: row {i}") for i, row in enumerate(data)] if isinstance(data, list) else None


def _pick_split(ds, source: str, split: str, field: str):
    """One split of a DatasetDict: `split`; "" = `train` if there is one, else the first."""
    import datasets

    if not isinstance(ds, datasets.DatasetDict):
        return ds
    if not split:
        return ds["train"] if "train" in ds else next(iter(ds.values()))
    if split in ds:
        return ds[split]
    raise DnoError(f"{source}: has no split {split!r} ({field}; it has {', '.join(ds)})")


def _dataset_rows(source: str, split: str, subset: str, field: str) -> list[tuple[object, str]]:
    """Rows of a `save_to_disk` folder, a data file or folder, or a Hub dataset, each named by its row number.
    `datasets` gives every row every column, None where a row had none: those are dropped, so a row reads as
    it would from JSON lines."""
    import datasets

    datasets.disable_progress_bars()  # seconds of work; dno's own log says what runs
    path = Path(source).expanduser()
    saved = path.is_dir() and any((path / f).is_file() for f in ("dataset_dict.json", "state.json"))
    try:
        if saved:
            ds = datasets.load_from_disk(str(path))
        elif path.is_file():
            ds = datasets.load_dataset(FILE_FORMATS[path.suffix], data_files=str(path), split="train")
        elif path.is_dir():
            ds = datasets.load_dataset(str(path), split=split or None)
        else:
            ds = datasets.load_dataset(source, subset or None, split=split or None)
    except DnoError:
        raise
    except Exception as e:  # datasets raises many types for a bad file, folder or name
        what = (
            "not a dataset saved with `save_to_disk`"
            if saved
            else "cannot be read as a dataset (a folder of .json/.jsonl/.parquet/.csv files, or one saved with "
            "`save_to_disk`)"
            if path.is_dir()
            else f"cannot be read as {FILE_FORMATS[path.suffix]}"
            if path.is_file()
            else "cannot be loaded from the Hugging Face Hub (data.source: a local path needs ./ or /)"
        )
        detail = " ".join(str(e).split())[:300]
        raise DnoError(f"{source}: {what} ({type(e).__name__}: {detail})") from None
    ds = _pick_split(ds, source, split, field)
    return [({k: v for k, v in row.items() if v is not None}, f"{source}: row {i}") for i, row in enumerate(ds)]


def _is_path(source: str) -> bool:
    """A source written as a local path (not a Hub name `owner/name`)."""
    return source.startswith((".", "/", "~")) or Path(source).suffix in FILE_FORMATS or Path(source).exists()


def read_rows(source: str, split: str = "", subset: str = "", field: str = "data.source") -> list[tuple[object, str]]:
    """(row, where) for every row of a file, folder or Hub dataset (`field` names the setting in errors)."""
    path = Path(source).expanduser()
    if _is_path(source) and not path.exists():
        raise DnoError(f"{source}: file or dataset directory not found ({field})")
    if path.is_file() and path.suffix not in FILE_FORMATS:
        raise DnoError(f"{source}: unknown file type ({field}: .jsonl, .json, .parquet or .csv)")
    if path.is_file() and path.suffix == ".jsonl":
        return _jsonl_rows(path, source)
    if path.is_file() and path.suffix == ".json":
        rows = _json_list_rows(path, source)
        if rows is not None:
            return rows
    split_field = "data.split" if field == "data.source" else field
    return _dataset_rows(source, split, subset, split_field)


def prompt_messages(value: object, where: str, column: str, allow_text: bool = True) -> list[dict]:
    """A prompt column's value as chat messages: a string is one user turn; a list is cut before its trailing
    assistant turns (a conversation that comes with its answer)."""
    if isinstance(value, str) and allow_text:
        if not value.strip():
            raise DnoError(f"{where}: `{column}` is an empty string")
        return [{"role": "user", "content": value}]
    if not (
        isinstance(value, list)
        and value
        and all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in value
        )
    ):
        text = "a non-empty string or " if allow_text else ""
        raise DnoError(f"{where}: `{column}` must be {text}a non-empty list of {{role, content}} objects")
    msgs = [{"role": m["role"], "content": m["content"]} for m in value]
    while msgs and msgs[-1]["role"] == "assistant":
        msgs.pop()
    if not msgs:
        raise DnoError(f"{where}: `{column}` holds only assistant turns; no prompt is left")
    return msgs


def answer_text(value: object, where: str, column: str) -> str | None:
    """A reference or preference answer: a string; a number (a CSV cell like 85) as its text; or a messages
    list whose last turn is the assistant's answer (UltraFeedback's `chosen`, TRL's one-message list).
    None or an empty string: no answer."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, list) and value and isinstance(value[-1], dict) and value[-1].get("role") == "assistant":
        value = value[-1].get("content")
    if not isinstance(value, str):
        raise DnoError(
            f"{where}: `{column}` must be a string or a messages list ending with an assistant turn, "
            f"got {type(value).__name__}"
        )
    return value if value.strip() else None


def _record_from_row(row: object, where: str, cfg) -> dict:
    """One prompt record. With the default columns a row is kept as it is (as dno has always read it: runs
    made before named columns resume unchanged); named columns are parsed and everything else is left out."""
    if not isinstance(row, dict):
        raise DnoError(f"{where}: expected a JSON object, got {type(row).__name__}")
    if cfg.prompt_column:
        column = cfg.prompt_column
        if column not in row:
            raise DnoError(
                f"{where}: no `{column}` prompt (data.prompt_column; the row has {', '.join(map(str, row))})"
            )
        msgs = prompt_messages(row[column], where, column)
        keep = {"id", "task", *(f for _, t in TASKS.items() for f in (*t.fields, *t.optional_fields))}
        rec = {k: v for k, v in row.items() if k in keep and k != column}
    else:
        msgs = _default_messages(row, where)
        rec = {k: v for k, v in row.items() if k not in ("prompt", "messages")}
    if cfg.id_column:
        if row.get(cfg.id_column) is None:
            raise DnoError(f"{where}: has no `{cfg.id_column}` value (data.id_column)")
        rec["id"] = row[cfg.id_column]
    gold_column = cfg.gold_column or ("gold" if cfg.prompt_column else "")
    if gold_column in row:  # a row without one (an empty cell) has no gold answer
        rec.pop(gold_column, None)
        gold = answer_text(row[gold_column], where, gold_column)
        if gold is not None:
            rec["gold"] = gold
    rec["messages"] = msgs
    if isinstance(rec.get("id"), int) and not isinstance(rec["id"], bool):
        rec["id"] = str(rec["id"])  # datasets often number their rows
    if "id" in rec and not (isinstance(rec["id"], str) and rec["id"].strip()):
        raise DnoError(f"{where}: `id` must be a non-empty string or an integer, got {rec['id']!r}")
    _assign_task(rec, where, strict=not cfg.prompt_column)
    return rec


def _default_messages(row: dict, where: str) -> list[dict]:
    """The prompt of a row without data.prompt_column: its `messages` list as it is, else its `prompt` string."""
    if "messages" in row:
        msgs = row["messages"]
        if not (
            isinstance(msgs, list) and msgs and all(isinstance(m, dict) and {"role", "content"} <= set(m) for m in msgs)
        ):
            raise DnoError(f"{where}: `messages` must be a non-empty list of {{role, content}} objects")
        return msgs
    if isinstance(row.get("prompt"), str) and row["prompt"].strip():
        return [{"role": "user", "content": row["prompt"]}]
    raise DnoError(f"{where}: needs a non-empty `prompt` string or a `messages` list")


def _assign_task(rec: dict, where: str, strict: bool = True) -> None:
    """The task named in `task`, else the one task whose oracle fields the row carries; checked now, so a row
    the oracle cannot score is a clear error here and never a crash at judge time. Not `strict` (a dataset's
    named columns): a column that merely shares an oracle field's name (GSM8K's `answer`, a worked
    solution) claims no task, and the row is a prompt for a non-oracle judge."""
    name = rec.get("task")
    if name is None:
        claims = [task for _, task in TASKS.items() if task.fields and all(f in rec for f in task.fields)]
        if not strict:
            claims = [task for task in claims if _checks(task, rec)]
        if len(claims) > 1:
            raise DnoError(
                f"{where}: carries the fields of tasks {', '.join(t.name for t in claims)}; "
                "say which with a `task` field"
            )
        if claims:
            rec["task"] = name = claims[0].name
    if isinstance(name, str) and name in TASKS:
        TASKS.get(name, "task").check(rec, where)
    elif name is not None and not isinstance(name, str):
        raise DnoError(f"{where}: `task` must be a string, got {name!r}")


def _checks(task, rec: dict) -> bool:
    try:
        task.check(rec, "")
    except DnoError:
        return False
    return True


def load_user_prompts(cfg) -> list[dict]:
    """The prompt records of a user's `data.source` (a DataConfig), in the source's order."""
    rows = read_rows(cfg.source, cfg.split, cfg.subset)
    records = [_record_from_row(row, where, cfg) for row, where in rows]
    if cfg.gold_column and rows and not any("gold" in r for r in records):
        raise DnoError(f"{cfg.source}: no row has a `{cfg.gold_column}` answer (data.gold_column)")
    first: dict[str, str] = {}
    for rec, (_, where) in zip(records, rows):
        if "id" in rec and first.setdefault(rec["id"], where) != where:
            raise DnoError(f"{where}: prompt id {rec['id']!r} is also used at {first[rec['id']]}; ids must be unique")
    if not records:
        raise DnoError(f"{cfg.source}: no prompts found")
    return records


def make_splits(data_cfg, iterations: int) -> dict[str, list[dict]]:
    """Disjoint test, validation and per-iteration train slices, fixed by `data.seed`."""
    n_test, n_val, n_train = data_cfg.test_prompts, data_cfg.val_prompts, data_cfg.prompts_per_iteration
    need = n_test + n_val + n_train * iterations
    if data_cfg.source == "synthetic":
        pool = synthetic_pool(need, data_cfg.tasks, data_cfg.seed)
        pool = [_finish(dict(r), "") for r in pool]
    else:
        pool = load_user_prompts(data_cfg)
        random.Random(data_cfg.seed).shuffle(pool)
        if len(pool) < need:
            raise DnoError(
                f"{data_cfg.source}: has {len(pool)} prompts but the config needs {need} "
                f"(test {n_test} + val {n_val} + {iterations} x {n_train} train); lower data.* or iterations"
            )
    splits = {"test": pool[:n_test], "val": pool[n_test : n_test + n_val]}
    if data_cfg.source == "synthetic" and data_cfg.ood_prompts:
        splits["ood"] = [_finish(dict(r), "") for r in ood_pool(data_cfg.ood_prompts, data_cfg.tasks, data_cfg.seed)]
    for t in range(iterations):
        start = n_test + n_val + t * n_train
        splits[f"train{t + 1}"] = pool[start : start + n_train]
    given = {r["id"] for recs in splits.values() for r in recs if r.get("id")}
    seen: set[str] = set()
    for name, recs in splits.items():
        base = name.rstrip("0123456789")
        for i, r in enumerate(recs):
            if not r.get("id") and f"{name}-{i:05d}" in given:
                raise DnoError(
                    f"{data_cfg.source}: prompt id {name}-{i:05d} is one dno gives automatically to unnamed "
                    "prompts; rename it"
                )
            r["id"] = r.get("id") or f"{name}-{i:05d}"
            if r["id"] in seen:  # judging and training look records up by id
                raise DnoError(f"{data_cfg.source}: prompt id {r['id']!r} is used by two prompts; ids must be unique")
            seen.add(r["id"])
            r.setdefault("split", base)
    return splits
