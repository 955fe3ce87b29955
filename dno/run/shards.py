"""Sharded sampling and judging: `--shard i/n` takes a contiguous slice of an iteration's prompts, and
the merge concatenates the shards in prompt order into the file an unsharded run writes.

    iter_<t>/shards/samples.00001-of-00004.jsonl     shard 1 of 4 (shards count from 0, like SLURM_PROCID)
    iter_<t>/shards/judgments.00001-of-00004.jsonl
    iter_<t>/shards/judge_usage.00001-of-00004.json  (LLM/API judges)

Sample shards are cut at multiples of `sample.batch_size`: the HF sampler seeds each batch from
(seed, batch index) and pads within a batch, so batches that are the same as an unsharded run's give
the same samples, and the merged samples.jsonl is byte-identical to an unsharded run's. The vLLM
sampler seeds each prompt from (seed, prompt index), so its seeds do not depend on the cut; its logits do
depend slightly on batch makeup and prefix-cache hits, so its shards give the same distribution, not the
same bytes.
Judge shards are cut evenly (judging is per prompt).

A shard that finishes when all shards of its stage exist merges them (an atomic write of identical
bytes, so two shards finishing together is harmless); `dno merge` does it explicitly.

Each shard records a fingerprint of what it was computed from (`<shard>.input.json`: the prompts and the
sampling policy's files for a sample shard, samples.jsonl for a judge shard). A shard whose inputs changed
since (samples regenerated, a policy retrained) is stale: it is redone, never merged.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

from dno import io
from dno.errors import DnoError

STAGE_FILES = {"sample": "samples", "judge": "judgments"}
_SHARD_RE = re.compile(r"^(?P<name>[a-z_]+)\.(?P<i>\d{5})-of-(?P<n>\d{5})\.jsonl$")


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """'1/4' → (1, 4): shard 1 of 4, counted from 0. None or '' → None (the whole stage)."""
    if not text:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m:
        raise DnoError(f"--shard: expected I/N (shard I of N, counted from 0), got {text!r}")
    i, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 0 <= i < n:
        raise DnoError(f"--shard {text}: need N >= 1 and 0 <= I < N")
    return i, n


def shard_range(num: int, i: int, n: int, align: int = 1) -> tuple[int, int]:
    """[start, stop) of shard i of n over `num` items, cut only at multiples of `align` (blocks are
    spread as evenly as possible; with more shards than blocks the last shards are empty)."""
    if n < 1 or not 0 <= i < n or align < 1:
        raise ValueError(f"bad shard {i}/{n} (align {align})")
    blocks = -(-num // align)
    lo, hi = i * blocks // n, (i + 1) * blocks // n
    return min(lo * align, num), min(hi * align, num)


def shard_dir(iter_dir: Path) -> Path:
    return Path(iter_dir) / "shards"


def shard_path(iter_dir: Path, stage: str, i: int, n: int, suffix: str = "jsonl", name: str | None = None) -> Path:
    return shard_dir(iter_dir) / f"{name or STAGE_FILES[stage]}.{i:05d}-of-{n:05d}.{suffix}"


def fingerprint(paths: Sequence[Path]) -> str:
    """What a shard was computed from: the bytes of small input files, the size and modification time of
    the files in a directory (a policy checkpoint; hashing gigabytes of weights would cost minutes)."""
    h = hashlib.sha256()
    for path in paths:
        path = Path(path)
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            h.update(str(f.relative_to(path) if path.is_dir() else f.name).encode())
            if path.is_dir():
                st = f.stat()
                h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
            else:
                h.update(f.read_bytes())
    return h.hexdigest()


def _input_path(shard: Path) -> Path:
    return shard.with_name(shard.name.removesuffix(".jsonl") + ".input.json")


def write_shard(iter_dir: Path, stage: str, i: int, n: int, rows: list[dict], inputs: Sequence[Path]) -> Path:
    """Write shard i of n with the fingerprint of its inputs (the fingerprint first: a shard file never
    exists without one)."""
    path = shard_path(iter_dir, stage, i, n)
    io.write_json(_input_path(path), {"inputs": [str(Path(p).name) for p in inputs], "sha256": fingerprint(inputs)})
    io.write_jsonl(path, rows)
    return path


def is_current(path: Path, inputs: Sequence[Path]) -> bool:
    """The shard exists and was computed from `inputs` as they are now."""
    meta = _input_path(path)
    return path.is_file() and meta.is_file() and io.read_json(meta).get("sha256") == fingerprint(inputs)


def existing(iter_dir: Path, stage: str, inputs: Sequence[Path] | None = None) -> dict[int, dict[int, Path]]:
    """{n: {i: path}} for the shard files of a stage that are on disk (with `inputs`: only current ones)."""
    out: dict[int, dict[int, Path]] = {}
    d = shard_dir(iter_dir)
    if d.is_dir():
        for p in d.iterdir():
            m = _SHARD_RE.match(p.name)
            if m and m.group("name") == STAGE_FILES[stage] and (inputs is None or is_current(p, inputs)):
                out.setdefault(int(m.group("n")), {})[int(m.group("i"))] = p
    return out


def complete_count(iter_dir: Path, stage: str, inputs: Sequence[Path] | None = None) -> int | None:
    """The shard count N whose N (current) shards are all on disk (the largest if several), else None."""
    full = [n for n, got in existing(iter_dir, stage, inputs).items() if len(got) == n]
    return max(full) if full else None


def merge_rows(prompt_ids: Sequence[str], shard_rows: Sequence[Sequence[dict]], what: str) -> list[dict]:
    """The shards' rows in prompt order; every prompt exactly once, else a DnoError naming the problem."""
    by_id: dict[str, dict] = {}
    for k, rows in enumerate(shard_rows):
        for r in rows:
            if r["id"] in by_id:
                raise DnoError(f"{what}: prompt {r['id']!r} appears in more than one shard (shard {k} again)")
            by_id[r["id"]] = r
    missing = [pid for pid in prompt_ids if pid not in by_id]
    extra = sorted(set(by_id) - set(prompt_ids))
    if missing or extra:
        raise DnoError(
            f"{what}: shards do not cover this iteration's prompts exactly "
            f"({len(missing)} missing, e.g. {missing[:3]}; {len(extra)} unknown, e.g. {extra[:3]}); "
            "delete the shards directory and re-run the shards"
        )
    return [by_id[pid] for pid in prompt_ids]


def merge(iter_dir: Path, stage: str, n: int | None, inputs: Sequence[Path]) -> Path:
    """Merge the N current shards of `stage` into samples.jsonl / judgments.jsonl (and judge_usage.json);
    `inputs`: what the shards must have been computed from (stale shards are refused, never merged)."""
    iter_dir = Path(iter_dir)
    have = existing(iter_dir, stage, inputs)
    if n is None:
        n = complete_count(iter_dir, stage, inputs)
        if n is None:
            counts = ", ".join(f"{len(v)} of {k}" for k, v in sorted(have.items())) or "none"
            raise DnoError(
                f"{shard_dir(iter_dir)}: no complete set of current {stage} shards (found: {counts}; "
                "shards computed from older inputs do not count)"
            )
    got = have.get(n, {})
    if len(got) != n:
        stale = [i for i in existing(iter_dir, stage).get(n, {}) if i not in got]
        missing = [i for i in range(n) if i not in got]
        raise DnoError(
            f"{shard_dir(iter_dir)}: {stage} shards {missing} of {n} are missing"
            + (f" ({stale} are stale: computed from older inputs; re-run them)" if stale else "")
        )
    prompt_ids = [p["id"] for p in io.read_jsonl(iter_dir / "prompts.jsonl")]
    if stage == "judge":  # judgments follow the samples' order, which is the prompts' order
        prompt_ids = [s["id"] for s in io.read_jsonl(iter_dir / "samples.jsonl")]
    rows = merge_rows(prompt_ids, [io.read_jsonl(got[i]) for i in range(n)], f"{iter_dir} {stage} shards")
    out = iter_dir / f"{STAGE_FILES[stage]}.jsonl"
    if stage == "judge":
        usages = [shard_path(iter_dir, stage, i, n, "json", "judge_usage") for i in range(n)]
        if all(p.is_file() for p in usages):
            io.write_json(iter_dir / "judge_usage.json", merge_usage([io.read_json(p) for p in usages]))
    io.write_jsonl(out, rows)  # written last: its presence marks the stage complete
    return out


def merge_usage(usages: Sequence[dict]) -> dict:
    """Judge usage of several shards: numbers add up (seconds: the longest shard), the rest from shard 0."""
    out: dict = {}
    for u in usages:
        for k, v in u.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                prev = out.get(k)
                prev = prev if isinstance(prev, (int, float)) else 0
                out[k] = max(prev, v) if k == "seconds" else prev + v
            else:
                out.setdefault(k, v)
    out["shards"] = len(usages)
    return out
