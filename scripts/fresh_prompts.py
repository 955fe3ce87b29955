#!/usr/bin/env python3
"""N more held-out prompts for a synthetic-data run: the draws that follow its own pool, so they are
distinct from every prompt the run trained, validated or tested on (checked by text as well).

    python scripts/fresh_prompts.py RUN 512 fresh.jsonl
    dno eval RUN --prompts fresh.jsonl --iterations 3     # then any run made with the same data settings
    python scripts/fresh_prompts.py RUN 512 fresh_ood.jsonl --ood   # out of distribution: after data.ood_prompts

Methods compared on 128 test prompts often cannot be told apart; 512 narrow the interval by half. A task's share of
the 128 out-of-distribution prompts is about 60, too few to say whether it is above or below π_0.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dno.config import load_config  # noqa: E402
from dno.errors import DnoError  # noqa: E402
from dno.tasks import _finish, ood_pool, synthetic_pool  # noqa: E402


def fresh_prompts(run: Path, n: int, ood: bool = False) -> list[dict]:
    cfg = load_config(run / "config.yaml", saved_run=True)
    data = cfg.data
    if data.source != "synthetic":
        raise DnoError(f"{run}: data.source is {data.source!r}; fresh prompts are for synthetic-data runs")
    if ood:  # the run's own out-of-distribution prompts are the first data.ood_prompts of the same pool
        pool = ood_pool(data.ood_prompts + n, data.tasks, data.seed)[data.ood_prompts :]
    else:
        used = data.test_prompts + data.val_prompts + data.prompts_per_iteration * cfg.iterations
        pool = synthetic_pool(used + n, data.tasks, data.seed)[used:]
    if len(pool) < n:
        raise DnoError(f"{run}: the task mix has only {len(pool)} more distinct prompts of this kind, not {n}")
    fresh = [_finish(dict(r), f"fresh{'-ood' if ood else ''}-{i:05d}") for i, r in enumerate(pool)]
    seen = {
        json.dumps(json.loads(line)["messages"])
        for path in [*run.glob("*_prompts.jsonl"), *run.glob("iter_*/prompts.jsonl")]
        for line in path.read_text().splitlines()
        if line.strip()
    }
    clash = [r["id"] for r in fresh if json.dumps(r["messages"]) in seen]
    if clash:  # cannot happen while the pool draws distinct prompts; a guard against a changed generator
        raise DnoError(f"{run}: {len(clash)} fresh prompts repeat the run's own, e.g. {clash[0]}")
    return fresh


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("n", type=int)
    ap.add_argument("out", type=Path)
    ap.add_argument("--ood", action="store_true", help="out-of-distribution prompts (generate_ood), not training-like")
    args = ap.parse_args()
    try:
        rows = fresh_prompts(args.run, args.n, args.ood)
    except DnoError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    args.out.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
    print(f"{len(rows)} prompts -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
