"""The shared number formats and the one Markdown table renderer."""

from __future__ import annotations

import math

from dno.analysis.tables import DASH, interval, metrics_markdown, num, pct, table


def test_number_formats_and_missing_values():
    assert pct(0.6543) == "65.4" and pct(None) == DASH and pct(math.nan) == DASH and pct(1) == "100.0"
    assert num(12.6) == "13" and num(1.234, ".2f") == "1.23" and num(None) == DASH
    assert interval({"ci_low": 0.5, "ci_high": 0.75}) == "50.0–75.0" and interval({}) == DASH
    assert interval({"lc_ci_low": 0.1, "lc_ci_high": 0.2}, "lc_ci_low", "lc_ci_high") == "10.0–20.0"


def test_table():
    assert table(["a", "b"], [["1", 2], ["x", "y"]]) == "| a | b |\n|---|---|\n| 1 | 2 |\n| x | y |\n"
    assert table(["only"], []) == "| only |\n|---|\n"


def test_metrics_markdown_is_a_small_table():
    m = {
        "iteration": 2,
        "win_rate": 0.625,
        "ci_low": 0.5,
        "ci_high": 0.75,
        "lc_win_rate": math.nan,
        "lc_ci_low": math.nan,
        "lc_ci_high": math.nan,
        "wins": 5,
        "ties": 1,
        "losses": 2,
        "n": 8,
        "failures": 0,
        "mean_score": 4.25,
        "baseline_mean_score": 3.0,
        "mean_length": 40.4,
        "baseline_mean_length": 20.0,
        "by_task": {"arithmetic": {"win_rate": 0.625, "ci_low": 0.5, "ci_high": 0.75}},
    }
    text = metrics_markdown(m)
    assert text.startswith("# Iteration 2 vs iteration 0\n\n| metric | value | 95% CI |\n")
    assert "| win rate % | 62.5 | 50.0–75.0 |" in text
    assert f"| length-controlled win rate % | {DASH} | {DASH} |" in text
    assert "| wins / ties / losses | 5 / 1 / 2 of 8 |  |" in text
    assert (
        "| mean score (baseline) | 4.25 (3.00) |  |" in text
        and "| mean length, chars (baseline) | 40 (20) |  |" in text
    )
    assert "| win rate % on arithmetic | 62.5 | 50.0–75.0 |" in text
