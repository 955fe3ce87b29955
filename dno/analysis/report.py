"""`dno report RUN [RUN ...]`: report.md and PNG plots of one or several runs, side by side.

It answers "did it get better, by how much, and is it just longer?" without being asked:
win rate and length-controlled win rate per iteration with 95% intervals, mean answer length,
a per-task breakdown, pairs per iteration by type, the margin histogram, training curves,
judge failures and cost, warnings for length growth and per-task regressions, and the
performance gap recovered (PGR) when a weak-judge run and an oracle-judge run are compared.

Everything is read from the run directories (see dno.rundir); nothing is recomputed but statistics.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from dno import io
from dno.errors import DnoError
from dno.analysis.tables import num, pct, table

PLOTS = ("winrate.png", "length.png", "pairs.png", "margins.png", "training.png")
PAIR_TYPES = ("teacher>student", "student>teacher", "student>student")
LENGTH_WARN_RATIO = 1.5
"""Warn when an iteration's answers are this many times as long as iteration 0's."""
LENGTH_GAIN_WARN = 0.05
"""Warn when the raw win rate exceeds the length-controlled one by this much."""


@dataclass
class RunData:
    root: Path
    label: str
    cfg: dict
    eval_key: str | None
    evals: dict[int, dict] = field(default_factory=dict)
    """Iteration → metrics (dno.evaluation.summarize keys + mean_score, baseline_mean_score)."""
    pairs: dict[int, list[dict]] = field(default_factory=dict)
    train_logs: dict[int, list[dict]] = field(default_factory=dict)
    judge_stats: dict[int, dict] = field(default_factory=dict)
    timings: dict[int, dict] = field(default_factory=dict)

    @property
    def train_judge(self) -> str:
        return str((self.cfg.get("judge") or {}).get("type", "?"))

    @property
    def eval_judge(self) -> str:
        if self.eval_key:
            meta = self.root / "evals" / self.eval_key / "eval.json"
            if meta.is_file():
                return str(io.read_json(meta).get("judge", "?"))
        return str(((self.cfg.get("eval") or {}).get("judge") or {}).get("type", "?"))

    @property
    def baseline_name(self) -> str:
        if self.eval_key:
            meta = self.root / "evals" / self.eval_key / "eval.json"
            if meta.is_file():
                return str(io.read_json(meta).get("baseline_description", self.eval_key))
        return "the iteration-0 policy"

    def iterations(self) -> list[int]:
        return sorted(set(self.evals) | set(self.pairs) | set(self.train_logs))


# ---- loading ----------------------------------------------------------------------------------------

def _iter_numbers(root: Path, cfg: dict) -> list[int]:
    found = {int(p.name.split("_", 1)[1]) for p in root.glob("iter_*") if p.name.split("_", 1)[1].isdigit()}
    return sorted(found | set(range(1, int(cfg.get("iterations", 0)) + 1)))


def _nan_count(scores) -> int:
    return sum(1 for s in scores if s is None or (isinstance(s, float) and math.isnan(s)))


USAGE_KEYS = ("prompt_tokens", "completion_tokens", "cost_usd")


def _usage(info, acc: Counter, depth: int = 0) -> None:
    """Add whatever token counts and cost a judge recorded anywhere in a judgment's `info` (LLM/API judges)."""
    if depth > 4:
        return
    if isinstance(info, dict):
        for key, v in info.items():
            if key in USAGE_KEYS and isinstance(v, (int, float)) and not isinstance(v, bool):
                acc[key] += v
            elif isinstance(v, (dict, list)):
                _usage(v, acc, depth + 1)
    elif isinstance(info, list):
        for v in info:
            _usage(v, acc, depth + 1)


def _judgment_stats(path: Path) -> dict:
    acc: Counter = Counter()
    rows = io.read_jsonl(path)
    for r in rows:
        scores = r.get("scores") or []
        acc["prompts"] += 1
        acc["candidates"] += len(scores)
        acc["failed"] += _nan_count(scores)
        _usage(r.get("info") or {}, acc)
    usage_path = path.parent / "judge_usage.json"  # LLM/API judges: the whole stage's requests, retries included
    if usage_path.is_file():
        u = io.read_json(usage_path)
        for key in USAGE_KEYS:
            if isinstance(u.get(key), (int, float)) and not isinstance(u.get(key), bool):
                acc[key] = u[key]
    return dict(acc)


def load_run(root: str | Path, eval_key: str | None = None, label: str | None = None) -> RunData:
    root = Path(root)
    cfg_path = root / "config.yaml"
    if not cfg_path.is_file():
        raise DnoError(f"{root}: not a dno run directory (no config.yaml)")
    try:
        cfg = yaml.safe_load(cfg_path.read_text()) or {}
    except yaml.YAMLError:
        raise DnoError(f"{cfg_path}: corrupt config") from None
    if eval_key is not None and not (root / "evals" / eval_key).is_dir():
        known = sorted(p.name for p in (root / "evals").glob("*") if p.is_dir()) if (root / "evals").is_dir() else []
        raise DnoError(f"{root / 'evals' / eval_key}: no such evaluation (made by `dno eval`; "
                       f"found: {', '.join(known) or 'none'})")
    run = RunData(root, label or root.name, cfg, eval_key)
    its = set(_iter_numbers(root, cfg))
    if eval_key is not None:  # `dno eval` may include iteration 0 (against a teacher or another run)
        its |= {int(p.name[5:]) for p in (root / "evals" / eval_key).glob("iter_*") if p.name[5:].isdigit()}
    for t in sorted(its):
        d = root / f"iter_{t}"
        if eval_key is None:
            mpath = d / "eval" / "metrics.json"
            m = io.read_json(mpath) if mpath.is_file() else None
        else:
            mpath = root / "evals" / eval_key / f"iter_{t}" / "metrics.json"
            m = io.read_json(mpath) if mpath.is_file() else None
        if m is not None:
            run.evals[t] = m
        if (d / "pairs.jsonl").is_file():
            run.pairs[t] = io.read_jsonl(d / "pairs.jsonl")
        if (d / "train_log.jsonl").is_file():
            run.train_logs[t] = io.read_jsonl(d / "train_log.jsonl")
        stats = {}
        if (d / "judgments.jsonl").is_file():
            stats["train"] = _judgment_stats(d / "judgments.jsonl")
        ej = (d / "eval" / "judgments.jsonl") if eval_key is None else (
            root / "evals" / eval_key / f"iter_{t}" / "judgments.jsonl")
        if ej.is_file():
            stats["eval"] = _judgment_stats(ej)
        if stats:
            run.judge_stats[t] = stats
        if (d / "timings.json").is_file():
            run.timings[t] = io.read_json(d / "timings.json")
    if not run.iterations():
        raise DnoError(f"{root}: no finished stage to report on yet (no iter_<t>/pairs.jsonl or eval/metrics.json)")
    return run


# ---- formatting helpers -----------------------------------------------------------------------------

def _ci(m: dict, lo: str, hi: str) -> str:
    return f"[{pct(m.get(lo))}, {pct(m.get(hi))}]"


def _labels(roots: list[Path]) -> list[str]:
    names = [r.name for r in roots]
    return [f"{r.parent.name}/{r.name}" if names.count(r.name) > 1 else r.name for r in roots]


# ---- analysis ---------------------------------------------------------------------------------------

def warnings(run: RunData) -> list[str]:
    """What a reader must not miss: length growth, length-driven gains, regressions, judge failures."""
    out = []
    # A regression is relative to iteration 0: 50% against itself, or its own score against another baseline.
    ref0 = run.evals.get(0)
    for t, m in sorted(run.evals.items()):
        if t == 0:
            continue
        ratio = m.get("length_ratio", math.nan)
        if ratio == ratio and (ratio >= LENGTH_WARN_RATIO or ratio <= 1 / LENGTH_WARN_RATIO):
            out.append(f"{run.label} iteration {t}: answers are {ratio:.{1 if ratio >= 1 else 2}f}× as long as the "
                       f"baseline's ({m['mean_length']:.0f} vs {m['baseline_mean_length']:.0f} chars).")
        wr, lc = m.get("win_rate", math.nan), m.get("lc_win_rate", math.nan)
        if wr == wr and lc == lc and wr - lc >= LENGTH_GAIN_WARN:
            out.append(f"{run.label} iteration {t}: the win rate {pct(wr)}% falls to {pct(lc)}% at equal length: "
                       f"part of the gain is answer length.")
        ref = ref0["win_rate"] if ref0 else 0.5
        if m.get("ci_high", 1) < ref:
            out.append(f"{run.label} iteration {t}: worse than iteration 0 overall (win rate {pct(wr)}% "
                       f"{_ci(m, 'ci_low', 'ci_high')}" + (f" vs {pct(ref)}%" if ref0 else "") + ").")
        for task, b in (m.get("by_task") or {}).items():
            ref = ((ref0.get("by_task") or {}).get(task) or {}).get("win_rate", 0.5) if ref0 else 0.5
            if b.get("ci_high", 1) < ref:
                out.append(f"{run.label} iteration {t}: `{task}` got worse (win rate {pct(b['win_rate'])}% "
                           f"{_ci(b, 'ci_low', 'ci_high')} on {b['n']} prompts" + (f", iteration 0: {pct(ref)}%" if ref0 else "") + ").")
        if m.get("failures"):
            out.append(f"{run.label} iteration {t}: {m['failures']} of {m['n']} evaluation judgments failed "
                       f"and are left out.")
    for t, s in sorted(run.judge_stats.items()):
        tr = s.get("train", {})
        if tr.get("failed"):
            out.append(f"{run.label} iteration {t}: {tr['failed']} of {tr['candidates']} training candidates "
                       f"could not be judged (left out of pairing).")
    for t, rows in sorted(run.pairs.items()):
        if not rows:
            out.append(f"{run.label} iteration {t}: no pairs passed the pairing rules; nothing was trained.")
    return out


def pgr(weak: RunData, strong: RunData) -> list[dict]:
    """Performance gap recovered per common iteration: (weak − start) / (strong − start), oracle-evaluated.

    Two measures: win rate against the iteration-0 policy (start = 0.5) and the oracle's mean score
    (start = the iteration-0 policy's mean score). NaN when the strong run did not move.
    """
    out = []
    for t in sorted(set(weak.evals) & set(strong.evals) - {0}):
        w, s = weak.evals[t], strong.evals[t]
        # Start: the iteration-0 policy measured the same way (50% against itself unless evaluated otherwise).
        start_wr = strong.evals[0]["win_rate"] if 0 in strong.evals else 0.5
        row = {"iteration": t, "start_win_rate": start_wr, "weak_win_rate": w["win_rate"],
               "strong_win_rate": s["win_rate"]}
        gap = s["win_rate"] - start_wr
        row["pgr_win_rate"] = (w["win_rate"] - start_wr) / gap if abs(gap) > 1e-9 else math.nan
        if "mean_score" in w and "mean_score" in s:
            start = strong.evals[0]["mean_score"] if 0 in strong.evals else s.get("baseline_mean_score", math.nan)
            row.update(start_score=start, weak_score=w["mean_score"], strong_score=s["mean_score"])
            gap = s["mean_score"] - start
            row["pgr_score"] = (w["mean_score"] - start) / gap if abs(gap) > 1e-9 else math.nan
        out.append(row)
    return out


def _weak_strong(runs: list[RunData]) -> tuple[list[RunData], list[RunData]]:
    strong = [r for r in runs if r.train_judge == "oracle" and r.eval_judge == "oracle" and r.evals]
    weak = [r for r in runs if r.train_judge != "oracle" and r.eval_judge == "oracle" and r.evals]
    return weak, strong


# ---- plots ------------------------------------------------------------------------------------------

def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _colors(n: int) -> list:
    plt = _plt()
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return [cycle[i % len(cycle)] for i in range(n)]


def plot_winrate(runs: list[RunData], path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    width = 0.8 / max(1, len(runs))
    for k, (run, color) in enumerate(zip(runs, _colors(len(runs)))):
        ts = sorted(run.evals)
        off = (k - (len(runs) - 1) / 2) * width * 0.6
        own0 = 0 in run.evals  # iteration 0 evaluated against another baseline; else it is 50% by definition
        for key, lo, hi, style, name in (("win_rate", "ci_low", "ci_high", "-o", "win rate"),
                                         ("lc_win_rate", "lc_ci_low", "lc_ci_high", "--s", "LC win rate")):
            ys = [100 * run.evals[t].get(key, math.nan) for t in ts]
            err = [[100 * (run.evals[t].get(key, math.nan) - run.evals[t].get(lo, math.nan)) for t in ts],
                   [100 * (run.evals[t].get(hi, math.nan) - run.evals[t].get(key, math.nan)) for t in ts]]
            x = ([] if own0 else [0 + off]) + [t + off + (0.08 if key == "lc_win_rate" else 0) for t in ts]
            pre = [] if own0 else [0]
            ax.errorbar(x, ([] if own0 else [50.0]) + ys, yerr=[pre + err[0], pre + err[1]], fmt=style, color=color, capsize=3,
                        alpha=1.0 if key == "win_rate" else 0.75, label=f"{run.label}: {name}" if len(runs) > 1 else name)
    ax.axhline(50, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("iteration")
    ax.set_ylabel("% against baseline (ties = ½)")
    ax.set_title(f"Win rate against {runs[0].baseline_name} (95% bootstrap CI)")
    _int_xticks(ax, runs, lambda r: [0] + sorted(r.evals))
    ax.legend(fontsize=8)
    _save(fig, path)


def plot_length(runs: list[RunData], path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    for run, color in zip(runs, _colors(len(runs))):
        ts = sorted(run.evals)
        if not ts:
            continue
        xs = ts if 0 in run.evals else [0] + ts
        ys = [run.evals[t]["mean_length"] for t in ts]
        if 0 not in run.evals:
            ys = [run.evals[ts[0]]["baseline_mean_length"]] + ys
        ax.plot(xs, ys, "-o", color=color, label=run.label)
        for x, y in zip(xs, ys):
            ax.annotate(f"{y:.0f}", (x, y), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    ax.set_xlabel("iteration")
    ax.set_ylabel("mean answer length (characters)")
    ax.set_title("Mean length of held-out answers (iteration 0 = baseline policy)")
    ax.set_ylim(bottom=0)
    ax.margins(y=0.15)
    _int_xticks(ax, runs, lambda r: [0] + sorted(r.evals))
    if len(runs) > 1:
        ax.legend(fontsize=8)
    _save(fig, path)


def plot_pairs(runs: list[RunData], path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.6 / max(1, len(runs))
    type_colors = dict(zip(PAIR_TYPES, ["#4c72b0", "#dd8452", "#55a868"]))
    for k, run in enumerate(runs):
        ts = sorted(run.pairs)
        counts = {t: Counter(p.get("type", "?") for p in run.pairs[t]) for t in ts}
        types = list(PAIR_TYPES) + sorted({ty for c in counts.values() for ty in c} - set(PAIR_TYPES))
        bottom = [0] * len(ts)
        x = [t + (k - (len(runs) - 1) / 2) * width for t in ts]
        for ty in types:
            ys = [counts[t].get(ty, 0) for t in ts]
            if not any(ys):
                continue
            ax.bar(x, ys, width * 0.9, bottom=bottom, color=type_colors.get(ty), edgecolor="white",
                   label=ty if k == 0 or ty not in PAIR_TYPES else None, hatch=None if k == 0 else "//")
            bottom = [b + y for b, y in zip(bottom, ys)]
        for xi, tot in zip(x, bottom):
            ax.annotate(f"{tot}" + (f"\n{run.label}" if len(runs) > 1 else ""), (xi, tot),
                        textcoords="offset points", xytext=(0, 3), ha="center", fontsize=7)
    ax.set_xlabel("iteration")
    ax.set_ylabel("training pairs")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_title("Pairs per iteration by type (chosen > rejected)")
    _int_xticks(ax, runs, lambda r: sorted(r.pairs))
    ax.margins(y=0.15)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no pairs yet", ha="center", va="center", transform=ax.transAxes)
    _save(fig, path)


def plot_margins(runs: list[RunData], path: Path) -> None:
    plt = _plt()
    fig, axes = plt.subplots(1, len(runs), figsize=(max(5, 4.5 * len(runs)), 3.8), squeeze=False, sharey=True)
    for ax, run in zip(axes[0], runs):
        ts = sorted(run.pairs)
        margins = {t: [p["margin"] for p in run.pairs[t] if isinstance(p.get("margin"), (int, float))] for t in ts}
        allm = [m for v in margins.values() for m in v]
        if allm:
            lo, hi = min(allm), max(allm)
            bins = _bins(lo, hi)
            for t, color in zip(ts, _colors(len(ts))):
                if margins[t]:
                    ax.hist(margins[t], bins=bins, histtype="step", lw=1.8, color=color,
                            label=f"iter {t} (n={len(margins[t])})")
            ax.margins(y=0.25)
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, "no pairs", ha="center", va="center", transform=ax.transAxes)
        ax.set_xlabel("judge score margin (chosen − rejected)")
        ax.set_title(run.label if len(runs) > 1 else "Margin of training pairs", fontsize=10)
    axes[0][0].set_ylabel("pairs")
    axes[0][0].yaxis.get_major_locator().set_params(integer=True)
    _save(fig, path)


def plot_training(runs: list[RunData], path: Path) -> None:
    plt = _plt()
    keys = (("loss", "DPO loss"), ("reward_margin", "implicit reward margin"), ("reward_accuracy", "reward accuracy"))
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for run, color in zip(runs, _colors(len(runs))):
        offset, bounds = 0, []
        xs, series = [], {k: [] for k, _ in keys}
        for t in sorted(run.train_logs):
            log = run.train_logs[t]
            for row in log:
                xs.append(offset + row.get("step", 0))
                for k, _ in keys:
                    series[k].append(row.get(k, math.nan))
            offset += len(log)
            bounds.append(offset)
        for ax, (k, title) in zip(axes, keys):
            ax.plot(xs, series[k], "-", color=color, lw=1.2, marker="." if len(xs) < 60 else None, label=run.label)
            for b in bounds[:-1]:
                ax.axvline(b + 0.5, color=color, lw=0.6, ls=":")
            ax.set_title(title, fontsize=10)
            ax.set_xlabel("optimizer step (dotted: next iteration)")
    if len(runs) > 1:
        axes[0].legend(fontsize=8)
    _save(fig, path)


def _bins(lo: float, hi: float) -> list[float]:
    if hi - lo < 1e-9:
        return [lo - 0.25, lo + 0.25]
    step = 0.5 if hi - lo <= 12 else (hi - lo) / 24
    start = math.floor(lo / step) * step - step / 2
    n = int(math.ceil((hi - start) / step)) + 1
    return [start + i * step for i in range(n + 1)]


def _int_xticks(ax, runs, get) -> None:
    ts = sorted({t for r in runs for t in get(r)})
    if ts:
        ax.set_xticks(ts)
        ax.set_xlim(ts[0] - 0.6, ts[-1] + 0.6)


def _save(fig, path: Path) -> None:
    plt = _plt()
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)


# ---- report.md --------------------------------------------------------------------------------------

def _describe(run: RunData) -> str:
    c = run.cfg
    pol, dat, smp, trn = (c.get(k) or {} for k in ("policy", "data", "sample", "train"))
    n_test = next(iter(run.evals.values()))["n"] if run.evals else dat.get("test_prompts", "?")
    return (f"**{run.label}** (`{run.root}`): policy `{pol.get('model', '?')}`, trained with the "
            f"`{run.train_judge}` judge for {c.get('iterations', '?')} iteration(s) "
            f"({dat.get('prompts_per_iteration', '?')} prompts each, K={smp.get('k', '?')}, "
            f"β={trn.get('beta', '?')}, lr={trn.get('lr', '?')}); evaluated by `{run.eval_judge}` on {n_test} "
            f"held-out prompts against {run.baseline_name}"
            + (f" (`dno eval` result `{run.eval_key}`)." if run.eval_key else " (its own eval stage)."))


def render(runs: list[RunData]) -> str:
    multi = len(runs) > 1
    title = ", ".join(r.label for r in runs)
    L = [f"# DNO report: {title}", ""]
    L += [f"- {_describe(r)}" for r in runs] + [""]

    L += ["## Win rate per iteration", "",
          "Ties count as half. LC = length-controlled: the win rate a logistic model of the outcome on the "
          "answer-length difference predicts at equal length (AlpacaEval 2 style). Intervals: 95% bootstrap over prompts.",
          ""]
    head = (["run"] if multi else []) + ["iter", "win rate %", "95% CI", "LC win rate %", "95% CI",
                                         "wins / ties / losses", "mean length (chars)", "× baseline",
                                         "mean score", "pairs"]
    rows = []
    for r in runs:
        ts = sorted(r.evals)
        if ts and 0 not in r.evals:
            m0 = r.evals[ts[0]]
            rows.append(([r.label] if multi else []) + [
                "0", "50.0 (itself)", "–", "–", "–", "–", num(m0["baseline_mean_length"]), "1.00",
                num(m0.get("baseline_mean_score"), ".2f"), "–"])
        for t in r.iterations():
            m = r.evals.get(t)
            npairs = str(len(r.pairs[t])) if t in r.pairs else "–"
            if m is None:
                rows.append(([r.label] if multi else []) + [str(t), "(not evaluated)"] + ["–"] * 7 + [npairs])
                continue
            rows.append(([r.label] if multi else []) + [
                str(t), pct(m["win_rate"]), _ci(m, "ci_low", "ci_high"), pct(m.get("lc_win_rate")),
                _ci(m, "lc_ci_low", "lc_ci_high"), f"{m['wins']} / {m['ties']} / {m['losses']}",
                num(m["mean_length"]), num(m.get("length_ratio"), ".2f"),
                num(m.get("mean_score"), ".2f"), npairs])
    L += [table(head, rows), "![win rate per iteration](winrate.png)", ""]

    warns = [w for r in runs for w in warnings(r)]
    L += ["## Things to check", ""]
    L += [f"- ⚠ {w}" for w in warns] if warns else ["- Nothing flagged: no length blow-up, no per-task regression, no judge failures."]
    L += [""]

    L += ["## Length", "", "![mean length per iteration](length.png)", ""]

    L += ["## By task", ""]
    rows = []
    for r in runs:
        for t in sorted(r.evals):
            for task, b in (r.evals[t].get("by_task") or {}).items():
                rows.append(([r.label] if multi else []) + [
                    task, str(t), str(b["n"]), pct(b["win_rate"]), _ci(b, "ci_low", "ci_high"),
                    num(b["mean_length"]), num(b["baseline_mean_length"])])
    L += [table((["run"] if multi else []) + ["task", "iter", "prompts", "win rate %", "95% CI",
                                                "mean length", "baseline length"], rows) if rows else "(no evaluations)\n"]

    L += ["## Pairs", ""]
    rows = []
    for r in runs:
        for t in sorted(r.pairs):
            ps = r.pairs[t]
            c = Counter(p.get("type", "?") for p in ps)
            margins = [p["margin"] for p in ps if isinstance(p.get("margin"), (int, float))]
            rows.append(([r.label] if multi else []) + [str(t), str(len(ps))] + [str(c.get(k, 0)) for k in PAIR_TYPES]
                        + [num(statistics.fmean(margins), ".2f") if margins else "–",
                           num(statistics.fmean(len(p["chosen"]) for p in ps) if ps else None),
                           num(statistics.fmean(len(p["rejected"]) for p in ps) if ps else None)])
    L += [table((["run"] if multi else []) + ["iter", "pairs"] + list(PAIR_TYPES) +
                 ["mean margin", "chosen length", "rejected length"], rows) if rows else "(no pairs yet)\n",
          "A chosen answer much longer than the rejected one teaches length as much as quality.", "",
          "![pairs per iteration by type](pairs.png)", "", "![margin histogram](margins.png)", ""]

    L += ["## Training", ""]
    rows = []
    for r in runs:
        for t in sorted(r.train_logs):
            log = r.train_logs[t]
            if not log:
                rows.append(([r.label] if multi else []) + [str(t), "0"] + ["–"] * 4)
                continue
            first, last = log[0], log[-1]
            rows.append(([r.label] if multi else []) + [
                str(t), str(len(log)), num(first.get("loss"), ".3f"), num(last.get("loss"), ".3f"),
                num(last.get("reward_margin"), ".3f"), num(last.get("reward_accuracy"), ".2f")])
    L += [table((["run"] if multi else []) + ["iter", "steps", "first loss", "last loss",
                                                "last reward margin", "last reward accuracy"], rows)
          if rows else "(no training yet)\n", "![training curves](training.png)", ""]

    L += ["## Judge failures and cost", ""]
    rows = []
    for r in runs:
        for t in sorted(r.judge_stats):
            for stage, s in sorted(r.judge_stats[t].items(), key=lambda kv: kv[0] != "train"):
                secs = r.timings.get(t, {}).get("judge" if stage == "train" else "eval")
                rows.append(([r.label] if multi else []) + [
                    str(t), "pairing" if stage == "train" else "evaluation",
                    r.train_judge if stage == "train" else r.eval_judge,
                    str(s.get("candidates", 0)), str(s.get("failed", 0)),
                    num(s.get("prompt_tokens")) if "prompt_tokens" in s else "–",
                    num(s.get("completion_tokens")) if "completion_tokens" in s else "–",
                    f"{s['cost_usd']:.2f}" if "cost_usd" in s else "–", num(secs, ".0f")])
    L += [table((["run"] if multi else []) + ["iter", "judging for", "judge", "answers scored", "failed",
                                                "prompt tokens", "completion tokens", "cost $", "stage s"], rows)
          if rows else "(nothing judged yet)\n",
          "Failed judgments are NaN: left out of pairing and of win rates, never counted as ties. "
          "Token counts and cost appear when the judge reports them (API judges); `stage s` is the whole stage.", ""]

    weak, strong = _weak_strong(runs)
    if weak and strong:
        L += ["## Weak-to-strong: performance gap recovered", "",
              f"PGR = (weak-judge run − start) / (oracle-judge run − start), both evaluated by the oracle; "
              f"the oracle-judge run is **{strong[0].label}**. The start is the iteration-0 policy measured the same way: "
              "50% win rate against itself (or its own win rate when `dno eval` compared against another baseline), "
              "and its own mean oracle score. 1 = the weak judge did as well as "
              "the oracle, 0 = no better than not training.", ""]
        rows = []
        for w in weak:
            same = (w.cfg.get("policy") or {}).get("model") == (strong[0].cfg.get("policy") or {}).get("model") \
                and w.cfg.get("data") == strong[0].cfg.get("data")
            if not same:
                L.append(f"- ⚠ {w.label} and {strong[0].label} differ in starting model or data: PGR compares unlike things.")
            for row in pgr(w, strong[0]):
                rows.append([w.label, str(row["iteration"]), pct(row["weak_win_rate"]), pct(row["strong_win_rate"]),
                             num(row["pgr_win_rate"], ".2f"), num(row.get("start_score"), ".2f"),
                             num(row.get("weak_score"), ".2f"), num(row.get("strong_score"), ".2f"),
                             num(row.get("pgr_score"), ".2f")])
        L += [table(["weak-judge run", "iter", "weak win rate %", "oracle-run win rate %", "PGR (win rate)",
                      "start score", "weak score", "oracle-run score", "PGR (score)"], rows), ""]

    rows = []
    for r in runs:
        for t in sorted(r.timings):
            tm = r.timings[t]
            rows.append(([r.label] if multi else []) + [str(t)] + [num(tm.get(s), ".0f") for s in
                                                                   ("sample", "judge", "pair", "train", "eval")]
                        + [num(sum(v for v in tm.values() if isinstance(v, (int, float))), ".0f")])
    if rows:
        L += ["## Time per stage (seconds)", "",
              table((["run"] if multi else []) + ["iter", "sample", "judge", "pair", "train", "eval", "total"], rows)]
    return "\n".join(L)


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
