"""The DNO loop: for t = 1..T run sample → judge → pair → train → eval, skipping finished stages."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import torch

from dno import faults, io, stages
from dno.analysis.tables import DASH, interval, num, pct, table
from dno.errors import DnoError, redact
from dno.preferences.pairing import unfinished_share
from dno.run.rundir import RunDir


def log(msg: str) -> None:
    print(f"[dno {time.strftime('%H:%M:%S')}] {redact(msg)}", file=sys.stderr, flush=True)


def set_threads(n: int) -> None:
    torch.set_num_threads(n or os.cpu_count() or 1)


def parse_stop(stop_after: str | None) -> tuple[int, str] | None:
    """'2:judge' → (2, 'judge'): stop once that stage of that iteration is complete."""
    if not stop_after:
        return None
    it, _, stage = stop_after.partition(":")
    if not it.isdigit() or stage not in stages.STAGES:
        raise DnoError(
            f"--stop-after: expected ITER:STAGE with STAGE one of {', '.join(stages.STAGES)}, got {stop_after!r}"
        )
    return int(it), stage


def run_loop(run: RunDir, stop_after: str | None = None) -> bool:
    """Run (or resume) every stage; returns True when the whole run is complete."""
    stop = parse_stop(stop_after)
    set_threads(run.cfg.threads)
    remove_stale_temporaries(run)
    faults.enter("prepare")
    stages.prepare(run)
    t0 = time.perf_counter()
    faults.enter("baseline")
    if stages_in_children(run):
        run_child(run, "baseline", str(run.root))
    else:
        stages.baseline(run)
    for t in range(1, run.cfg.iterations + 1):
        for stage in stages.STAGES:
            if stages.is_done(run, t, stage):
                log(f"iter {t} {stage}: done, skipping")
            else:
                log(f"iter {t} {stage} ...")
                start = time.perf_counter()
                faults.enter(f"iter{t}.{stage}")
                if stages_in_children(run):  # the child records its own time
                    run_child(run, "eval" if stage in stages.EVALS else stage, str(run.root), "--iter", str(t))
                else:
                    stages.RUNNERS[stage](run, t)
                    run.record_time(t, stage, time.perf_counter() - start)
                log(f"iter {t} {stage}: {time.perf_counter() - start:.1f}s{_stage_note(run, t, stage)}")
            if stop == (t, stage):
                log(f"stopped after iter {t} {stage} as asked; run again to resume")
                return False
    best = stages.best_iteration(run)
    if best is not None:
        io.write_json(run.root / "best.json", best)
        log(
            f"best iteration on {'validation' if best['chosen_on'] == 'val' else 'out-of-distribution'} prompts: "
            f"{best['iteration']} (win rate {100 * best[best['chosen_on'] + '_win_rate']:.1f}%): {best['policy']}"
        )
    table = summary_table(run)
    io.write_text(run.root / "summary.md", table)
    write_run_report(run)
    log(f"run complete in {time.perf_counter() - t0:.0f}s (this invocation); results in {run.root}")
    print(table)
    return True


def stages_in_children(run: RunDir) -> bool:
    """With the vLLM backend every stage runs in its own child process: a vLLM engine frees its GPU memory
    only when its process exits, and memory held by training or HF generation keeps an engine from
    starting. (The HF backend runs the stages in this process.)"""
    return run.cfg.sample.backend == "vllm"


def run_child(run: RunDir, *argv: str) -> None:
    """`dno ARGV` as a child process on this run directory (its own stage command: same files, same resume)."""
    r = subprocess.run([sys.executable, "-m", "dno.cli", *argv])
    if r.returncode:
        raise DnoError(
            f"`dno {' '.join(argv)}` failed in its child process (exit status {r.returncode}); "
            "run the same command again to resume"
        )


def remove_stale_temporaries(run: RunDir) -> None:
    """Delete what a killed invocation left half-written: atomic writes' `.NAME.*.dno.tmp` files and folders
    (`dno export --format trl`) and `iter_<t>/.policy.tmp/`. No stage reads them and a stage redone writes
    fresh ones; nothing else in the run directory (a user's own `.tmp` files included) is touched."""
    import shutil

    for p in sorted(run.root.rglob(f".*{io.TMP_SUFFIX}"), reverse=True):
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        elif p.is_file():
            p.unlink(missing_ok=True)
    for p in run.root.glob("iter_*/.policy.tmp"):
        shutil.rmtree(p, ignore_errors=True)


def write_run_report(run: RunDir) -> None:
    """report.md and the plots in the run directory. A failure here never fails a finished run."""
    from dno.analysis.report import write_report

    try:
        path = write_report([run.root], run.root)
        log(f"report: {path} (plots beside it)")
    except Exception as e:  # noqa: BLE001 - the run's results are on disk either way
        log(f"could not write the report ({type(e).__name__}: {e}); retry with `dno report {run.root}`")


def _cut_off(run: RunDir, t: int) -> float | None:
    path = run.iter_dir(t) / "samples.jsonl"
    return unfinished_share(io.read_jsonl(path)) if path.is_file() else None


def _stage_note(run: RunDir, t: int, stage: str) -> str:
    if stage == "sample" and (share := _cut_off(run, t)) is not None:
        return f", {100 * share:.0f}% of samples cut off at sample.max_new_tokens (pair.unfinished={run.cfg.pair.unfinished})"
    if stage == "judge" and t == 1 and (run.root / "judge_check.json").is_file():
        from dno.stages.judge import check_summary

        c = io.read_json(run.root / "judge_check.json")
        return f"; judge check: {c['skipped'] if 'skipped' in c else check_summary(c)}"
    if stage == "pair":
        counts = stages.pair_counts(run, t)
        return f", {sum(counts.values())} pairs" + (f" ({dict(counts)})" if counts else "")
    if stage in stages.EVALS:
        m = io.read_json(run.iter_dir(t) / stage / "metrics.json")
        return f", win rate {100 * m['win_rate']:.1f}% [{100 * m['ci_low']:.1f}, {100 * m['ci_high']:.1f}]" + (
            f", length-controlled {100 * m['lc_win_rate']:.1f}%, length ×{m['length_ratio']:.2f}"
            if m.get("length_ratio", 0) == m.get("length_ratio", 0) and "lc_win_rate" in m
            else ""
        )
    return ""


def summary_table(run: RunDir) -> str:
    """summary.md: win rate per iteration against π_0, with the seconds each stage took."""
    head = ["iter", "win rate vs iter 0", "95% CI", "OOD win rate", "OOD 95% CI", "val win rate", "mean score"]
    head += ["samples cut off %", "pairs", "mean length (chars)"] + [f"{s} s" for s in stages.STAGES]
    rows = []
    for t in range(1, run.cfg.iterations + 1):
        path = run.iter_dir(t) / "eval" / "metrics.json"
        if not path.is_file():
            continue
        m = io.read_json(path)
        if not rows:
            rows.append(
                ["0", "50.0 (itself)", DASH, "50.0", DASH, "50.0", num(m["baseline_mean_score"], ".2f"), DASH, DASH]
                + [num(m["baseline_mean_length"])]
                + [DASH] * len(stages.STAGES)
            )
        times = run.timings(t)
        val, ood = (run.iter_dir(t) / s / "metrics.json" for s in ("val", "ood"))
        o = io.read_json(ood) if ood.is_file() else None
        rows.append(
            [str(t), pct(m["win_rate"]), interval(m)]
            + ([pct(o["win_rate"]), interval(o)] if o else [DASH, DASH])
            + [pct(io.read_json(val)["win_rate"]) if val.is_file() else DASH, num(m["mean_score"], ".2f")]
            + [pct(_cut_off(run, t)), str(sum(stages.pair_counts(run, t).values())), num(m["mean_length"])]
            + [num(times.get(s)) for s in stages.STAGES]
        )
    return f"# {run.root.name}: win rate per iteration\n\n" + table(head, rows)
