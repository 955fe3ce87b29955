"""The best iteration on the validation prompts (dno.stages.evaluate.best_iteration)."""

from __future__ import annotations

import pytest

from dno import io
from dno.config import load_config
from dno.run.rundir import RunDir
from dno.stages import best_iteration


def run_with_val(tmp_path, rates: dict[int, float], val_prompts: int = 8) -> RunDir:
    cfg = load_config(None, ["iterations=3", f"data.val_prompts={val_prompts}", "policy.model=tiny-random"])
    for t, r in rates.items():
        io.write_json(tmp_path / f"iter_{t}" / "val" / "metrics.json", {"win_rate": r, "iteration": t})
    return RunDir(tmp_path, cfg)


@pytest.mark.parametrize(
    "rates, best",
    [
        ({1: 0.6, 2: 0.7, 3: 0.65}, 2),
        ({1: 0.6, 2: 0.7, 3: 0.7}, 2),  # a tie goes to the earlier, cheaper policy
        ({1: 0.4, 2: 0.5, 3: 0.45}, 0),  # π_0 counts as 50% and wins a tie with it
        ({1: 0.55}, 1),  # iterations not validated yet are left out
    ],
)
def test_best_iteration_is_the_highest_val_win_rate_ties_to_the_earlier(tmp_path, rates, best):
    b = best_iteration(run_with_val(tmp_path, rates))
    assert b["iteration"] == best and b["val_win_rates"] == {0: 0.5, **rates}
    assert b["val_win_rate"] == (0.5 if best == 0 else rates[best])
    assert b["policy"] == ("tiny-random" if best == 0 else f"iter_{best}/policy")


def test_no_validation_prompts_no_choice(tmp_path):
    assert best_iteration(run_with_val(tmp_path, {1: 0.9}, val_prompts=0)) is None


def test_best_iteration_on_the_out_of_distribution_prompts_when_asked(tmp_path):
    val = {1: 0.6, 2: 0.7, 3: 0.75}
    for t, r in {1: 0.58, 2: 0.62, 3: 0.55}.items():
        io.write_json(tmp_path / f"iter_{t}" / "ood" / "metrics.json", {"win_rate": r, "iteration": t})
    assert best_iteration(run_with_val(tmp_path, val))["iteration"] == 3
    run = run_with_val(tmp_path, val)
    run.cfg.eval.best_on = "ood"
    b = best_iteration(run)
    assert b["iteration"] == 2 and b["chosen_on"] == "ood" and b["ood_win_rate"] == 0.62
