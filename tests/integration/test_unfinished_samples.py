"""pair.unfinished: a sample cut off at sample.max_new_tokens is never the chosen side (`negative`), takes no
part (`drop`), or counts like any other (`keep`); the share cut off is in the log, summary.md and the report."""

from __future__ import annotations

import pytest
from tiny_runs import prepared_with_samples

from dno import io
from dno.cli import main


@pytest.fixture(scope="module")
def half_finished(sampled_run, tmp_path_factory):
    """The shared tiny run's samples with every other one marked finished (the tiny model rarely ends one)."""
    rows = io.read_jsonl(sampled_run / "iter_1" / "samples.jsonl")
    for r in rows:
        r["finished"] = [i % 2 == 0 for i in range(len(r["responses"]))]
    return rows


def _pairs(sampled_run, half_finished, root, mode):
    run = prepared_with_samples(sampled_run, root, f"pair.unfinished={mode}")
    io.write_jsonl(run / "iter_1" / "samples.jsonl", half_finished)
    assert main(["pair", str(run), "--iter", "1"]) == 0
    return io.read_jsonl(run / "iter_1" / "pairs.jsonl")


def test_cut_off_samples_are_only_rejected_dropped_or_kept(sampled_run, half_finished, tmp_path):
    keep, negative, drop = (_pairs(sampled_run, half_finished, tmp_path / m, m) for m in ("keep", "negative", "drop"))
    assert any(not p["chosen_finished"] for p in keep)  # the data lets a cut-off sample win
    assert negative and all(p["chosen_finished"] for p in negative)
    assert any(not p["rejected_finished"] for p in negative)
    assert drop and all(p["chosen_finished"] and p["rejected_finished"] for p in drop)


def test_the_share_cut_off_is_in_the_log_summary_and_report(tmp_path, capsys):
    from tiny_runs import FAST

    run = tmp_path / "run"
    assert main(["run", *FAST, "--run-dir", str(run)]) == 0
    rows = io.read_jsonl(run / "iter_1" / "samples.jsonl")
    share = sum(not f for r in rows for f in r["finished"]) / sum(len(r["finished"]) for r in rows)
    err = capsys.readouterr().err
    assert f"{100 * share:.0f}% of samples cut off at sample.max_new_tokens (pair.unfinished=keep)" in err
    summary = (run / "summary.md").read_text()
    assert "samples cut off %" in summary and f"| {100 * share:.1f} |" in summary
    report = (run / "report.md").read_text()
    assert "samples cut off %" in report and f"| {100 * share:.1f} |" in report
