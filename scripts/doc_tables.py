#!/usr/bin/env python3
"""The tables in README.md and docs/ come from run artifacts, never from hand-copied numbers.

    python scripts/doc_tables.py collect RUN NAME   # RUN's per-iteration results -> docs/results/NAME.json
    python scripts/doc_tables.py collect-eval RUN/evals/DIR NAME [--iteration T] [--prompts FILE]   # a `dno eval` result -> docs/results/NAME.json
    python scripts/doc_tables.py render             # rewrite every marked table from docs/results/
    python scripts/doc_tables.py render --check     # exit 1 if a document is out of date (a test runs this)

A document marks a generated table with an HTML comment naming its source, and the end of the table:

    <!-- table: run default -->      per-iteration table of docs/results/default.json
    <!-- table: methods default dno_soft ... -->   one row per run (final iteration)
    <!-- table: heldout NAME ... -->               one row per `dno eval` result (collect-eval), paired Δ
    <!-- table: constraints NAME ... -->           instruction constraints held, per type (collect-eval --prompts)
    <!-- table: bytask NAME ... -->                per task: win rate vs π_0 and its interval (collect-eval)
    <!-- table: noise CLEAN,NOISY,... ... -->       per method: `dno eval` results of runs with a noisy judge, against the clean one
    <!-- table: agree agree_a agree_b ... -->      one row per judge: `dno agree --out docs/results/agree_a.json`
    <!-- table: judges -:default agree_a:run_a ... -->  agreement, a run trained with each judge, PGR
    <!-- table: bench training ratios -->           a table of `benchmarks/training.py --save`
    <!-- table: bench_summary training sampling ... -->  each benchmark's headline figures
    ...generated...
    <!-- /table -->

docs/results/*.json are small (metrics only), committed, and written by `collect` from a finished run
directory (`scripts/compare_methods.sh` collects every method it runs), or by a benchmark run with `--save`
(`bench_*.json`, benchmarks/record.py).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dno.analysis.tables import DASH, interval, num, pct, table  # noqa: E402
from dno.preferences.pairing import unfinished_share  # noqa: E402

RESULTS = ROOT / "docs" / "results"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "BENCHMARKS.md"]
BLOCK = re.compile(r"(<!-- table: (?P<spec>[^>]*?) -->\n)(?P<body>.*?)(<!-- /table -->)", re.S)
METRICS = (
    "win_rate",
    "ci_low",
    "ci_high",
    "lc_win_rate",
    "lc_ci_low",
    "lc_ci_high",
    "wins",
    "ties",
    "losses",
    "n",
    "mean_score",
    "baseline_mean_score",
    "mean_length",
    "baseline_mean_length",
    "failures",
)


def _read_json(path: Path):
    return json.loads(path.read_text())


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _run_config(run: Path) -> dict:
    import yaml

    return yaml.safe_load((run / "config.yaml").read_text())


NOISE_LABELS = {"flip": "{:.0%} flipped", "position_bias": "{:.0%} position bias", "length_bias": "{:.0%} length bias"}


def _noise(cfg: dict) -> str:
    """The training judge's noise in words ("30% flipped", "30% length bias"), "none" for a clean judge."""
    noise = (cfg.get("judge") or {}).get("noise") or {}
    said = [label.format(float(noise[k])) for k, label in NOISE_LABELS.items() if noise.get(k)]
    said += [f"score sd {noise['score_sd']}"] if noise.get("score_sd") else []
    return ", ".join(said) or "none"


def collect(run: Path, name: str) -> Path:
    """The numbers the documents show, from a finished run directory."""
    cfg = _run_config(run)
    iterations = []
    for t in range(1, int(cfg["iterations"]) + 1):
        d = run / f"iter_{t}"
        m = _read_json(d / "eval" / "metrics.json")
        row = {"iteration": t, **{k: m.get(k) for k in METRICS}}
        pairs = _read_jsonl(d / "pairs.jsonl")
        row["pairs"] = dict(Counter(p["type"] for p in pairs))
        samples = d / "samples.jsonl"
        row["cut_off"] = unfinished_share(_read_jsonl(samples)) if samples.is_file() else None
        row["chosen_cut_off"] = sum(not p.get("chosen_finished", True) for p in pairs)
        if (d / "val" / "metrics.json").is_file():
            row["val_win_rate"] = _read_json(d / "val" / "metrics.json")["win_rate"]
        if (d / "ood" / "metrics.json").is_file():
            o = _read_json(d / "ood" / "metrics.json")
            row["ood"] = {k: o.get(k) for k in ("win_rate", "ci_low", "ci_high", "n")}
            row["ood"]["by_task"] = {k: v["win_rate"] for k, v in sorted((o.get("by_task") or {}).items())}
        iterations.append(row)
    best = _read_json(run / "best.json") if (run / "best.json").is_file() else None
    last = run / f"iter_{cfg['iterations']}"
    # the final iteration's per-prompt outcomes: methods compare head to head on the same prompts
    outcomes = {
        split: {r["id"]: r["outcome"] for r in _read_jsonl(last / split / "judgments.jsonl")}
        for split in ("eval", "ood")
        if (last / split / "judgments.jsonl").is_file()
    }
    prompts = {"eval": run / "test_prompts.jsonl", "ood": run / "ood_prompts.jsonl"}
    out = {
        "final_outcomes": outcomes,
        # outcomes pair only between runs that answered the same prompts
        "prompts_sha": {k: hashlib.sha256(p.read_bytes()).hexdigest()[:16] for k, p in prompts.items() if p.is_file()},
        "run": run.name,
        "policy": cfg["policy"]["model"],
        "judge": cfg["judge"]["type"],
        "iterations": iterations,
        "best_iteration": best["iteration"] if best else None,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")
    return path


def collect_eval(evaldir: Path, name: str, iteration: int | None = None, prompts: Path | None = None) -> Path:
    """One iteration (default: the last evaluated) of a `dno eval` result (e.g. `--prompts` of a larger test
    set): metrics and the per-prompt outcomes, for head-to-head differences between runs on the same prompts.
    With `prompts` (the file evaluated), also how often each kind of instruction constraint held."""
    info = _read_json(evaldir / "eval.json")
    done = sorted(int(d.name[5:]) for d in evaldir.glob("iter_*") if (d / "metrics.json").is_file())
    t = done[-1] if done and iteration is None else iteration
    if t not in done:
        raise SystemExit(f"{evaldir}: iteration {t} not evaluated (evaluated: {done})")
    m = _read_json(evaldir / f"iter_{t}" / "metrics.json")
    judged = _read_jsonl(evaldir / f"iter_{t}" / "judgments.jsonl")
    run = evaldir.parents[1]
    out = {
        "run": run.name,
        "judge_noise": _noise(_run_config(run)),  # the training judge's, for the noise-robustness table
        "iteration": t,
        "baseline": info["baseline_description"],
        "judge": info["judge"],
        "split": info["split"],  # a --prompts file's name and digest: outcomes pair only on the same prompts
        "metrics": {k: m.get(k) for k in METRICS},
        "outcomes": {r["id"]: r["outcome"] for r in judged},
        "tasks": {r["id"]: r["task"] for r in judged if r.get("task")},  # per-task Δ columns
    }
    if prompts is not None:
        out["constraints"] = _constraints_held({r["id"]: r for r in _read_jsonl(prompts)}, judged)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")
    return path


def _constraints_held(prompts: dict[str, dict], judged: list[dict]) -> dict[str, dict]:
    """Per constraint type: on how many prompts it was asked (`n`), and held by the policy's and the baseline's
    answer (the instructions oracle's `held` checks, policy first; an empty answer's are empty: none held)."""
    out: dict[str, dict] = {}
    for r in judged:
        checks = (r.get("info") or {}).get("checks") or []
        if len(checks) != 2 or "held" not in checks[0]:
            continue
        for i, c in enumerate(prompts[r["id"]]["constraints"]):
            row = out.setdefault(c["type"], {"n": 0, "policy": 0, "baseline": 0})
            row["n"] += 1
            row["policy"] += any(checks[0]["held"][i : i + 1])
            row["baseline"] += any(checks[1]["held"][i : i + 1])
    return dict(sorted(out.items()))


def constraints_table(names: list[str]) -> str:
    """Per instruction constraint type: how often π_0's answer held it, then each collected result's policy."""
    results = [(_label(name), _read_json(RESULTS / f"{name}.json")) for name in names]
    ref = results[0][1]["constraints"]
    head = ["constraint", "asked", "π_0"] + [f"`{label}` π_{res['iteration']}" for label, res in results]
    rows = [
        [f"`{kind}`", str(row["n"]), str(row["baseline"])]
        + [str(res["constraints"][kind]["policy"]) for _, res in results]
        for kind, row in ref.items()
    ]
    return table(head, rows)


def _delta(a: dict, b: dict) -> str:
    """`+4.7 (+1.2 to +8.3)`: the win rate of outcomes `a` minus that of `b`, prompt by prompt (paired bootstrap)."""
    from dno.analysis.stats import paired_difference

    d = paired_difference(a, b)
    return f"{100 * d['diff']:+.1f} ({100 * d['ci_low']:+.1f} to {100 * d['ci_high']:+.1f})"


def _label(name: str) -> str:
    """A `dno eval` result's row label: its name in docs/results/ without the `heldout_` prefix."""
    return name.removeprefix("heldout_")


def heldout_table(names: list[str]) -> str:
    """One row per collected `dno eval` result; Δ compares each with the first named, prompt by prompt, overall
    and, when every result knows its prompts' tasks, per task."""
    results = [(_label(name), _read_json(RESULTS / f"{name}.json")) for name in names]
    ref = results[0][1]
    tasks = sorted(set(ref["tasks"].values())) if all("tasks" in r for _, r in results) else []
    head = ["run", "policy", "prompts", "win rate vs π_0", "95% CI", "wins / ties / losses", "mean score"]
    head.append(f"Δ win rate vs `{_label(names[0])}` (paired 95% CI)")
    head += [f"Δ {task}" for task in tasks]
    rows = []
    for label, res in results:
        m = res["metrics"]
        paired = res is not ref and res["split"] == ref["split"]
        row = [f"`{label}`", f"π_{res['iteration']}", str(m["n"]), pct(m["win_rate"]), interval(m)]
        row += [f"{m['wins']} / {m['ties']} / {m['losses']}", num(m["mean_score"], ".2f")]
        row.append(_delta(res["outcomes"], ref["outcomes"]) if paired else DASH)
        for task in tasks:
            ids = [i for i, name in ref["tasks"].items() if name == task and i in res["outcomes"]]
            mine, theirs = ({i: o[i] for i in ids} for o in (res["outcomes"], ref["outcomes"]))
            row.append(_delta(mine, theirs) if paired else DASH)
        rows.append(row)
    return table(head, rows)


def bytask_table(names: list[str]) -> str:
    """One row per collected `dno eval` result: its win rate against π_0 on each task's prompts, with the 95%
    bootstrap interval, so that a task below π_0 shows (the Δ columns of `heldout` compare runs instead)."""
    from dno.analysis.stats import bootstrap_interval, win_rate

    results = [(_label(name), _read_json(RESULTS / f"{name}.json")) for name in names]
    tasks = sorted({task for _, res in results for task in res["tasks"].values()})
    head = ["run", "policy", "prompts"] + [f"{task} win rate vs π_0 (95% CI)" for task in tasks]
    rows = []
    for label, res in results:
        row = [f"`{label}`", f"π_{res['iteration']}", str(res["metrics"]["n"])]
        for task in tasks:
            mine = [o for i, o in res["outcomes"].items() if res["tasks"].get(i) == task]
            low, high = bootstrap_interval(mine)
            row.append(f"{pct(win_rate(mine))} ({pct(low)}–{pct(high)}, n={len(mine)})" if mine else DASH)
        rows.append(row)
    return table(head, rows)


def noise_table(groups: list[str]) -> str:
    """One group per method, `CLEAN,NOISY,...` (collect-eval names on the same prompts): each run trained with a
    noisy judge against the same method trained with the clean one. PGR = (win rate − 50) / (clean run's − 50);
    Δ pairs the two runs' outcomes prompt by prompt. The last column asks whether a method degrades less than
    the first group's at the same noise: its Δ minus the first method's Δ, prompt by prompt (paired bootstrap
    of (noisy − clean) − (first noisy − first clean))."""
    from dno.analysis.stats import paired_difference

    head = ["method", "judge noise", "run", "win rate vs π_0", "95% CI", "PGR", "Δ vs clean (paired 95% CI)"]
    groups_read = [[(name, _read_json(RESULTS / f"{name}.json")) for name in group.split(",")] for group in groups]
    first_label = _label(groups_read[0][0][0])
    head.append(f"Δ minus `{first_label}`'s Δ (paired 95% CI)")

    def drop(res: dict, clean: dict) -> dict:
        return {k: v - clean["outcomes"][k] for k, v in res["outcomes"].items() if k in clean["outcomes"]}

    first_clean = groups_read[0][0][1]

    def noise(res: dict) -> str:  # results collected before judge_noise was recorded name only their flip rate
        return res.get("judge_noise") or _noise({"judge": {"noise": {"flip": res.get("judge_flip", 0.0)}}})

    first_by_noise = {noise(res): res for _, res in groups_read[0][1:]}
    rows = []
    for g, results in enumerate(groups_read):
        (clean_name, clean) = results[0]
        for name, res in results:
            if res["split"] != clean["split"] or res["split"] != first_clean["split"]:
                raise SystemExit(f"noise table: `{name}` was evaluated on other prompts than `{clean_name}`")
            m = res["metrics"]
            versus = DASH
            if g and res is not clean and noise(res) in first_by_noise:
                d = paired_difference(drop(res, clean), drop(first_by_noise[noise(res)], first_clean))
                versus = f"{100 * d['diff']:+.1f} ({100 * d['ci_low']:+.1f} to {100 * d['ci_high']:+.1f})"
            rows.append(
                [
                    f"`{_label(name)}`" if res is clean else "",
                    noise(res),
                    f"`{_label(name)}`",
                    pct(m["win_rate"]),
                    interval(m),
                    num((m["win_rate"] - 0.5) / (clean["metrics"]["win_rate"] - 0.5), ".2f"),
                    DASH if res is clean else _delta(res["outcomes"], clean["outcomes"]),
                    versus,
                ]
            )
    return table(head, rows)


def _pairs(row: dict) -> str:
    return str(sum(row["pairs"].values()))


def run_table(names: list[str]) -> str:
    (name,) = names
    res = _read_json(RESULTS / f"{name}.json")
    first = res["iterations"][0]
    head = [
        "iter",
        "win rate vs iter 0",
        "95% CI",
        "LC win rate",
        "wins / ties / losses",
        "mean score (0-6)",
        "pairs",
        "mean length (chars)",
    ]
    rows = [
        [
            "0",
            "50.0 (itself)",
            DASH,
            DASH,
            DASH,
            num(first["baseline_mean_score"], ".2f"),
            DASH,
            num(first["baseline_mean_length"]),
        ]
    ]
    rows += [
        [
            str(r["iteration"]),
            pct(r["win_rate"]),
            interval(r),
            pct(r["lc_win_rate"]),
            f"{r['wins']} / {r['ties']} / {r['losses']}",
            num(r["mean_score"], ".2f"),
            _pairs(r),
            num(r["mean_length"]),
        ]
        for r in res["iterations"]
    ]
    if any("ood" in r for r in res["iterations"]):  # out of distribution: beside the test columns
        head[3:3] = ["OOD win rate", "OOD 95% CI"]
        rows[0][3:3] = ["50.0 (itself)", DASH]
        for row, r in zip(rows[1:], res["iterations"]):
            row[3:3] = [pct(r["ood"]["win_rate"]), interval(r["ood"])] if "ood" in r else [DASH, DASH]
    return table(head, rows)


def _head_to_head(res: dict, ref: dict, split: str) -> str:
    """`+4.7 (+1.2 to +8.3)`: this run's final win rate minus the reference run's, with the paired 95% interval."""
    a, b = (r.get("final_outcomes", {}).get(split) for r in (res, ref))
    same_prompts = res.get("prompts_sha", {}).get(split) == ref.get("prompts_sha", {}).get(split)
    if not a or not b or res["run"] == ref["run"] or not same_prompts:
        return DASH
    return _delta(a, b)


def methods_table(names: list[str]) -> str:
    """One row per run (its final iteration); the head-to-head columns compare each run with the first named,
    prompt by prompt (paired bootstrap), on the test and the out-of-distribution prompts; the last column shows
    whether a task fell below π_0 out of distribution."""
    ref = _read_json(RESULTS / f"{names[0]}.json")
    head = [
        "run",
        "final iteration",
        "win rate vs π_0",
        "95% CI",
        "wins / ties / losses",
        "LC win rate",
        "mean score",
        "mean length",
        "pairs per iteration",
        "best on validation",
        f"Δ win rate vs `{names[0]}` (paired 95% CI)",
        "OOD win rate",
        f"Δ OOD vs `{names[0]}`",
        "OOD by task",
    ]
    results = {name: _read_json(RESULTS / f"{name}.json") for name in names}
    cut_off = all("cut_off" in res["iterations"][-1] for res in results.values())
    if cut_off:  # runs collected since pair.unfinished: how many samples and chosen answers were cut off
        head[9:9] = ["samples cut off % (final iter)", "chosen cut off"]
    rows = []
    for name, res in results.items():
        r = res["iterations"][-1]
        rows.append(
            [
                f"`{name}`",
                str(r["iteration"]),
                pct(r["win_rate"]),
                interval(r),
                f"{r['wins']} / {r['ties']} / {r['losses']}",
                pct(r["lc_win_rate"]),
                num(r["mean_score"], ".2f"),
                num(r["mean_length"]),
                " / ".join(_pairs(x) for x in res["iterations"]),
                DASH if res["best_iteration"] is None else f"iter {res['best_iteration']}",
                _head_to_head(res, ref, "eval"),
                pct(r["ood"]["win_rate"]) if "ood" in r else DASH,
                _head_to_head(res, ref, "ood"),
                ", ".join(f"{task} {pct(rate)}" for task, rate in sorted(r.get("ood", {}).get("by_task", {}).items()))
                or DASH,
            ]
        )
        if cut_off:
            rows[-1][9:9] = [pct(r["cut_off"]), str(r["chosen_cut_off"])]
    return table(head, rows)


def agree_table(names: list[str]) -> str:
    """One row per judge measured by `dno agree` (its --out JSON): agreement with the oracle and position bias."""
    rows = []
    for name in names:
        r = _read_json(RESULTS / f"{name}.json")
        rows.append(
            [
                f"`{name.removeprefix('agree_')}`",
                f"{r['judged']} of {r['pairs']}",
                pct(r["agreement"]),
                pct(r["position_consistency"]),
                pct(r.get("position_consistency_calibrated")),
                pct(r["first_position_rate"]),
            ]
        )
    head = ["judge", "pairs judged", "agreement %", "position consistency %", "calibrated %", "picks first shown %"]
    return table(head, rows)


def judges_table(items: list[str]) -> str:
    """One row per judge, `AGREE:RUN` each (`-` = none): its `dno agree` result and a run trained with it,
    evaluated by the oracle. The first item is the oracle (agreement 100% by definition) and its run is the
    reference of the performance gap recovered, PGR = (win rate − 50) / (oracle run's win rate − 50): on the
    fresh prompts of `heldout_RUN` (`collect-eval`) where the oracle run has them, else on the test prompts."""

    def heldout(run: str) -> dict | None:
        path = RESULTS / f"heldout_{run}.json"
        return _read_json(path)["metrics"] if run and run != "-" and path.is_file() else None

    ref_run = items[0].partition(":")[2]
    on_fresh = heldout(ref_run) is not None
    head = ["judge", "pairs judged", "agreement %", "position consistency %", "calibrated %", "run"]
    head += ["test win rate vs π_0"]
    head += ["OOD win rate", "fresh prompts win rate", f"PGR ({'fresh' if on_fresh else 'test'} prompts)"]
    ref = None
    rows = []
    for k, item in enumerate(items):
        agree, _, run = item.partition(":")
        a = _read_json(RESULTS / f"{agree}.json") if agree != "-" else None
        r = _read_json(RESULTS / f"{run}.json")["iterations"][-1] if run and run != "-" else None
        h = heldout(run)
        score = h if on_fresh else r
        if k == 0:
            ref = score
        gain = ref["win_rate"] - 0.5 if ref else None
        rows.append(
            [
                f"`{agree.removeprefix('agree_')}`" if a else "oracle",
                f"{a['judged']} / {a['pairs']}" if a else DASH,
                pct(a["agreement"]) if a else "100 (itself)" if k == 0 else DASH,
                pct(a["position_consistency"]) if a else DASH,
                pct(a.get("position_consistency_calibrated")) if a else DASH,
                f"`{run}`" if r else DASH,
                f"{pct(r['win_rate'])} ({interval(r)})" if r else DASH,
                pct(r["ood"]["win_rate"]) if r and "ood" in r else DASH,
                f"{pct(h['win_rate'])} ({interval(h)})" if h else DASH,
                num((score["win_rate"] - 0.5) / gain, ".2f") if score and gain else DASH,
            ]
        )
    return table(head, rows)


def _provenance(b: dict) -> str:
    m = b["machine"]
    where = m["gpu"] or f"{m['cpu']}, {m['cores']} cores"
    load = m.get("other_cores_busy", m["load_1min_at_start"])
    what = "cores busy with other work" if "other_cores_busy" in m else "load at start"
    load = "" if load is None else f", {what} {load:.2f}"
    return f"`{b['command']}`, {b['measured']}, commit {b['commit']}, {where}{load}, torch {m['torch']}"


def bench_table(names: list[str]) -> str:
    """One table of a benchmark's saved figures (`benchmarks/<name>.py --save`), under the line that says where
    and how it was measured."""
    name, key = names
    b = _read_json(RESULTS / f"bench_{name}.json")
    t = b["tables"][key]
    note = f" {t['note'][0].upper()}{t['note'][1:]}." if t["note"] else ""
    return f"_{_provenance(b)}.{note}_\n\n" + table(t["head"], t["rows"])


def bench_summary(names: list[str]) -> str:
    """The headline figure of each named benchmark, one row each, with its target."""
    rows = []
    for name in names:
        b = _read_json(RESULTS / f"bench_{name}.json")
        for h in b["headline"]:
            rows.append([h["what"], f"`{b['command']}`", h["figure"], h["target"], h["met"], b["measured"][:10]])
    return table(["what", "command", "figure", "target", "met?", "measured"], rows)


KINDS = {
    "run": run_table,
    "methods": methods_table,
    "heldout": heldout_table,
    "constraints": constraints_table,
    "bytask": bytask_table,
    "noise": noise_table,
    "agree": agree_table,
    "judges": judges_table,
    "bench": bench_table,
    "bench_summary": bench_summary,
}


def render(check: bool) -> int:
    stale = []
    for doc in DOCS:
        text = doc.read_text()

        def replace(m: re.Match) -> str:
            kind, *names = m.group("spec").split()
            return m.group(1) + KINDS[kind](names) + m.group(4)

        new = BLOCK.sub(replace, text)
        if new != text:
            stale.append(doc.relative_to(ROOT))
            if not check:
                doc.write_text(new)
    for doc in stale:
        print(f"{doc}: {'out of date (run scripts/doc_tables.py render)' if check else 'tables rewritten'}")
    return 1 if check and stale else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect")
    c.add_argument("run", type=Path)
    c.add_argument("name")
    e = sub.add_parser("collect-eval")
    e.add_argument("evaldir", type=Path)
    e.add_argument("name")
    e.add_argument("--iteration", type=int, help="which evaluated iteration (default: the last)")
    e.add_argument("--prompts", type=Path, help="the prompts file evaluated: also count each constraint type held")
    r = sub.add_parser("render")
    r.add_argument("--check", action="store_true")
    args = ap.parse_args()
    if args.cmd == "collect":
        print(collect(args.run, args.name))
        return 0
    if args.cmd == "collect-eval":
        print(collect_eval(args.evaldir, args.name, args.iteration, args.prompts))
        return 0
    return render(args.check)


if __name__ == "__main__":
    sys.exit(main())
