"""`dno export`: a run's results in the shapes other tools start from (dno/formats.py). Iteration T's greedy
held-out answers as AlpacaEval's model_outputs.json; its pairs as a TRL preference dataset (`save_to_disk`).

Only what the run's own stages wrote is exported (nothing is generated here), every write is atomic, and an
existing different output is never replaced without --force: an export is often the file a benchmark
submission or a comparison was made from."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from dno import formats, io
from dno.errors import DnoError
from dno.run.evals import open_run, own_responses_path, split_prompts
from dno.run.rundir import RunDir
from dno.stages.common import pair_messages

FORMATS = ("alpaca_eval", "trl")


def export(
    root: str | Path, t: int, fmt: str, split: str | None = None, out: str | Path | None = None, force: bool = False
) -> tuple[Path, int, bool]:
    """Write iteration t's export; returns (its path, the number of answers or pairs, whether it was written:
    False when an identical export was already there)."""
    run = open_run(root)
    if not 0 <= t <= run.cfg.iterations:
        raise DnoError(f"--iter {t}: this run has iterations 0..{run.cfg.iterations} (0 = the starting policy)")
    if fmt == "alpaca_eval":
        return _alpaca_eval(run, t, split or "test", out, force)
    if fmt == "trl":
        if split is not None:
            raise DnoError("--split: only for --format alpaca_eval (pairs come from an iteration's training prompts)")
        return _trl(run, t, out, force)
    raise DnoError(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}")


def _alpaca_eval(run: RunDir, t: int, split: str, out, force: bool) -> tuple[Path, int, bool]:
    prompts = split_prompts(run, split)
    answers = own_responses_path(run, t, split)
    if not answers.is_file():
        writer = f"dno baseline {run.root}" if t == 0 else f"dno eval {run.root} --iter {t}"
        raise DnoError(f"{answers}: iteration {t} has no greedy {split} answers yet (`{writer}` writes them)")
    rows = formats.alpaca_outputs(
        prompts, io.read_jsonl(answers), f"{run.root.name}-iter{t}", f"dno-{split}", str(answers)
    )
    target = Path(out) if out else run.root / "exports" / f"iter_{t}.{split}.model_outputs.json"
    text = json.dumps(rows, indent=2, ensure_ascii=False) + "\n"
    if target.is_dir():
        raise DnoError(f"{target}: is a directory; give --out a file name")
    if target.is_file() and target.read_text(encoding="utf-8") == text:
        return target, len(rows), False
    if target.exists() and not force:
        raise DnoError(
            f"{target}: exists and differs from this export; pass --force to replace it or choose another --out"
        )
    io.write_text(target, text)
    return target, len(rows), True


def _trl(run: RunDir, t: int, out, force: bool) -> tuple[Path, int, bool]:
    if t == 0:
        raise DnoError("--iter 0: iteration 0 has no pairs (pairs are made from 1 on)")
    d = run.iter_dir(t)
    if not (d / "pairs.jsonl").is_file():
        raise DnoError(
            f"{d / 'pairs.jsonl'}: iteration {t} has no pairs yet (`dno pair {run.root} --iter {t}` makes them)"
        )
    pairs = io.read_jsonl(d / "pairs.jsonl")
    if not pairs:
        raise DnoError(f"{d / 'pairs.jsonl'}: iteration {t} made no pairs; nothing to export")
    prompts = {p["id"]: p for p in io.read_jsonl(d / "prompts.jsonl")}
    rows = [formats.trl_row(pair_messages(p, prompts), p["chosen"], p["rejected"]) for p in pairs]
    target = Path(out) if out else run.root / "exports" / f"iter_{t}.pairs_trl"
    if target.exists():
        if not target.is_dir():
            raise DnoError(f"{target}: is a file; a dataset is saved as a directory, give --out a new one")
        previous = _saved_rows(target)
        if previous == rows:
            return target, len(rows), False
        if previous is None and any(target.iterdir()):
            raise DnoError(f"{target}: not empty and not a saved dataset; give --out a new or empty directory")
        if previous is not None and not force:
            raise DnoError(f"{target}: holds a different dataset; pass --force to replace it or choose another --out")
    _save_dataset(rows, target)
    return target, len(rows), True


def _saved_rows(path: Path) -> list[dict] | None:
    """The rows of a dataset `save_to_disk` wrote to `path`, or None when it is something else."""
    if not (path / "dataset_info.json").is_file():
        return None
    import datasets

    try:
        return datasets.load_from_disk(str(path)).to_list()
    except Exception:  # noqa: BLE001 - unreadable: not one of ours to compare
        return None


def _save_dataset(rows: list[dict], target: Path) -> None:
    """`save_to_disk` into a temporary sibling, then one rename: a crash leaves the old export or none."""
    import datasets

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=io.TMP_SUFFIX))
    try:
        datasets.Dataset.from_list(rows).save_to_disk(str(tmp))
        io.replace_dir(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
