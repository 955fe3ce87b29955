"""`dno` command line. Errors in input are one line on stderr and exit status 2."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dno.errors import DnoError

PACKAGE_CONFIGS = Path(__file__).parent / "configs"


def find_config(name: str | None) -> Path:
    """A config path, or the name of a shipped config (`default`, `tiny`)."""
    if name is None:
        return PACKAGE_CONFIGS / "default.yaml"
    path = Path(name)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    shipped = PACKAGE_CONFIGS / f"{name}.yaml"
    if shipped.is_file():
        return shipped
    raise DnoError(f"{name}: no such config file (shipped configs: "
                   f"{', '.join(sorted(p.stem for p in PACKAGE_CONFIGS.glob('*.yaml')))})")


def _split_args(items: list[str]) -> tuple[str | None, list[str]]:
    if items and "=" not in items[0]:
        return items[0], items[1:]
    return None, items


def cmd_run(args) -> int:
    from dno.config import load_config
    from dno.loop import run_loop
    from dno.rundir import RunDir

    name, overrides = _split_args(args.items)
    path = find_config(name)
    cfg = load_config(path, overrides)
    run_dir = Path(args.run_dir) if args.run_dir else Path("runs") / path.stem
    run = RunDir.open(run_dir, cfg)
    return 0 if run_loop(run, args.stop_after) or args.stop_after else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dno", description="Direct Nash Optimization: self-improvement by self-play against a judge.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = sub.add_parser("run", help="run (or resume) DNO iterations", description=(
        "Run sample → judge → pair → train → eval for every iteration, resuming a run directory where it stopped. "
        "CONFIG is a YAML file or a shipped config name (default: the embedded default); "
        "key=value arguments override it, e.g. `dno run configs/default.yaml train.beta=0.05`."))
    run.add_argument("items", nargs="*", metavar="[CONFIG] [key=value ...]")
    run.add_argument("--run-dir", help="where the run lives (default: runs/<config name>)")
    run.add_argument("--stop-after", metavar="ITER:STAGE", help="stop once this stage is complete, e.g. 1:judge")
    run.set_defaults(func=cmd_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args_list = sys.argv[1:] if argv is None else argv
    if not args_list:
        args_list = ["run"]  # `dno` alone runs the embedded default
    parser = build_parser()
    args = parser.parse_args(args_list)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
        return args.func(args)
    except DnoError as e:
        print(f"dno: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dno: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
