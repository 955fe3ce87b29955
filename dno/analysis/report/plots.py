"""The report's PNG plots: win rate, length, pairs by type, margins, training curves."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

from dno.analysis.report.data import PAIR_TYPES, RunData


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
        for key, lo, hi, style, name in (
            ("win_rate", "ci_low", "ci_high", "-o", "win rate"),
            ("lc_win_rate", "lc_ci_low", "lc_ci_high", "--s", "LC win rate"),
        ):
            ys = [100 * run.evals[t].get(key, math.nan) for t in ts]
            err = [
                [100 * (run.evals[t].get(key, math.nan) - run.evals[t].get(lo, math.nan)) for t in ts],
                [100 * (run.evals[t].get(hi, math.nan) - run.evals[t].get(key, math.nan)) for t in ts],
            ]
            x = ([] if own0 else [0 + off]) + [t + off + (0.08 if key == "lc_win_rate" else 0) for t in ts]
            pre = [] if own0 else [0]
            ax.errorbar(
                x,
                ([] if own0 else [50.0]) + ys,
                yerr=[pre + err[0], pre + err[1]],
                fmt=style,
                color=color,
                capsize=3,
                alpha=1.0 if key == "win_rate" else 0.75,
                label=f"{run.label}: {name}" if len(runs) > 1 else name,
            )
        if run.ood:  # out of distribution: the same skills in phrasings training never saw
            to = sorted(run.ood)
            ys = [50.0] + [100 * run.ood[t]["win_rate"] for t in to]
            lo = [0.0] + [100 * (run.ood[t]["win_rate"] - run.ood[t]["ci_low"]) for t in to]
            hi = [0.0] + [100 * (run.ood[t]["ci_high"] - run.ood[t]["win_rate"]) for t in to]
            ax.errorbar(
                [0 + off - 0.08] + [t + off - 0.08 for t in to],
                ys,
                yerr=[lo, hi],
                fmt=":^",
                color=color,
                capsize=3,
                alpha=0.75,
                label=f"{run.label}: OOD win rate" if len(runs) > 1 else "out-of-distribution win rate",
            )
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
    type_colors = dict(zip(PAIR_TYPES, ["#4c72b0", "#dd8452", "#55a868", "#8172b2"]))
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
            ax.bar(
                x,
                ys,
                width * 0.9,
                bottom=bottom,
                color=type_colors.get(ty),
                edgecolor="white",
                label=ty if k == 0 or ty not in PAIR_TYPES else None,
                hatch=None if k == 0 else "//",
            )
            bottom = [b + y for b, y in zip(bottom, ys)]
        for xi, tot in zip(x, bottom):
            ax.annotate(
                f"{tot}" + (f"\n{run.label}" if len(runs) > 1 else ""),
                (xi, tot),
                textcoords="offset points",
                xytext=(0, 3),
                ha="center",
                fontsize=7,
            )
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
                    ax.hist(
                        margins[t],
                        bins=bins,
                        histtype="step",
                        lw=1.8,
                        color=color,
                        label=f"iter {t} (n={len(margins[t])})",
                    )
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
