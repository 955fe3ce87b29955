"""`dno` command line. Errors in input are one line on stderr and exit status 2."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from dno.config import find_config, split_config_args
from dno.errors import DnoError, redact
from dno.run.commands import _add_stage_commands, cmd_stage


def cmd_run(args) -> int:
    from dno.config import load_config
    from dno.run.lock import hold
    from dno.run.loop import parse_stop, run_loop
    from dno.run.preflight import preflight
    from dno.run.rundir import RunDir, check_target

    name, overrides = split_config_args(args.items)
    path = find_config(name)
    cfg = load_config(path, overrides)
    parse_stop(args.stop_after)
    run_dir = Path(args.run_dir) if args.run_dir else Path("runs") / path.stem
    preflight(cfg, run_dir)  # every input checked before the run directory is created or touched
    check_target(run_dir)
    with hold(run_dir):
        run = RunDir.open(run_dir, cfg)
        return 0 if run_loop(run, args.stop_after) or args.stop_after else 1


def cmd_agree(args) -> int:
    from dno.analysis import agreement
    from dno.config import load_config

    name, overrides = split_config_args(args.items)
    cfg = load_config(find_config(name), overrides)
    r = agreement.main(
        cfg,
        run_dir=args.run_dir,
        n_prompts=args.prompts,
        max_pairs=args.pairs,
        cache_dir=args.cache_dir,
        out=args.out,
        injection=args.injection,
    )
    print(agreement.report(r))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dno", description="Direct Nash Optimization: self-improvement by self-play against a judge."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = sub.add_parser(
        "run",
        help="run (or resume) DNO iterations",
        description=(
            "Run sample → judge → pair → train → eval for every iteration, resuming a run directory where it stopped. "
            "CONFIG is a YAML file or a shipped config name (default: the embedded default); "
            "key=value arguments override it, e.g. `dno run configs/default.yaml train.beta=0.05`."
        ),
    )
    run.add_argument("items", nargs="*", metavar="[CONFIG] [key=value ...]")
    run.add_argument("--run-dir", help="where the run lives (default: runs/<config name>)")
    run.add_argument("--stop-after", metavar="ITER:STAGE", help="stop once this stage is complete, e.g. 1:judge")
    run.set_defaults(func=cmd_run)

    agree = sub.add_parser(
        "agree",
        help="measure a judge's agreement with the oracle",
        description=(
            "Judge every oracle-ranked pair of the policy's candidates on the default task in both orders and report "
            "agreement with the oracle and position consistency. The judge is the config's `judge` section, e.g. "
            "`dno agree judge.type=api judge.base_url=http://127.0.0.1:8000/v1 judge.model=m judge.mode=pairwise`."
        ),
    )
    agree.add_argument("items", nargs="*", metavar="[CONFIG] [key=value ...]")
    agree.add_argument("--run-dir", help="take candidates from this run's iter_1 samples (default: sample fresh ones)")
    agree.add_argument("--prompts", type=int, default=24, help="fresh prompts to sample candidates for (default 24)")
    agree.add_argument("--pairs", type=int, default=60, help="at most this many pairs (default 60)")
    agree.add_argument("--cache-dir", help="answer cache for LLM/API judges (default: none)")
    agree.add_argument("--out", help="also write the result, per pair, as JSON here")
    agree.add_argument(
        "--injection",
        type=int,
        default=12,
        metavar="N",
        help=(
            "judge manipulation: N right/wrong arithmetic pairs, the wrong answer also with a note addressing the "
            "judge appended; reports how often the judge prefers it (default 12; 0 = skip)"
        ),
    )
    agree.set_defaults(func=cmd_agree)

    ev = sub.add_parser(
        "eval",
        help="evaluate a run's policies against a baseline with any judge",
        description=(
            "Win rate (ties = ½) with a 95%% bootstrap interval, length-controlled win rate, mean length and a "
            "per-task breakdown of each iteration's policy against a baseline, on held-out prompts. Results go to "
            "RUN/evals/<baseline>__<judge>/ and are cached: a rerun skips finished iterations. "
            "Extra judge.KEY=VALUE arguments override the run's eval judge, e.g. `judge.model=gpt-4o`."
        ),
    )
    ev.add_argument("run_dir", metavar="RUN")
    ev.add_argument("overrides", nargs="*", metavar="judge.KEY=VALUE")
    ev.add_argument(
        "--baseline",
        default="iter0",
        metavar="iter0|FILE.jsonl|FILE.json|OTHER_RUN[:T]",
        help=(
            "what to compare against: the run's iteration-0 policy (default), a JSONL file of {id, response} "
            "(e.g. a teacher's answers), an AlpacaEval-style JSON list of {instruction, output} (reference "
            "answers, matched to the prompts by instruction), or another run's policy π_T (default T: its last "
            "iteration)"
        ),
    )
    ev.add_argument("--judge", metavar="TYPE", help="judge type (default: the run's eval.judge)")
    ev.add_argument(
        "--iterations",
        metavar="all|1,3",
        help="which iterations (default: all trained; iteration 0 too when the baseline is not iter0)",
    )
    ev.add_argument("--split", default="test", choices=("test", "val", "ood"), help="held-out prompts to use")
    ev.add_argument(
        "--prompts",
        metavar="FILE",
        help=(
            "instead of a split: held-out prompts from a file (JSONL, JSON, CSV, Parquet; read like data.source "
            "with the run's column settings), e.g. a larger test set or your own benchmark"
        ),
    )
    ev.add_argument(
        "--report", action="store_true", help="also write report.md and plots into the evaluation directory"
    )
    ev.add_argument(
        "--iter",
        type=int,
        metavar="T",
        help=(
            "instead: run iteration T's own eval stage (and val, when configured) on the run directory, as "
            "`dno run` does (RUN/iter_T/eval/), computing the baseline first if needed"
        ),
    )
    ev.set_defaults(func=cmd_eval)

    rep = sub.add_parser(
        "report",
        help="write report.md and PNG plots for one or several runs",
        description=(
            "Win rate and length-controlled win rate per iteration with intervals, mean length, per-task breakdown, "
            "pairs by type, margin histogram, training curves, judge failures and cost; several runs side by side, "
            "with the performance gap recovered when a weak-judge run is given with an oracle-judge run."
        ),
    )
    rep.add_argument("runs", nargs="+", metavar="RUN")
    rep.add_argument("--out", help="output directory (default: the run directory for one run, ./report for several)")
    rep.add_argument(
        "--eval",
        dest="eval_key",
        metavar="KEY",
        help="report a `dno eval` result (RUN/evals/KEY) instead of the runs' own eval stage",
    )
    rep.set_defaults(func=cmd_report)

    exp = sub.add_parser(
        "export",
        help="write an iteration's answers or pairs in a standard format (AlpacaEval, TRL)",
        description=(
            "alpaca_eval: iteration T's greedy answers to the held-out prompts (T = 0: the starting policy's) as "
            "AlpacaEval's model_outputs.json, a JSON list of {instruction, output, generator, dataset}. "
            "trl: iteration T's pairs as a conversational preference dataset (prompt, chosen, rejected) saved with "
            "`datasets`, which TRL's DPOTrainer loads unchanged (and pair.warm_start reads). Only what the run "
            "wrote is exported; an existing different output is kept unless --force. See docs/export.md."
        ),
    )
    exp.add_argument("run_dir", metavar="RUN")
    exp.add_argument("--iter", type=int, required=True, metavar="T", help="the iteration (0 = the starting policy)")
    exp.add_argument("--format", required=True, choices=("alpaca_eval", "trl"), dest="fmt")
    exp.add_argument(
        "--split", choices=("test", "val", "ood"), help="alpaca_eval: which held-out prompts (default test)"
    )
    exp.add_argument(
        "--out",
        help="the file (alpaca_eval) or directory (trl) to write (default: RUN/exports/iter_T.<split>.model_outputs.json "
        "or RUN/exports/iter_T.pairs_trl)",
    )
    exp.add_argument("--force", action="store_true", help="replace an existing, different output")
    exp.set_defaults(func=cmd_export)
    _add_stage_commands(sub)
    return parser


def cmd_eval(args) -> int:
    if args.iter is not None:  # the run's own eval stage of one iteration (GPU-node scripts)
        args.stage, args.force, args.shard = "eval", False, None
        return cmd_stage(args)
    from dno.analysis.report import write_report
    from dno.run.commands import require_run
    from dno.run.evals import run_eval
    from dno.run.lock import hold
    from dno.run.loop import set_threads

    set_threads(0)
    require_run(args.run_dir)
    with hold(args.run_dir, None, "evals"):  # writes only RUN/evals/: a `dno run` may go on beside it
        out, results = run_eval(
            args.run_dir,
            baseline=args.baseline,
            iterations=args.iterations,
            judge_type=args.judge,
            judge_overrides=args.overrides,
            split=args.split,
            prompts_file=args.prompts,
        )
    print((out / "summary.md").read_text(), end="")
    print(f"(results in {out})")
    if args.report:
        print(f"report: {write_report([args.run_dir], out, eval_key=out.name)}")
    return 0


def cmd_export(args) -> int:
    from dno.run.export import export

    path, n, written = export(args.run_dir, args.iter, args.fmt, split=args.split, out=args.out, force=args.force)
    what = "answers" if args.fmt == "alpaca_eval" else "pairs"
    print(f"{path} ({n} {what})" if written else f"{path}: already there, unchanged ({n} {what})")
    return 0


def cmd_report(args) -> int:
    from dno.analysis.report import write_report

    path = write_report(args.runs, args.out, eval_key=args.eval_key)
    print(f"report: {path} (plots beside it)")
    return 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line as `dno` reads it: key=value overrides may also follow the options
    (`dno sample RUN --iter 1 threads=8`). Anything else it does not accept exits with status 2."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        if isinstance(getattr(args, "overrides", None), list) and all(
            "=" in e and not e.startswith("-") for e in extra
        ):
            args.overrides += extra
        else:
            parser.parse_args(argv)  # argparse's own error message and exit status 2
    return args


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler's cancel, `kill`): stopped like Ctrl-C, so files are left as after an interrupt."""


def _on_sigterm(signum, frame):
    raise Terminated


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args_list = sys.argv[1:] if argv is None else argv
    if not args_list:
        args_list = ["run"]  # `dno` alone runs the embedded default
    args = parse_args(args_list)
    if not getattr(args, "func", None):
        build_parser().print_help()
        return 2
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
        return args.func(args)
    except DnoError as e:
        print(f"dno: error: {redact(str(e))}", file=sys.stderr)
        return 2
    except OSError as e:  # disk full, read-only, permission: the environment, not dno
        where = f"{e.filename}: " if e.filename else ""
        print(
            f"dno: error: {redact(where)}{e.strerror or e}; fix that and run the same command again to resume",
            file=sys.stderr,
        )
        return 2
    except Terminated:
        print("dno: terminated (SIGTERM); run the same command again to resume", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("dno: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    finally:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
