"""The stage-by-stage commands on a run directory (GPU nodes: scripts/iteration.sh, docs/gpu.md):
`dno prepare`, `dno baseline`, `dno sample|judge|pair|train --iter T [--shard I/N]`, `dno merge`."""

from __future__ import annotations

import sys
from pathlib import Path

from dno.config import find_config, launch_keys, split_config_args
from dno.errors import DnoError

# Settings a stage command may override for this invocation only: the launch settings, which do not change
# what a run computes (dno.config.setting); the run directory's config.yaml is left as it is.
LAUNCH_KEYS = tuple(sorted(launch_keys()))


def _add_stage_commands(sub) -> None:
    prep = sub.add_parser(
        "prepare",
        help="create a run directory: config.yaml and the prompt slices",
        description=(
            "Write RUN/config.yaml and fix the test / validation / per-iteration prompt slices, without running any "
            "stage; then `dno baseline`, `dno sample` ... work on RUN. Same arguments as `dno run`."
        ),
    )
    prep.add_argument("items", nargs="*", metavar="[CONFIG] [key=value ...]")
    prep.add_argument("--run-dir", help="where the run lives (default: runs/<config name>)")
    prep.add_argument(
        "--train-processes",
        type=int,
        metavar="N",
        help=("check now that train.batch_size fits N training processes (the scripts pass their GPU count)"),
    )
    prep.add_argument(
        "--accelerate-config",
        metavar="FILE",
        help="the accelerate config training will use (DeepSpeed "
        "needs train.batch_size to be a multiple of processes x accumulation steps)",
    )
    prep.set_defaults(func=cmd_prepare)

    base = sub.add_parser("baseline", help="π_0's greedy answers to the held-out prompts (run dir)")
    base.add_argument("run_dir", metavar="RUN")
    base.add_argument(
        "overrides", nargs="*", metavar="key=value", help=f"this invocation only: {', '.join(LAUNCH_KEYS)}"
    )
    base.set_defaults(func=cmd_stage, stage="baseline", iter=0, shard=None, force=False)

    helps = {
        "sample": "K samples per prompt from π_{T-1}",
        "judge": "score every sample",
        "pair": "build (chosen, rejected) pairs",
        "train": "train π_T from π_{T-1} (one process, or every process of accelerate launch)",
    }
    for stage, text in helps.items():
        p = sub.add_parser(
            stage,
            help=f"one stage of iteration T on a run directory: {text}",
            description=(
                f"Run the {stage} stage of iteration T on RUN with RUN/config.yaml; skipped when its output exists "
                "(--force redoes it)."
                + (
                    " --shard I/N does shard I of N (counted from 0) and merges once all N "
                    "are on disk; see docs/gpu.md."
                    if stage in ("sample", "judge")
                    else ""
                )
                + (" Under `accelerate launch` it trains on every process (docs/gpu.md)." if stage == "train" else "")
            ),
        )
        p.add_argument("run_dir", metavar="RUN")
        p.add_argument(
            "overrides", nargs="*", metavar="key=value", help=f"this invocation only: {', '.join(LAUNCH_KEYS)}"
        )
        p.add_argument("--iter", type=int, required=True, metavar="T", help="the iteration (1..iterations)")
        if stage in ("sample", "judge"):
            p.add_argument("--shard", metavar="I/N", help="only shard I of N (I = 0..N-1)")
        else:
            p.set_defaults(shard=None)
        p.add_argument("--force", action="store_true", help="redo the stage even if its output exists")
        p.set_defaults(func=cmd_stage, stage=stage)

    merge = sub.add_parser(
        "merge",
        help="merge the shards of a sample or judge stage",
        description=(
            "Concatenate RUN/iter_T/shards/<stage>.*-of-N.jsonl in prompt order into samples.jsonl / judgments.jsonl "
            "(with the HF sampler, byte-identical to an unsharded run); shards computed from inputs that changed since "
            "are refused. The last shard to finish does this by itself."
        ),
    )
    merge.add_argument("run_dir", metavar="RUN")
    merge.add_argument("--iter", type=int, required=True, metavar="T")
    merge.add_argument("--stage", required=True, choices=("sample", "judge"))
    merge.add_argument("--shards", type=int, metavar="N", help="merge the set of N shards (default: the complete set)")
    merge.set_defaults(func=cmd_merge)


def require_run(run_dir: str) -> Path:
    """RUN/config.yaml, or a DnoError saying how to make a run directory."""
    saved = Path(run_dir) / "config.yaml"
    if not saved.is_file():
        raise DnoError(
            f"{run_dir}: not a dno run directory (no config.yaml); create it with `dno prepare CONFIG --run-dir {run_dir}`"
        )
    return saved


def _open_run(run_dir: str, overrides=()):
    """The run directory with its saved config (+ LAUNCH_KEYS overrides for this invocation)."""
    from dno.config import load_config
    from dno.run.rundir import RunDir

    saved = require_run(run_dir)
    bad = [o for o in overrides if o.split("=", 1)[0].strip() not in LAUNCH_KEYS]
    if bad:
        raise DnoError(
            f"{bad[0]}: a stage command may only override {', '.join(LAUNCH_KEYS)} "
            "(the rest of the run's settings are fixed in its config.yaml)"
        )
    run = RunDir.open(run_dir, load_config(saved, saved_run=True))
    if overrides:
        run = RunDir(run.root, load_config(saved, overrides, saved_run=True))  # not written back: this invocation only
    return run


def cmd_prepare(args) -> int:
    from dno import stages
    from dno.config import load_config
    from dno.run.rundir import RunDir

    name, overrides = split_config_args(args.items)
    path = find_config(name)
    cfg = load_config(path, overrides)
    from dno.run.preflight import check_training_layout, preflight

    preflight(cfg)  # models, prompts and judges checked before the run directory is touched
    if args.train_processes:
        warning = check_training_layout(cfg, args.train_processes, args.accelerate_config)
        if warning:
            print(f"dno: warning: {warning}", file=sys.stderr)
    from dno.run.lock import hold
    from dno.run.rundir import check_target

    root = Path(args.run_dir) if args.run_dir else Path("runs") / path.stem
    check_target(root)
    with hold(root):
        run = RunDir.open(root, cfg)
        stages.prepare(run)
    print(run.root)
    return 0


def stage_lock_name(stage: str, t: int, shard: tuple[int, int] | None) -> str:
    """The lock a stage command holds for its own work (see dno.run.lock): shards of one stage differ."""
    if stage == "baseline":
        return "baseline"
    return f"iter{t}.{stage}" + (f".{shard[0]}-of-{shard[1]}" if shard else "")


def cmd_stage(args) -> int:
    from dno.run import shards
    from dno.run.lock import hold
    from dno.training.loop import is_main_process

    shard = shards.parse_shard(getattr(args, "shard", None))
    # Every process of `accelerate launch` runs the train command; the main one owns the stage.
    stage_lock = stage_lock_name(args.stage, args.iter, shard) if is_main_process() else None
    require_run(args.run_dir)
    with hold(args.run_dir, "shared", stage_lock):
        return _run_stage(args, shard)


def _run_stage(args, shard) -> int:
    import time

    from dno import stages
    from dno.run import shards
    from dno.run.loop import log, set_threads
    from dno.stages.common import shard_inputs
    from dno.training.loop import is_main_process

    run = _open_run(args.run_dir, getattr(args, "overrides", None) or ())
    set_threads(run.cfg.threads)
    t, stage = args.iter, args.stage
    if stage == "baseline":
        stages.prepare(run)
        stages.baseline(run)
        return 0
    if not 1 <= t <= run.cfg.iterations:
        raise DnoError(f"--iter {t}: this run has iterations 1..{run.cfg.iterations}")
    if not (run.iter_dir(t) / "prompts.jsonl").is_file():
        stages.prepare(run)
    todo = [stage] if stage != "eval" else list(stages.EVALS)
    for s in todo:
        done = stages.is_done(run, t, s) or (
            shard is not None
            and shards.is_current(shards.shard_path(run.iter_dir(t), s, *shard), shard_inputs(run, t, s))
        )
        if done and not args.force:
            log(f"iter {t} {s}{f' shard {shard[0]}/{shard[1]}' if shard else ''}: done, skipping")
            continue
        missing = stages.missing_input(run, t, s)
        if missing:
            raise DnoError(f"iter {t} {s}: its input is not there yet; run {missing} first")
        if s in stages.EVALS:
            stages.baseline(run)
        start = time.perf_counter()
        if shard is not None:
            stages.RUNNERS[s](run, t, shard)
        else:
            stages.RUNNERS[s](run, t)
        secs = time.perf_counter() - start
        if shard is None and is_main_process():
            run.record_time(t, s, secs)
        log(f"iter {t} {s}{f' shard {shard[0]}/{shard[1]}' if shard else ''}: {secs:.1f}s")
    return 0


def cmd_merge(args) -> int:
    from dno.run import shards
    from dno.run.lock import hold
    from dno.stages.common import shard_inputs

    require_run(args.run_dir)
    with hold(args.run_dir, "shared", f"iter{args.iter}.{args.stage}.merge"):
        run = _open_run(args.run_dir)
        print(shards.merge(run.iter_dir(args.iter), args.stage, args.shards, shard_inputs(run, args.iter, args.stage)))
    return 0
