"""Training curves to TensorBoard or Weights & Biases (`train.report_to`), off by default.

    with open_tracker(run, t) as on_step:        # a callable; training.train calls on_step(metrics)
        training.train(..., on_step=on_step)

Steps are global across iterations (iteration t continues where t−1's train_log.jsonl ended), so one
curve spans the whole run. TensorBoard logs go to RUN/tensorboard/ (`tensorboard --logdir RUN/tensorboard`);
W&B logs to the project `dno` with the run directory's name, resuming the same W&B run on every iteration.
Both packages are optional extras, imported only when asked for.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from dno import io
from dno.errors import DnoError

BACKENDS = ("none", "tensorboard", "wandb")


class Tracker:
    """Logs scalar dicts; `log(step, metrics)`."""

    def log(self, step: int, metrics: dict) -> None:  # pragma: no cover - interface
        ...

    def close(self) -> None: ...


class NullTracker(Tracker):
    def log(self, step: int, metrics: dict) -> None:
        pass


class TensorBoardTracker(Tracker):
    def __init__(self, log_dir: Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise DnoError(
                "config: `train.report_to: tensorboard` needs the tensorboard package "
                "(pip install 'dno[tensorboard]' or pip install tensorboard)"
            ) from None
        self.writer = SummaryWriter(str(log_dir))

    def log(self, step: int, metrics: dict) -> None:
        for k, v in metrics.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                self.writer.add_scalar(k, v, step)

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()


class WandbTracker(Tracker):
    def __init__(self, root: Path, config: dict):
        try:
            import wandb
        except ImportError:
            raise DnoError(
                "config: `train.report_to: wandb` needs the wandb package "
                "(pip install 'dno[wandb]' or pip install wandb)"
            ) from None
        self.wandb = wandb
        self.run = wandb.init(
            project="dno", name=root.name, id=_wandb_id(root), resume="allow", dir=str(root), config=config
        )

    def log(self, step: int, metrics: dict) -> None:
        self.run.log(metrics, step=step)

    def close(self) -> None:
        self.run.finish()


def _wandb_id(root: Path) -> str:
    """One W&B run per run directory, stable across resumes."""
    path = root / "wandb_id.txt"
    if path.is_file():
        return path.read_text().strip()
    import uuid

    rid = f"{root.name[:40]}-{uuid.uuid4().hex[:8]}"
    io.write_text(path, rid + "\n")
    return rid


def make_tracker(backend: str, root: Path, config: dict | None = None) -> Tracker:
    if backend == "none":
        return NullTracker()
    if backend == "tensorboard":
        return TensorBoardTracker(Path(root) / "tensorboard")
    if backend == "wandb":
        return WandbTracker(Path(root), config or {})
    raise DnoError(f"config: `train.report_to` must be one of {', '.join(BACKENDS)}, got {backend!r}")


def step_offset(run, t: int) -> int:
    """Optimizer steps taken by iterations before t (from their train_log.jsonl)."""
    total = 0
    for s in range(1, t):
        path = run.iter_dir(s) / "train_log.jsonl"
        if path.is_file():
            total += len(io.read_jsonl(path))
    return total


class StepLogger:
    """The `on_step` callback of training.train: logs train/<metric> at the run-wide step."""

    def __init__(self, tracker: Tracker, t: int, offset: int):
        self.tracker, self.t, self.offset = tracker, t, offset

    def __call__(self, metrics: dict) -> None:
        self.tracker.log(
            self.offset + int(metrics["step"]),
            {f"train/{k}": v for k, v in metrics.items() if k not in ("step",)} | {"train/iteration": self.t},
        )


@contextlib.contextmanager
def open_tracker(run, t: int):
    """The on_step callback for iteration t's training (a no-op unless `train.report_to` asks for a backend)."""
    from dno import config as config_mod

    backend = getattr(run.cfg.train, "report_to", "none")
    tracker = make_tracker(backend, run.root, config_mod.flatten(config_mod.to_dict(run.cfg)))
    try:
        yield StepLogger(tracker, t, step_offset(run, t))
    finally:
        tracker.close()


def log_eval(run, t: int, metrics: dict) -> None:
    """Iteration t's win rates as eval/<metric> at the last training step of iteration t (steps only grow,
    as W&B requires); a no-op unless `train.report_to` is set."""
    backend = getattr(run.cfg.train, "report_to", "none")
    if backend == "none":
        return
    tracker = make_tracker(backend, run.root, None)
    try:
        tracker.log(
            step_offset(run, t + 1),
            {"eval/iteration": t}
            | {
                f"eval/{k}": metrics[k]
                for k in ("win_rate", "lc_win_rate", "mean_length")
                if isinstance(metrics.get(k), (int, float))
            },
        )
    finally:
        tracker.close()
