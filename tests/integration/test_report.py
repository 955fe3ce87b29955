"""`dno report` on constructed run directories whose numbers are known (`dno eval`: test_eval_command.py)."""

from __future__ import annotations

import dataclasses
import math
import statistics
from pathlib import Path

import pytest

from dno import config as config_mod
from dno import io
from dno.analysis.report import load_run, pgr, write_report
from dno.analysis.stats import summarize
from dno.cli import main
from dno.errors import DnoError

N_PER_TASK = 50
# Per iteration and task: outcomes of π_t against π_0 on 50 prompts each (1 win, 0.5 tie, 0 loss).
OUTCOMES = {
    1: {"arithmetic": [1.0] * 30 + [0.5] * 5 + [0.0] * 15, "instructions": [1.0] * 30 + [0.5] * 5 + [0.0] * 15},  # 65%
    2: {"arithmetic": [1.0] * 35 + [0.0] * 15, "instructions": [1.0] * 35 + [0.0] * 15},  # 70%
    3: {"arithmetic": [1.0] * 10 + [0.0] * 40, "instructions": [1.0] * 50},  # 60%, arithmetic regresses to 20%
}
LENGTH = {0: 100, 1: 150, 2: 200, 3: 250}  # chars: iteration 2 doubles iteration 0's length


def eval_metrics(t: int, outcomes, policy_rows, baseline_rows, policy_scores, baseline_scores, prompts) -> dict:
    """metrics.json as the eval stage writes it (dno.analysis.compare.judge_against_baseline + the iteration)."""
    m = summarize(
        outcomes,
        [len(r["response"]) for r in policy_rows],
        [len(r["response"]) for r in baseline_rows],
        [p["task"] for p in prompts],
        resamples=500,
    )
    m.update(
        judge="oracle",
        mean_score=statistics.fmean(policy_scores),
        baseline_mean_score=statistics.fmean(baseline_scores),
        iteration=t,
    )
    return m


def make_run(root: Path, outcomes=OUTCOMES, *, train_judge="oracle", old_metrics=False, failed_candidates=3) -> Path:
    """A finished 3-iteration run directory written file by file, as the stages would write it."""
    cfg = config_mod.Config()
    cfg.judge = dataclasses.replace(cfg.judge, type=train_judge)
    io.write_text(root / "config.yaml", config_mod.dump(cfg))
    prompts = [
        {"id": f"test-{i:03d}", "task": task, "messages": [{"role": "user", "content": "q"}]}
        for task in ("arithmetic", "instructions")
        for i in range(N_PER_TASK * (task == "instructions"), N_PER_TASK * (1 + (task == "instructions")))
    ]
    io.write_jsonl(root / "test_prompts.jsonl", prompts)
    base = [{"id": p["id"], "response": "b" * LENGTH[0], "finished": True} for p in prompts]
    io.write_jsonl(root / "baseline" / "responses.jsonl", base)
    for t, by_task in outcomes.items():
        d = root / f"iter_{t}"
        outs = by_task["arithmetic"] + by_task["instructions"]
        pol = [{"id": p["id"], "response": "p" * LENGTH[t], "finished": True} for p in prompts]
        io.write_jsonl(d / "eval" / "responses.jsonl", pol)
        scores = [[1.0 + 4.0 * o, 3.0] for o in outs]  # 5 win, 3 tie, 1 loss (soft outcomes in between)
        io.write_jsonl(
            d / "eval" / "judgments.jsonl",
            [
                {
                    "id": p["id"],
                    "task": p["task"],
                    "scores": s,
                    "outcome": o,
                    "policy_length": LENGTH[t],
                    "baseline_length": LENGTH[0],
                    "info": {},
                    "judge": "oracle",
                }
                for p, s, o in zip(prompts, scores, outs)
            ],
        )
        m = eval_metrics(t, outs, pol, base, [s[0] for s in scores], [s[1] for s in scores], prompts)
        if old_metrics:  # metrics.json from before the length-controlled statistics existed
            m = {k: v for k, v in m.items() if not k.startswith("lc_") and k not in ("by_task", "length_coef")}
        io.write_json(d / "eval" / "metrics.json", m)
        types = ["student>student"] * (8 * t) + ["teacher>student"] * (2 * t)
        io.write_jsonl(
            d / "pairs.jsonl",
            [
                {
                    "id": f"train{t}-{i}",
                    "type": ty,
                    "margin": 1.0 + i % 4,
                    "chosen": "c" * 40,
                    "rejected": "r" * 20,
                    "chosen_score": 5.0,
                    "rejected_score": 2.0,
                }
                for i, ty in enumerate(types)
            ],
        )
        io.write_jsonl(
            d / "train_log.jsonl",
            [
                {
                    "step": s,
                    "epoch": 0,
                    "loss": 0.69 - 0.05 * s - 0.1 * t,
                    "reward_margin": 0.1 * s,
                    "reward_accuracy": min(1.0, 0.5 + 0.1 * s),
                }
                for s in range(1, 6)
            ],
        )
        jrows = [
            {"id": f"train{t}-{i}", "scores": [5.0, 2.0, 3.0, 1.0], "info": {}, "judge": train_judge} for i in range(20)
        ]
        if t == 2:
            jrows[0]["scores"][:failed_candidates] = [math.nan] * failed_candidates
        io.write_jsonl(d / "judgments.jsonl", jrows)
        io.write_json(d / "timings.json", {"sample": 10.0 * t, "judge": 2.0, "pair": 0.1, "train": 30.0, "eval": 5.0})
    return root


def _not_blank(path: Path) -> None:
    import matplotlib.image

    img = matplotlib.image.imread(str(path))
    assert img.shape[0] > 200 and img.shape[1] > 300
    assert img[..., :3].std() > 0.05, f"{path.name} looks blank"


def test_report_shows_the_known_numbers_and_flags_length_and_regressions(tmp_path):
    run = make_run(tmp_path / "run_a")
    path = write_report([run])
    assert path == run / "report.md"
    text = path.read_text()
    # win rate per iteration with interval, LC, W/T/L, lengths and the length ratio
    assert "| 1 | 65.0 | [" in text and "| 60 / 10 / 30 | 150 | 1.50 |" in text
    assert "| 2 | 70.0 | [" in text and "| 70 / 0 / 30 | 200 | 2.00 |" in text
    assert "| 3 | 60.0 | [" in text
    assert "| 0 | 50.0 (itself) |" in text
    # equal lengths within an iteration: nothing to control for, so LC = raw
    m = load_run(run).evals[1]
    assert m["lc_win_rate"] == pytest.approx(0.65, abs=1e-3)
    # by task, pairs by type, training, judge failures, time
    assert "| arithmetic | 3 | 50 | 20.0 |" in text and "| instructions | 3 | 50 | 100.0 |" in text
    # iteration 2: 20 pairs, 4 teacher>student, 16 student>student, none from a warm start, no chosen cut off
    assert "| 2 | – | 20 | 4 | 0 | 16 | 0 | 0 |" in text
    assert "| 3 | 5 | 0.340 | 0.140 |" in text  # iteration 3 loss from 0.69−0.05−0.3 to 0.69−0.25−0.3
    assert "| 2 | pairing | oracle | 80 | 3 |" in text
    # the warnings nobody asked for
    assert "iteration 2: answers are 2.0× as long as the baseline's (200 vs 100 chars)" in text
    assert "iteration 3: `arithmetic` got worse (win rate 20.0%" in text
    assert "3 of 80 training candidates could not be judged" in text
    for name in ("winrate.png", "length.png", "pairs.png", "margins.png", "training.png"):
        assert f"]({name})" in text
        _not_blank(run / name)


def test_old_metrics_are_reported_as_they_are_without_recomputing(tmp_path):
    """metrics.json from before the length-controlled statistics: the report shows what the file holds (– for
    the missing columns) and does not rebuild statistics from the judgments."""
    run = make_run(tmp_path / "old", old_metrics=True)
    m = load_run(run).evals[2]
    assert "lc_win_rate" not in m and "by_task" not in m and m["win_rate"] == pytest.approx(0.70)
    assert m == io.read_json(run / "iter_2" / "eval" / "metrics.json")
    text = write_report([run], tmp_path / "out").read_text()
    assert "| 2 | 70.0 | [" in text and "| – | [–, –] | 70 / 0 / 30 | 200 | 2.00 |" in text


def test_lc_column_removes_a_length_only_gain(tmp_path):
    """Longer by 50 chars on 80 prompts, shorter by 50 on 20; P(win) is 80% when longer and 20% when shorter,
    whatever the prompt: raw win rate 68%, but at equal length it is a coin flip (LC = 50%)."""
    run = make_run(tmp_path / "len", outcomes={1: OUTCOMES[1]})
    prompts = io.read_jsonl(run / "test_prompts.jsonl")
    longer = [i for i in range(100) if i % 5 != 0]  # 80 prompts, spread over both tasks
    shorter = [i for i in range(100) if i % 5 == 0]  # 20 prompts
    wins = set(longer[::5] + longer[1::5] + longer[2::5] + longer[3::5]) | set(shorter[::5])  # 64 + 4
    pol = [{"id": p["id"], "response": "p" * (150 if i in longer else 50)} for i, p in enumerate(prompts)]
    outs = [float(i in wins) for i in range(100)]
    d = run / "iter_1" / "eval"
    io.write_jsonl(d / "responses.jsonl", pol)
    io.write_jsonl(
        d / "judgments.jsonl", [{"id": p["id"], "scores": [o, 0.5], "outcome": o} for p, o in zip(prompts, outs)]
    )
    base = io.read_jsonl(run / "baseline" / "responses.jsonl")
    io.write_json(d / "metrics.json", eval_metrics(1, outs, pol, base, outs, [0.5] * 100, prompts))
    m = load_run(run).evals[1]
    assert sum(o for o, p in zip(outs, pol) if len(p["response"]) == 150) == 64  # 80% of 80
    assert sum(o for o, p in zip(outs, pol) if len(p["response"]) == 50) == 4  # 20% of 20
    assert m["win_rate"] == pytest.approx(0.68)
    assert m["lc_win_rate"] == pytest.approx(0.5, abs=0.01) and m["lc_ci_low"] < 0.5 < m["lc_ci_high"]
    assert "part of the gain is answer length" in write_report([run]).read_text()


def test_several_runs_side_by_side_with_pgr(tmp_path):
    strong = make_run(tmp_path / "oracle_run")
    # the weak-judge run recovers half the oracle run's gain at every iteration
    half = {t: {k: [0.5 + (o - 0.5) / 2 for o in v] for k, v in by.items()} for t, by in OUTCOMES.items()}
    weak = make_run(tmp_path / "weak_run", half, train_judge="llm")
    rows = pgr(load_run(weak), load_run(strong))
    assert [r["iteration"] for r in rows] == [1, 2, 3]
    assert all(r["pgr_win_rate"] == pytest.approx(0.5) for r in rows)
    path = write_report([weak, strong], tmp_path / "cmp")
    text = path.read_text()
    assert "| weak_run | 1 | 57.5 |" in text and "| oracle_run | 1 | 65.0 |" in text
    assert "## Weak-to-strong: performance gap recovered" in text
    assert "| weak_run | 1 | 57.5 | 65.0 | 0.50 |" in text
    for name in ("winrate.png", "length.png", "pairs.png", "margins.png", "training.png"):
        _not_blank(tmp_path / "cmp" / name)


def test_report_errors_are_one_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DnoError, match="not a dno run directory"):
        write_report([tmp_path / "empty"])
    assert main(["report", str(tmp_path / "empty")]) == 2
    assert "not a dno run directory (no config.yaml)" in capsys.readouterr().err
    run = make_run(tmp_path / "r")
    with pytest.raises(DnoError, match="no such evaluation"):
        write_report([run], eval_key="nope__oracle")


def test_report_shows_tokens_per_second_per_stage(tmp_path):
    run = make_run(tmp_path / "run_tps")
    d = run / "iter_1"
    io.write_jsonl(d / "samples.jsonl", [{"id": f"s{i}", "responses": ["a", "b"], "tokens": [5, 5]} for i in range(20)])
    rows = [dict(r, tokens=3) for r in io.read_jsonl(d / "eval" / "responses.jsonl")]  # 100 answers
    io.write_jsonl(d / "eval" / "responses.jsonl", rows)
    io.write_json(d / "train_summary.json", {"pairs": 10, "steps": 5, "tokens_per_epoch": 600, "epochs": 2})
    text = write_report([run]).read_text()
    # timings of iteration 1: sample 10 s, train 30 s, eval 5 s
    assert "## Throughput (tokens/s)" in text
    assert "| 1 | 20 | 40 | 60 | – | – |" in text


# Out of distribution: iteration 2 gains on the test prompts (65 → 70%) but falls here (62 → 55%); iteration 3's
# arithmetic is below iteration 0 out of distribution.
OOD_OUTCOMES = {
    1: {"arithmetic": [1.0] * 31 + [0.0] * 19, "instructions": [1.0] * 31 + [0.0] * 19},  # 62%
    2: {"arithmetic": [1.0] * 27 + [0.5] * 1 + [0.0] * 22, "instructions": [1.0] * 27 + [0.5] + [0.0] * 22},  # 55%
    3: {"arithmetic": [1.0] * 5 + [0.0] * 45, "instructions": [1.0] * 40 + [0.0] * 10},
}


def test_report_shows_out_of_distribution_win_rates_and_warns_when_they_diverge(tmp_path):
    run = make_run(tmp_path / "run_ood")
    prompts = io.read_jsonl(run / "test_prompts.jsonl")
    base = io.read_jsonl(run / "baseline" / "responses.jsonl")
    for t, by_task in OOD_OUTCOMES.items():
        outs = by_task["arithmetic"] + by_task["instructions"]
        m = eval_metrics(t, outs, base, base, [3.0] * len(outs), [3.0] * len(outs), prompts)
        io.write_json(run / f"iter_{t}" / "ood" / "metrics.json", m)
    text = write_report([run]).read_text()
    assert "## Out of distribution" in text
    assert "| 1 | 65.0 | 62.0 | [" in text and "| 2 | 70.0 | 55.0 | [" in text
    assert "iteration 2: the test win rate rose (65.0% → 70.0%) while the out-of-distribution one fell" in text
    assert "iteration 3: out of distribution, `arithmetic` is worse than iteration 0 (win rate 10.0%" in text
    assert "iteration 1: the test win rate rose" not in text
    _not_blank(run / "winrate.png")


def test_one_opening_for_most_answers_is_flagged_against_the_baselines_share(tmp_path):
    """The policy that learned its judge's quirk: most answers begin alike, which the baseline's do not."""
    run = make_run(tmp_path / "run")
    for t, opening in {
        1: {"word": "the", "share": 0.44, "baseline_share": 0.44},  # as common as π_0's: no warning
        2: {"word": "a", "share": 0.35, "baseline_share": 0.11},
        3: {"word": "awesome", "share": 0.52, "baseline_share": 0.0},
    }.items():
        m = io.read_json(run / f"iter_{t}" / "eval" / "metrics.json")
        io.write_json(run / f"iter_{t}" / "eval" / "metrics.json", {**m, "opening": opening})
    text = write_report([run]).read_text()
    assert "iteration 3: 52.0% of the answers begin with “awesome” (the baseline's: 0.0%)" in text
    assert "iteration 2: 35.0% of the answers begin with “a”" in text
    assert "iteration 1: 44.0% of the answers begin" not in text
