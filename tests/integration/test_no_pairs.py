"""A judge whose scores sit too close for the pair rules (SmolLM2's pairwise verdicts all land near 3 of 6)
gives no pairs. Iteration 1 then stops the run with the numbers to change, before later iterations pay for
judging a policy that did not move; a later iteration warns and goes on (its policy may have converged)."""

from __future__ import annotations

import shutil

from tiny_runs import prepared_with_samples

from dno import io
from dno.cli import main


def _close_scores(run, t, step=0.1):
    """Every prompt's candidates scored 1.0-1.3: the best reaches the tiny config's threshold (1), no gap the margin."""
    rows = io.read_jsonl(run / f"iter_{t}" / "judgments.jsonl")
    for r in rows:
        r["scores"] = [1.0 + step * (i % 4) for i in range(len(r["scores"]))]
    io.write_jsonl(run / f"iter_{t}" / "judgments.jsonl", rows)


def test_no_pairs_in_iteration_1_stops_with_the_numbers_to_change(sampled_run, tmp_path, capsys):
    run = prepared_with_samples(sampled_run, tmp_path / "run", "pair.degenerate_repeats=0")
    _close_scores(run, 1)
    capsys.readouterr()
    assert main(["pair", str(run), "--iter", "1"]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("dno: error: iter 1: no pair passed the pairing rules"), err
    assert "scores span 1.00-1.30" in err and "widest gap below one of them is 0.30" in err
    assert "short of pair.student_margin=1" in err
    assert not (run / "iter_1" / "pairs.jsonl").exists(), "a resume must pair again, not train on nothing"


def test_a_judge_that_ties_everything_is_named_as_such(sampled_run, tmp_path, capsys):
    run = prepared_with_samples(sampled_run, tmp_path / "run", "pair.degenerate_repeats=0")
    _close_scores(run, 1, step=0)
    capsys.readouterr()
    assert main(["pair", str(run), "--iter", "1"]) == 2
    assert "the judge told no two candidates of a prompt apart" in capsys.readouterr().err


def test_no_pairs_after_iteration_1_warns_and_goes_on(sampled_run, tmp_path, capsys):
    run = prepared_with_samples(sampled_run, tmp_path / "run", "iterations=2", "pair.degenerate_repeats=0")
    for name in ("samples.jsonl", "judgments.jsonl"):
        (run / "iter_2").mkdir(exist_ok=True)
        shutil.copy(run / "iter_1" / name, run / "iter_2" / name)
    _close_scores(run, 2)
    capsys.readouterr()
    assert main(["pair", str(run), "--iter", "2"]) == 0
    err = capsys.readouterr().err
    assert "dno: warning: iter 2: no pair passed the pairing rules" in err and "π_2 is π_1" in err
    assert io.read_jsonl(run / "iter_2" / "pairs.jsonl") == []
