"""Eval, val and ood: π_t's greedy answers to the held-out prompts, judged against π_0's; the best iteration."""

from __future__ import annotations

from dno import io
from dno.analysis.compare import judge_against_baseline
from dno.analysis.tables import metrics_markdown
from dno.judges import build_judge
from dno.run.rundir import RunDir
from dno.stages.common import bar, greedy
from dno.stages.prepare import BASELINE_FILES
from dno.training import tracking


def evaluate(run: RunDir, t: int, split: str = "test") -> None:
    """Win rate of π_t against π_0 on the test (validation, out-of-distribution) prompts, ties = ½; metrics.json
    is written last."""
    out = run.iter_dir(t) / ("eval" if split == "test" else split)
    prompts = io.read_jsonl(run.root / f"{split}_prompts.jsonl")
    responses_path = out / "responses.jsonl"
    if not responses_path.is_file():
        io.write_jsonl(responses_path, greedy(run, t, prompts, f"iter {t} {split} responses"))
    j = build_judge(run.cfg.eval.judge, cache_dir=run.root / "judge_cache", field_prefix="eval.judge")
    with bar(len(prompts), f"iter {t} {split} judge ({j.name})") as progress:
        m = judge_against_baseline(
            j,
            prompts,
            io.read_jsonl(responses_path),
            io.read_jsonl(run.baseline_dir / BASELINE_FILES[split]),
            out,
            resamples=run.cfg.eval.bootstrap,
            progress=progress,
        )
    m["iteration"] = t
    io.write_text(out / "metrics.md", metrics_markdown(m))
    if split == "test":
        tracking.log_eval(run, t, m)
    io.write_json(out / "metrics.json", m)  # written last: its presence marks the stage complete


def validate(run: RunDir, t: int) -> None:
    evaluate(run, t, "val")


def evaluate_ood(run: RunDir, t: int) -> None:
    evaluate(run, t, "ood")


def best_iteration(run: RunDir) -> dict | None:
    """The iteration whose policy wins most often on the validation (or, with eval.best_on: ood, the
    out-of-distribution) prompts; π_0 counts as 50%."""
    split = run.cfg.eval.best_on
    if not (run.cfg.data.val_prompts if split == "val" else run.has_ood):
        return None
    rates = {0: 0.5}
    for t in range(1, run.cfg.iterations + 1):
        path = run.iter_dir(t) / split / "metrics.json"
        if path.is_file():
            rates[t] = io.read_json(path)["win_rate"]
    best = max(rates, key=lambda k: (rates[k], -k))  # ties go to the earlier, cheaper policy
    return {
        "iteration": best,
        "chosen_on": split,
        f"{split}_win_rate": rates[best],
        "policy": run.cfg.policy.model if best == 0 else f"iter_{best}/policy",
        f"{split}_win_rates": rates,
    }
