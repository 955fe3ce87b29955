"""The one Markdown table renderer, and the number formats every table and summary shares."""

from __future__ import annotations

import math
from collections.abc import Sequence

DASH = "–"


def missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def pct(x) -> str:
    """A rate in [0, 1] as a percentage with one decimal; – when absent or NaN."""
    return DASH if missing(x) else f"{100 * x:.1f}"


def num(x, fmt: str = ".0f") -> str:
    return DASH if missing(x) else format(x, fmt)


def interval(m: dict, lo: str = "ci_low", hi: str = "ci_high") -> str:
    """`62.1–70.3`: the interval of two keys of a metrics dict, in percent."""
    return DASH if missing(m.get(lo)) else f"{pct(m.get(lo))}–{pct(m.get(hi))}"


def table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def metrics_markdown(m: dict) -> str:
    """metrics.md: one evaluation of π_t against π_0, as a small table with the per-task breakdown."""
    rows = [
        ["win rate %", pct(m["win_rate"]), interval(m)],
        ["length-controlled win rate %", pct(m.get("lc_win_rate")), interval(m, "lc_ci_low", "lc_ci_high")],
        ["wins / ties / losses", f"{m['wins']} / {m['ties']} / {m['losses']} of {m['n']}", ""],
        ["judge failures", str(m["failures"]), ""],
        ["mean score (baseline)", f"{num(m['mean_score'], '.2f')} ({num(m['baseline_mean_score'], '.2f')})", ""],
        ["mean length, chars (baseline)", f"{num(m['mean_length'])} ({num(m['baseline_mean_length'])})", ""],
    ]
    rows += [[f"win rate % on {k}", pct(v["win_rate"]), interval(v)] for k, v in m["by_task"].items()]
    return f"# Iteration {m['iteration']} vs iteration 0\n\n" + table(["metric", "value", "95% CI"], rows)
