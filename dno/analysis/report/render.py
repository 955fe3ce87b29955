"""report.md, and `write_report`, which writes it with the plots beside it."""

from __future__ import annotations

import statistics
from collections import Counter
from pathlib import Path

from dno import io
from dno.analysis.report.data import PAIR_TYPES, RunData, _ci, _labels, _weak_strong, load_run, pgr, warnings
from dno.analysis.report.plots import plot_length, plot_margins, plot_pairs, plot_training, plot_winrate
from dno.analysis.tables import num, pct, table
from dno.errors import DnoError


def _describe(run: RunData) -> str:
    c = run.cfg
    pol, dat, smp, trn = (c.get(k) or {} for k in ("policy", "data", "sample", "train"))
    n_test = next(iter(run.evals.values()))["n"] if run.evals else dat.get("test_prompts", "?")
    return (
        f"**{run.label}** (`{run.root}`): policy `{pol.get('model', '?')}`, trained with the "
        f"`{run.train_judge}` judge for {c.get('iterations', '?')} iteration(s) "
        f"({dat.get('prompts_per_iteration', '?')} prompts each, K={smp.get('k', '?')}, "
        f"β={trn.get('beta', '?')}, lr={trn.get('lr', '?')}); evaluated by `{run.eval_judge}` on {n_test} "
        f"held-out prompts against {run.baseline_name}"
        + (f" (`dno eval` result `{run.eval_key}`)." if run.eval_key else " (its own eval stage).")
    )


def _ood_section(runs: list[RunData], multi: bool) -> list[str]:
    """Win rate on prompts phrased unlike the training prompts, overall and per task."""
    if not any(r.ood for r in runs):
        return []
    L = [
        "## Out of distribution",
        "",
        "The same skills asked in templates and words the training prompts never use (`data.ood_prompts`), "
        "judged against iteration 0's answers: a gain that only learned the generator's phrasing shows here.",
        "",
    ]
    head = (["run"] if multi else []) + ["iter", "test win rate %", "OOD win rate %", "95% CI", "OOD by task"]
    rows = []
    for r in runs:
        for t in sorted(r.ood):
            m, tasks = r.ood[t], r.ood[t].get("by_task") or {}
            rows.append(
                ([r.label] if multi else [])
                + [str(t), pct(r.evals.get(t, {}).get("win_rate")), pct(m["win_rate"]), _ci(m, "ci_low", "ci_high")]
                + [", ".join(f"{k} {pct(b['win_rate'])}" for k, b in sorted(tasks.items())) or "–"]
            )
    return L + [table(head, rows), ""]


def render(runs: list[RunData]) -> str:
    multi = len(runs) > 1
    title = ", ".join(r.label for r in runs)
    L = [f"# DNO report: {title}", ""]
    L += [f"- {_describe(r)}" for r in runs] + [""]

    L += [
        "## Win rate per iteration",
        "",
        "Ties count as half. LC = length-controlled: the win rate a logistic model of the outcome on the "
        "answer-length difference predicts at equal length (AlpacaEval 2 style). Intervals: 95% bootstrap over prompts.",
        "",
    ]
    head = (["run"] if multi else []) + [
        "iter",
        "win rate %",
        "95% CI",
        "LC win rate %",
        "95% CI",
        "wins / ties / losses",
        "mean length (chars)",
        "× baseline",
        "mean score",
        "pairs",
    ]
    rows = []
    for r in runs:
        ts = sorted(r.evals)
        if ts and 0 not in r.evals:
            m0 = r.evals[ts[0]]
            rows.append(
                ([r.label] if multi else [])
                + [
                    "0",
                    "50.0 (itself)",
                    "–",
                    "–",
                    "–",
                    "–",
                    num(m0["baseline_mean_length"]),
                    "1.00",
                    num(m0.get("baseline_mean_score"), ".2f"),
                    "–",
                ]
            )
        for t in r.iterations():
            m = r.evals.get(t)
            npairs = str(len(r.pairs[t])) if t in r.pairs else "–"
            if m is None:
                rows.append(([r.label] if multi else []) + [str(t), "(not evaluated)"] + ["–"] * 7 + [npairs])
                continue
            rows.append(
                ([r.label] if multi else [])
                + [
                    str(t),
                    pct(m["win_rate"]),
                    _ci(m, "ci_low", "ci_high"),
                    pct(m.get("lc_win_rate")),
                    _ci(m, "lc_ci_low", "lc_ci_high"),
                    f"{m['wins']} / {m['ties']} / {m['losses']}",
                    num(m["mean_length"]),
                    num(m.get("length_ratio"), ".2f"),
                    num(m.get("mean_score"), ".2f"),
                    npairs,
                ]
            )
    L += [table(head, rows), "![win rate per iteration](winrate.png)", ""]
    L += _ood_section(runs, multi)

    warns = [w for r in runs for w in warnings(r)]
    L += ["## Things to check", ""]
    L += (
        [f"- ⚠ {w}" for w in warns]
        if warns
        else ["- Nothing flagged: no length blow-up, no per-task regression, no judge failures."]
    )
    L += [""]

    L += ["## Length", "", "![mean length per iteration](length.png)", ""]

    L += ["## By task", ""]
    rows = []
    for r in runs:
        for t in sorted(r.evals):
            for task, b in (r.evals[t].get("by_task") or {}).items():
                rows.append(
                    ([r.label] if multi else [])
                    + [
                        task,
                        str(t),
                        str(b["n"]),
                        pct(b["win_rate"]),
                        _ci(b, "ci_low", "ci_high"),
                        num(b["mean_length"]),
                        num(b["baseline_mean_length"]),
                    ]
                )
    L += [
        table(
            (["run"] if multi else [])
            + ["task", "iter", "prompts", "win rate %", "95% CI", "mean length", "baseline length"],
            rows,
        )
        if rows
        else "(no evaluations)\n"
    ]

    L += ["## Pairs", ""]
    rows = []
    for r in runs:
        for t in sorted(r.pairs):
            ps = r.pairs[t]
            c = Counter(p.get("type", "?") for p in ps)
            margins = [p["margin"] for p in ps if isinstance(p.get("margin"), (int, float))]
            rows.append(
                ([r.label] if multi else [])
                + [str(t), pct(r.unfinished[t]) if t in r.unfinished else "–", str(len(ps))]
                + [str(c.get(k, 0)) for k in PAIR_TYPES]
                + [str(sum(not p.get("chosen_finished", True) for p in ps))]
                + [
                    num(statistics.fmean(margins), ".2f") if margins else "–",
                    num(statistics.fmean(len(p["chosen"]) for p in ps) if ps else None),
                    num(statistics.fmean(len(p["rejected"]) for p in ps) if ps else None),
                ]
            )
    L += [
        table(
            (["run"] if multi else [])
            + ["iter", "samples cut off %", "pairs"]
            + list(PAIR_TYPES)
            + ["chosen cut off", "mean margin", "chosen length", "rejected length"],
            rows,
        )
        if rows
        else "(no pairs yet)\n",
        "Samples cut off: the policy's samples that hit sample.max_new_tokens (pair.unfinished decides whether "
        "they may be chosen). A chosen answer much longer than the rejected one teaches length as much as quality.",
        "",
        "![pairs per iteration by type](pairs.png)",
        "",
        "![margin histogram](margins.png)",
        "",
    ]

    L += ["## Training", ""]
    rows = []
    for r in runs:
        for t in sorted(r.train_logs):
            log = r.train_logs[t]
            if not log:
                rows.append(([r.label] if multi else []) + [str(t), "0"] + ["–"] * 4)
                continue
            first, last = log[0], log[-1]
            rows.append(
                ([r.label] if multi else [])
                + [
                    str(t),
                    str(len(log)),
                    num(first.get("loss"), ".3f"),
                    num(last.get("loss"), ".3f"),
                    num(last.get("reward_margin"), ".3f"),
                    num(last.get("reward_accuracy"), ".2f"),
                ]
            )
    L += [
        table(
            (["run"] if multi else [])
            + ["iter", "steps", "first loss", "last loss", "last reward margin", "last reward accuracy"],
            rows,
        )
        if rows
        else "(no training yet)\n",
        "![training curves](training.png)",
        "",
    ]

    checks = [(r, r.judge_check) for r in runs if r.judge_check and "skipped" not in r.judge_check]
    if checks:
        L += [
            "## Judge check",
            "",
            "Before iteration 1 the training judge judged pairs of its own candidates that the oracle ranks, in both "
            "orders (judge.check_pairs). Position consistency: both orders pick the same answer; calibrated: after "
            "removing the judge's average lean towards the first-shown answer.",
            "",
            table(
                (["run"] if multi else [])
                + [
                    "judge",
                    "pairs",
                    "agreement %",
                    "95% CI",
                    "position consistency %",
                    "calibrated %",
                    "first shown %",
                ],
                [
                    ([r.label] if multi else [])
                    + [
                        str(c["judge"]),
                        str(c["judged"]),
                        pct(c["agreement"]),
                        f"{pct(c['agreement_ci_low'])}–{pct(c['agreement_ci_high'])}",
                        pct(c["position_consistency"]),
                        pct(c["position_consistency_calibrated"]),
                        pct(c["first_position_rate"]),
                    ]
                    for r, c in checks
                ],
            ),
            "",
        ]
    L += ["## Judge failures and cost", ""]
    rows = []
    for r in runs:
        for t in sorted(r.judge_stats):
            for stage, s in sorted(r.judge_stats[t].items(), key=lambda kv: kv[0] != "train"):
                secs = r.timings.get(t, {}).get("judge" if stage == "train" else "eval")
                rows.append(
                    ([r.label] if multi else [])
                    + [
                        str(t),
                        "pairing" if stage == "train" else "evaluation",
                        r.train_judge if stage == "train" else r.eval_judge,
                        str(s.get("candidates", 0)),
                        str(s.get("failed", 0)),
                        num(s.get("prompt_tokens")) if "prompt_tokens" in s else "–",
                        num(s.get("completion_tokens")) if "completion_tokens" in s else "–",
                        f"{s['cost_usd']:.2f}" if "cost_usd" in s else "–",
                        num(secs, ".0f"),
                        pct(1 - s["noise_wrong"] / s["noise_pairs"]) if s.get("noise_pairs") else "–",
                    ]
                )
    L += [
        table(
            (["run"] if multi else [])
            + [
                "iter",
                "judging for",
                "judge",
                "answers scored",
                "failed",
                "prompt tokens",
                "completion tokens",
                "cost $",
                "stage s",
                "noisy judge right %",
            ],
            rows,
        )
        if rows
        else "(nothing judged yet)\n",
        "Failed judgments are NaN: left out of pairing and of win rates, never counted as ties. "
        "Token counts and cost appear when the judge reports them (API judges); `stage s` is the whole stage. "
        "Noisy judge right: with judge.noise, the share of candidate pairs the clean judge orders that the noisy "
        "scores order the same way (a noisy tie counts ½): the weak judge's true accuracy.",
        "",
    ]

    weak, strong = _weak_strong(runs)
    if weak and strong:
        L += [
            "## Weak-to-strong: performance gap recovered",
            "",
            f"PGR = (weak-judge run − start) / (oracle-judge run − start), both evaluated by the oracle; "
            f"the oracle-judge run is **{strong[0].label}**. The start is the iteration-0 policy measured the same way: "
            "50% win rate against itself (or its own win rate when `dno eval` compared against another baseline), "
            "and its own mean oracle score. 1 = the weak judge did as well as "
            "the oracle, 0 = no better than not training.",
            "",
        ]
        rows = []
        for w in weak:
            same = (w.cfg.get("policy") or {}).get("model") == (strong[0].cfg.get("policy") or {}).get(
                "model"
            ) and w.cfg.get("data") == strong[0].cfg.get("data")
            if not same:
                L.append(
                    f"- ⚠ {w.label} and {strong[0].label} differ in starting model or data: PGR compares unlike things."
                )
            for row in pgr(w, strong[0]):
                rows.append(
                    [
                        w.label,
                        str(row["iteration"]),
                        pct(row["weak_win_rate"]),
                        pct(row["strong_win_rate"]),
                        num(row["pgr_win_rate"], ".2f"),
                        num(row.get("start_score"), ".2f"),
                        num(row.get("weak_score"), ".2f"),
                        num(row.get("strong_score"), ".2f"),
                        num(row.get("pgr_score"), ".2f"),
                    ]
                )
        L += [
            table(
                [
                    "weak-judge run",
                    "iter",
                    "weak win rate %",
                    "oracle-run win rate %",
                    "PGR (win rate)",
                    "start score",
                    "weak score",
                    "oracle-run score",
                    "PGR (score)",
                ],
                rows,
            ),
            "",
        ]

    rows = []
    for r in runs:
        for t in sorted(r.timings):
            tm = r.timings[t]
            rows.append(
                ([r.label] if multi else [])
                + [str(t)]
                + [num(tm.get(s), ".0f") for s in ("sample", "judge", "pair", "train", "eval")]
                + [num(sum(v for v in tm.values() if isinstance(v, (int, float))), ".0f")]
            )
    if rows:
        L += [
            "## Time per stage (seconds)",
            "",
            table((["run"] if multi else []) + ["iter", "sample", "judge", "pair", "train", "eval", "total"], rows),
        ]
    L += _throughput(runs, multi)
    return "\n".join(L)


THROUGHPUT_STAGES = ("sample", "train", "eval", "val", "ood")


def _throughput(runs: list[RunData], multi: bool) -> list[str]:
    """Tokens per second of each stage: generated tokens for the sampling stages, trained tokens (every epoch,
    the reference pass's time included) for train. The stage with the lowest figure is the one to scale."""
    rows = []
    for r in runs:
        for t in sorted(r.tokens):
            tok, secs = r.tokens[t], r.timings.get(t, {})
            if not tok:
                continue
            rate = [tok[s] / secs[s] if s in tok and secs.get(s) else None for s in THROUGHPUT_STAGES]
            rows.append(([r.label] if multi else []) + [str(t)] + [num(x, ".0f") for x in rate])
    if not rows:
        return []
    return [
        "",
        "## Throughput (tokens/s)",
        "",
        "Generated tokens per second for sample, eval, val and ood; tokens trained on per second (all epochs, "
        "the reference pass included) for train.",
        "",
        table((["run"] if multi else []) + ["iter", *THROUGHPUT_STAGES], rows),
    ]


def write_report(roots: list[str | Path], out: str | Path | None = None, eval_key: str | None = None) -> Path:
    """Write report.md and the PNG plots into `out` (default: the run directory of a single run). Returns report.md's path."""
    if not roots:
        raise DnoError("dno report: give at least one run directory")
    roots = [Path(r) for r in roots]
    runs = []
    for r, label in zip(roots, _labels(roots)):
        # Comparing runs: one without that `dno eval` result shows its own eval stage (the header says so).
        key = eval_key if eval_key is None or len(roots) == 1 or (r / "evals" / eval_key).is_dir() else None
        runs.append(load_run(r, key, label))
    out = Path(out) if out is not None else (roots[0] if len(roots) == 1 else Path("report"))
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DnoError(f"{out}: cannot create the report directory ({e.strerror})") from None
    plot_winrate(runs, out / "winrate.png")
    plot_length(runs, out / "length.png")
    plot_pairs(runs, out / "pairs.png")
    plot_margins(runs, out / "margins.png")
    plot_training(runs, out / "training.png")
    path = out / "report.md"
    io.write_text(path, render(runs))
    return path
