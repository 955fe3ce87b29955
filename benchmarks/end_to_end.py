"""Seconds per stage of one iteration of the default config, so that the largest cost is visible.

    .venv/bin/python benchmarks/end_to_end.py [--prompts 16] [--test-prompts 16] [KEY=VALUE ...]
    .venv/bin/python benchmarks/end_to_end.py --from runs/default          # read an existing run's timings.json

Default mode: one iteration of `configs/default.yaml` (plus any KEY=VALUE overrides) with
`data.prompts_per_iteration` and `data.test_prompts` shrunk to `--prompts` / `--test-prompts` so that it is
affordable, in a fresh temporary run directory, stage by stage in this process (the baseline's greedy
answers, which `timings.json` leaves out, included). It prints each stage's seconds and share, the work
it did (generated tokens, pairs, steps), and a projection to the config's real sizes: sampling, training
and pairing scale with the training prompts, baseline and eval with the test prompts (linear in the
number of batches; a projection, not a measurement).

`--from RUN_DIR`: the per-iteration `timings.json` of a run that already happened, as recorded.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def from_run(root: Path, save: bool) -> None:
    """An existing run's per-iteration `timings.json` as one table (seconds and share of each stage)."""
    import yaml
    from record import Record

    cfg = yaml.safe_load((root / "config.yaml").read_text()) if (root / "config.yaml").is_file() else {}
    timings = {
        t: json.loads((root / f"iter_{t}" / "timings.json").read_text())
        for t in sorted(int(p.name.split("_")[1]) for p in root.glob("iter_*"))
        if (root / f"iter_{t}" / "timings.json").is_file()
    }
    if not timings:
        raise SystemExit(f"{root}: no iter_*/timings.json")
    last = max(timings)
    rec = Record(  # the figures are the run's, measured when it wrote its last timings
        "end_to_end",
        command=f"benchmarks/end_to_end.py --from {root.name}",
        measured=dt.datetime.fromtimestamp((root / f"iter_{last}" / "timings.json").stat().st_mtime, dt.timezone.utc),
    )
    stages = sorted(
        {k for tm in timings.values() for k in tm}, key=lambda k: -sum(tm.get(k, 0) for tm in timings.values())
    )
    rows = []
    for t, tm in timings.items():
        total = sum(tm.values())
        rows.append([str(t), *(f"{tm[k]:.0f} s ({100 * tm[k] / total:.0f}%)" if k in tm else "–" for k in stages)])
        rows[-1].append(f"{total:.0f} s")
    rec.table(
        "stages",
        ["iteration", *stages, "total"],
        rows,
        note=f"run `{root.name}`: k={cfg.get('sample', {}).get('k')}, "
        f"{cfg.get('data', {}).get('prompts_per_iteration')} prompts per iteration, "
        f"{cfg.get('data', {}).get('test_prompts')} test prompts, train epochs {cfg.get('train', {}).get('epochs')}",
    )
    t, tm = last, timings[last]
    total = sum(tm.values())
    rec.headline_row(
        "seconds per stage, one iteration",
        f"iteration {t}: "
        + ", ".join(
            f"{k} {100 * v / total:.0f}%" for k, v in sorted(tm.items(), key=lambda kv: -kv[1]) if v / total >= 0.02
        ),
        "largest visible",
        "yes",
    )
    rec.finish(save, raw={"run": root.name, "config": cfg, "timings": timings})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--from", dest="from_run", default="", help="print an existing run's timings instead")
    ap.add_argument("--config", default=str(ROOT / "configs" / "default.yaml"))
    ap.add_argument("--prompts", type=int, default=16, help="data.prompts_per_iteration for the timed iteration")
    ap.add_argument("--test-prompts", type=int, default=16, help="data.test_prompts for the timed iteration")
    ap.add_argument("--keep", default="", help="run directory to use and keep (default: a temporary one)")
    ap.add_argument(
        "--save", action="store_true", help="with --from: keep the table in docs/results/bench_end_to_end.json"
    )
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()
    if args.from_run:
        from_run(Path(args.from_run), args.save)
        return

    from dno import io, stages
    from dno.config import load_config
    from dno.models import load_tokenizer, resolve
    from dno.run.loop import set_threads
    from dno.run.rundir import RunDir

    full = load_config(args.config, args.overrides)
    cfg = load_config(
        args.config,
        [
            *args.overrides,
            "iterations=1",
            f"data.prompts_per_iteration={args.prompts}",
            f"data.test_prompts={args.test_prompts}",
            "data.val_prompts=0",
        ],
    )
    root = Path(args.keep or tempfile.mkdtemp(prefix="dno_e2e_"))
    run = RunDir.open(root, cfg)
    set_threads(cfg.threads)
    resolve(cfg.policy.model)  # build the cached checkpoint first, outside the timings
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    stages.prepare(run)
    times["prepare"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    stages.baseline(run)
    times["baseline"] = time.perf_counter() - t0
    for stage in stages.STAGES:
        if stage == "val" and not cfg.data.val_prompts:
            continue
        t0 = time.perf_counter()
        stages.RUNNERS[stage](run, 1)
        times[stage] = time.perf_counter() - t0
        print(f"  {stage}: {times[stage]:.1f} s", flush=True)

    d = run.iter_dir(1)
    tok = load_tokenizer(resolve(cfg.policy.model))
    samples = io.read_jsonl(d / "samples.jsonl")
    gen_tokens = sum(len(tok(r, add_special_tokens=False)["input_ids"]) for s in samples for r in s["responses"])
    pairs = len(io.read_jsonl(d / "pairs.jsonl"))
    steps = len(io.read_jsonl(d / "train_log.jsonl"))
    work = {
        "prepare": "",
        "baseline": f"{args.test_prompts} greedy answers",
        "sample": f"{len(samples)}x{cfg.sample.k} samples, {gen_tokens} tokens ({gen_tokens / times['sample']:.0f} tokens/s)",
        "judge": f"{len(samples) * cfg.sample.k} candidates",
        "pair": f"{pairs} pairs",
        "train": f"{pairs} pairs, {steps} steps ({times['train'] / max(steps, 1):.1f} s/step)",
        "eval": f"{args.test_prompts} greedy answers + judging",
    }
    total = sum(times.values())
    print(
        f"\none iteration of {args.config} at {args.prompts} training / {args.test_prompts} test prompts "
        f"(k={cfg.sample.k}, {cfg.sample.max_new_tokens} new tokens, eval {cfg.eval.max_new_tokens}), "
        f"run dir {root}:"
    )
    for k, v in times.items():
        print(f"  {k:9s} {v:7.1f} s  {100 * v / total:4.0f}%  {work.get(k, '')}")
    print(f"  {'total':9s} {total:7.1f} s")

    # projection to the config's real sizes, by batches
    def batches(n: int, b: int) -> int:
        return -(-n // b)

    ps, pt = full.data.prompts_per_iteration, full.data.test_prompts
    scale = {
        "prepare": 1.0,
        "baseline": batches(pt, cfg.eval.batch_size) / batches(args.test_prompts, cfg.eval.batch_size),
        "eval": batches(pt, cfg.eval.batch_size) / batches(args.test_prompts, cfg.eval.batch_size),
        "sample": batches(ps, cfg.sample.batch_size) / batches(args.prompts, cfg.sample.batch_size),
        "judge": ps / args.prompts,
        "pair": ps / args.prompts,
        "train": batches(round(pairs * ps / args.prompts), cfg.train.batch_size) / max(steps / cfg.train.epochs, 1),
    }
    proj = {k: v * scale[k] for k, v in times.items()}
    ptotal = sum(v for k, v in proj.items() if k != "baseline")
    print(f"\nprojected to {ps} training / {pt} test prompts (per iteration; the baseline is once per run):")
    for k, v in sorted(proj.items(), key=lambda kv: -kv[1]):
        share = "" if k == "baseline" else f"{100 * v / ptotal:4.0f}%"
        print(f"  {k:9s} {v:7.0f} s  {share}")
    print(f"  {'iteration':9s} {ptotal:7.0f} s")
    io.write_json(
        root / "e2e_timings.json",
        {"measured": times, "projected": proj, "generated_tokens": gen_tokens, "pairs": pairs, "steps": steps},
    )


if __name__ == "__main__":
    main()
