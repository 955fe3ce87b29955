"""Training curves to a tracker: steps continue across iterations; TensorBoard receives them."""

from __future__ import annotations

import pytest

from dno import config as config_mod
from dno import io
from dno.errors import DnoError
from dno.run.rundir import RunDir
from dno.training import tracking


def test_step_logger_continues_steps_across_iterations(tmp_path):
    cfg = config_mod.Config()
    io.write_text(tmp_path / "config.yaml", config_mod.dump(cfg))
    for t, steps in ((1, 5), (2, 4)):
        io.write_jsonl(
            tmp_path / f"iter_{t}" / "train_log.jsonl", [{"step": s, "loss": 0.5} for s in range(1, steps + 1)]
        )
    run = RunDir(tmp_path, config_mod.load_config(tmp_path / "config.yaml"))
    logged = []

    class Fake(tracking.Tracker):
        def log(self, step, metrics):
            logged.append((step, metrics))

    assert tracking.step_offset(run, 1) == 0 and tracking.step_offset(run, 2) == 5
    on_step = tracking.StepLogger(Fake(), 3, tracking.step_offset(run, 3))
    on_step({"step": 1, "loss": 0.5, "reward_margin": 0.2, "reward_accuracy": 1.0})
    assert logged == [
        (10, {"train/loss": 0.5, "train/reward_margin": 0.2, "train/reward_accuracy": 1.0, "train/iteration": 3})
    ]  # iterations 1 and 2 took 5 + 4 steps
    assert isinstance(tracking.make_tracker("none", tmp_path), tracking.NullTracker)
    with pytest.raises(DnoError, match="report_to"):
        tracking.make_tracker("mlflow", tmp_path)
    with pytest.raises(DnoError, match="train.report_to"):
        config_mod.load_config(None, ["train.report_to=mlflow"])


def test_tensorboard_receives_the_training_curves(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tracker = tracking.make_tracker("tensorboard", tmp_path)
    for s in range(1, 4):
        tracker.log(s, {"train/loss": 1.0 / s})
    tracker.close()
    acc = EventAccumulator(str(tmp_path / "tensorboard"))
    acc.Reload()
    assert [round(e.value, 3) for e in acc.Scalars("train/loss")] == [1.0, 0.5, 0.333]
