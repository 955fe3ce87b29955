"""The stages of one DNO iteration. Each reads its inputs from the run directory and writes its outputs
there atomically, so any stage can be re-run alone (or in its own process) and a crashed run resumes
where it stopped. `prepare` and `baseline` run once, before iteration 1."""

from __future__ import annotations

from dno.run.rundir import RunDir
from dno.stages.evaluate import best_iteration, evaluate, evaluate_ood, validate
from dno.stages.judge import judge
from dno.stages.pair import pair, pair_counts
from dno.stages.prepare import BASELINE_FILES, baseline, prepare
from dno.stages.sample import sample
from dno.stages.train import train

STAGES = ("sample", "judge", "pair", "train", "eval", "val", "ood")
RUNNERS = {
    "sample": sample,
    "judge": judge,
    "pair": pair,
    "train": train,
    "eval": evaluate,
    "val": validate,
    "ood": evaluate_ood,
}
EVALS = ("eval", "val", "ood")
"""The held-out evaluations: `dno eval RUN --iter T` runs all three."""
OUTPUTS = {
    "sample": "samples.jsonl",
    "judge": "judgments.jsonl",
    "pair": "pairs.jsonl",
    "train": "policy/config.json",
    "eval": "eval/metrics.json",
    "val": "val/metrics.json",
    "ood": "ood/metrics.json",
}
"""The file whose presence marks a stage of an iteration complete (each is written last, atomically)."""


def missing_input(run: RunDir, t: int, stage: str) -> str | None:
    """What stage `stage` of iteration t reads that an earlier stage has not written yet, as the command that
    writes it; None when everything is there. (The loop runs stages in order; stage commands may not be.)"""
    policy_of = {"sample": t - 1, "train": t - 1, "eval": t, "val": t, "ood": t}
    need = {"judge": "sample", "pair": "judge", "train": "pair"}
    if stage in need and not is_done(run, t, need[stage]):
        return f"`dno {need[stage]} {run.root} --iter {t}` (it writes iter_{t}/{OUTPUTS[need[stage]]})"
    before = policy_of.get(stage, 0)
    if before > 0 and not is_done(run, before, "train"):
        return f"`dno train {run.root} --iter {before}` (it writes π_{before}, iter_{before}/policy)"
    return None


def is_done(run: RunDir, t: int, stage: str) -> bool:
    if (stage == "val" and not run.cfg.data.val_prompts) or (stage == "ood" and not run.has_ood):
        return True
    return (run.iter_dir(t) / OUTPUTS[stage]).is_file()


__all__ = [
    "BASELINE_FILES",
    "EVALS",
    "OUTPUTS",
    "RUNNERS",
    "STAGES",
    "baseline",
    "best_iteration",
    "is_done",
    "missing_input",
    "pair_counts",
    "prepare",
]
