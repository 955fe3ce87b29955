"""`dno report` and `dno eval` on constructed run directories whose numbers are known, plus one real tiny run."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from pathlib import Path

import pytest

from dno import config as config_mod
from dno import io, stages
from dno.cli import main
from dno.errors import DnoError
from dno.report import load_run, pgr, write_report

N_PER_TASK = 50
# Per iteration and task: outcomes of π_t against π_0 on 50 prompts each (1 win, 0.5 tie, 0 loss).
OUTCOMES = {
    1: {"arithmetic": [1.0] * 30 + [0.5] * 5 + [0.0] * 15, "instructions": [1.0] * 30 + [0.5] * 5 + [0.0] * 15},  # 65%
    2: {"arithmetic": [1.0] * 35 + [0.0] * 15, "instructions": [1.0] * 35 + [0.0] * 15},  # 70%
    3: {"arithmetic": [1.0] * 10 + [0.0] * 40, "instructions": [1.0] * 50},  # 60%, arithmetic regresses to 20%
}
LENGTH = {0: 100, 1: 150, 2: 200, 3: 250}  # chars: iteration 2 doubles iteration 0's length


def make_run(root: Path, outcomes=OUTCOMES, *, train_judge="oracle", old_metrics=False, failed_candidates=3) -> Path:
    """A finished 3-iteration run directory written file by file, as the stages would write it."""
    cfg = config_mod.Config()
    cfg.judge = dataclasses.replace(cfg.judge, type=train_judge)
    io.write_text(root / "config.yaml", config_mod.dump(cfg))
    prompts = [{"id": f"test-{i:03d}", "task": task, "messages": [{"role": "user", "content": "q"}]}
               for task in ("arithmetic", "instructions") for i in range(N_PER_TASK * (task == "instructions"),
                                                                          N_PER_TASK * (1 + (task == "instructions")))]
    io.write_jsonl(root / "test_prompts.jsonl", prompts)
    base = [{"id": p["id"], "response": "b" * LENGTH[0], "finished": True} for p in prompts]
    io.write_jsonl(root / "baseline" / "responses.jsonl", base)
    for t, by_task in outcomes.items():
        d = root / f"iter_{t}"
        outs = by_task["arithmetic"] + by_task["instructions"]
        pol = [{"id": p["id"], "response": "p" * LENGTH[t], "finished": True} for p in prompts]
        io.write_jsonl(d / "eval" / "responses.jsonl", pol)
        scores = [[1.0 + 4.0 * o, 3.0] for o in outs]  # 5 win, 3 tie, 1 loss (soft outcomes in between)
        io.write_jsonl(d / "eval" / "judgments.jsonl", [
            {"id": p["id"], "scores": s, "outcome": o, "info": {}, "judge": "oracle"}
            for p, s, o in zip(prompts, scores, outs)])
        m = stages._metrics(outs, pol, base, [s[0] for s in scores], [s[1] for s in scores], prompts, 500)
        m["iteration"] = t
        if old_metrics:  # metrics.json from before the length-controlled statistics existed
            m = {k: v for k, v in m.items() if not k.startswith("lc_") and k not in ("by_task", "length_coef")}
        io.write_json(d / "eval" / "metrics.json", m)
        types = ["student>student"] * (8 * t) + ["teacher>student"] * (2 * t)
        io.write_jsonl(d / "pairs.jsonl", [
            {"id": f"train{t}-{i}", "type": ty, "margin": 1.0 + i % 4, "chosen": "c" * 40, "rejected": "r" * 20,
             "chosen_score": 5.0, "rejected_score": 2.0} for i, ty in enumerate(types)])
        io.write_jsonl(d / "train_log.jsonl", [
            {"step": s, "epoch": 0, "loss": 0.69 - 0.05 * s - 0.1 * t, "reward_margin": 0.1 * s,
             "reward_accuracy": min(1.0, 0.5 + 0.1 * s)} for s in range(1, 6)])
        jrows = [{"id": f"train{t}-{i}", "scores": [5.0, 2.0, 3.0, 1.0], "info": {}, "judge": train_judge}
                 for i in range(20)]
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
    assert "| 2 | 20 | 4 | 0 | 16 |" in text  # iteration 2: 20 pairs, 4 teacher>student, 16 student>student
    assert "| 3 | 5 | 0.340 | 0.140 |" in text  # iteration 3 loss from 0.69−0.05−0.3 to 0.69−0.25−0.3
    assert "| 2 | pairing | oracle | 80 | 3 |" in text
    # the warnings nobody asked for
    assert "iteration 2: answers are 2.0× as long as the baseline's (200 vs 100 chars)" in text
    assert "iteration 3: `arithmetic` got worse (win rate 20.0%" in text
    assert "3 of 80 training candidates could not be judged" in text
    for name in ("winrate.png", "length.png", "pairs.png", "margins.png", "training.png"):
        assert f"]({name})" in text
        _not_blank(run / name)


def test_report_recomputes_statistics_missing_from_old_metrics(tmp_path):
    run = make_run(tmp_path / "old", old_metrics=True)
    m = load_run(run).evals[2]
    assert m["lc_win_rate"] == pytest.approx(0.70, abs=1e-3) and m["by_task"]["arithmetic"]["win_rate"] == 0.7
    assert "| 2 | 70.0 | [" in write_report([run], tmp_path / "out").read_text()


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
    io.write_jsonl(d / "judgments.jsonl", [{"id": p["id"], "scores": [o, 0.5], "outcome": o} for p, o in zip(prompts, outs)])
    (d / "metrics.json").write_text(json.dumps({"iteration": 1}))  # old format: recomputed from the files above
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


# ---- dno eval ---------------------------------------------------------------------------------------

def make_arith_run(root: Path, correct: dict[int, int], n: int = 20) -> Path:
    """Arithmetic prompts judged by the real oracle; π_t answers the first correct[t] prompts right."""
    cfg = config_mod.Config()
    io.write_text(root / "config.yaml", config_mod.dump(cfg))
    prompts = [{"id": f"test-{i:03d}", "task": "arithmetic", "answer": 10 + i,
                "messages": [{"role": "user", "content": f"What is {i} + 10?"}]} for i in range(n)]
    io.write_jsonl(root / "test_prompts.jsonl", prompts)
    for t, k in correct.items():
        rows = [{"id": p["id"], "response": str(p["answer"] if i < k else -1)} for i, p in enumerate(prompts)]
        io.write_jsonl((root / "baseline" / "responses.jsonl") if t == 0 else (root / f"iter_{t}" / "eval" / "responses.jsonl"), rows)
        if t:
            io.write_text(root / f"iter_{t}" / "policy" / "config.json", "{}")  # marks π_t as trained
    return root


def test_dno_eval_against_a_teacher_file_is_exact_cached_and_reported(tmp_path, capsys):
    run = make_arith_run(tmp_path / "run", {0: 4, 1: 10, 2: 16, 3: 20})
    teacher = tmp_path / "teacher.jsonl"
    io.write_jsonl(teacher, [{"id": f"test-{i:03d}", "response": str(10 + i)} for i in range(20)])  # always right
    assert main(["eval", str(run), "--baseline", str(teacher)]) == 0
    out = capsys.readouterr().out
    evals = [p for p in (run / "evals").iterdir() if p.name.startswith("file-teacher")]
    assert len(evals) == 1 and evals[0].name.endswith("__oracle")
    # right answer vs right answer = tie; wrong vs right = loss: win rate = correct / (2 n)
    for t, k in {0: 4, 1: 10, 2: 16, 3: 20}.items():
        m = io.read_json(evals[0] / f"iter_{t}" / "metrics.json")
        assert m["win_rate"] == pytest.approx(k / 40) and (m["ties"], m["losses"]) == (k, 20 - k)
        assert m["baseline"].startswith("file-teacher")
    assert "| 3 | 50.0 |" in out and "| 0 | 10.0 |" in out
    # resumable: a second call judges nothing again
    stamp = (evals[0] / "iter_2" / "metrics.json").stat().st_mtime_ns
    assert main(["eval", str(run), "--baseline", str(teacher), "--iterations", "2"]) == 0
    assert (evals[0] / "iter_2" / "metrics.json").stat().st_mtime_ns == stamp
    # the stage outputs of `dno run` are untouched
    assert not (run / "iter_1" / "eval" / "metrics.json").exists()
    # and the report reads that evaluation
    text = write_report([run], tmp_path / "rep", eval_key=evals[0].name).read_text()
    assert "| 0 | 10.0 |" in text and "| 3 | 50.0 |" in text and "(itself)" not in text
    assert "against the responses in" in text


def test_dno_eval_against_another_runs_policy_and_pgr_with_iteration_zero(tmp_path):
    a = make_arith_run(tmp_path / "a", {0: 4, 1: 12})
    b = make_arith_run(tmp_path / "b", {0: 4, 1: 8})
    assert main(["eval", str(a), "--baseline", f"{b}:1"]) == 0
    m = io.read_json(a / "evals" / "run-b-iter1__oracle" / "iter_1" / "metrics.json")
    # a's π_1 right on 12, b's π_1 right on 8 (the same first 8): 8 ties, 4 wins, 8 both wrong (ties)
    assert (m["wins"], m["ties"], m["losses"]) == (4, 16, 0) and m["win_rate"] == pytest.approx(0.6)
    assert not (b / "evals").exists(), "nothing is written into the baseline run"


def test_dno_eval_errors(tmp_path, capsys):
    run = make_arith_run(tmp_path / "run", {0: 4, 1: 10})
    assert main(["eval", str(run), "--baseline", str(tmp_path / "missing.jsonl")]) == 2
    assert "baseline responses file not found" in capsys.readouterr().err
    assert main(["eval", str(run), "--iterations", "3"]) == 2
    assert "outside 0..3" not in capsys.readouterr().err  # default config: 3 iterations, 3 is not trained
    bad = tmp_path / "partial.jsonl"
    io.write_jsonl(bad, [{"id": "test-000", "response": "10"}])
    assert main(["eval", str(run), "--baseline", str(bad)]) == 2
    assert "no response for prompt 'test-001'" in capsys.readouterr().err
    assert main(["eval", str(run), "judge.nonsense=1"]) == 2
    assert "unknown key `judge.nonsense`" in capsys.readouterr().err


# ---- training curves to a tracker -------------------------------------------------------------------

def test_step_logger_continues_steps_across_iterations(tmp_path):
    from dno import tracking
    from dno.rundir import RunDir

    run_root = make_run(tmp_path / "r")
    run = RunDir(run_root, config_mod.load_config(run_root / "config.yaml"))
    logged = []

    class Fake(tracking.Tracker):
        def log(self, step, metrics):
            logged.append((step, metrics))

    on_step = tracking.StepLogger(Fake(), 3, tracking.step_offset(run, 3))
    on_step({"step": 1, "loss": 0.5, "reward_margin": 0.2, "reward_accuracy": 1.0})
    assert logged == [(11, {"train/loss": 0.5, "train/reward_margin": 0.2, "train/reward_accuracy": 1.0,
                            "train/iteration": 3})]  # iterations 1 and 2 took 5 steps each
    assert isinstance(tracking.make_tracker("none", run_root), tracking.NullTracker)
    with pytest.raises(DnoError, match="report_to"):
        tracking.make_tracker("mlflow", run_root)
    with pytest.raises(DnoError, match="train.report_to"):
        config_mod.load_config(None, ["train.report_to=mlflow"])


def test_tensorboard_receives_the_training_curves(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from dno import tracking

    tracker = tracking.make_tracker("tensorboard", tmp_path)
    for s in range(1, 4):
        tracker.log(s, {"train/loss": 1.0 / s})
    tracker.close()
    acc = EventAccumulator(str(tmp_path / "tensorboard"))
    acc.Reload()
    assert [round(e.value, 3) for e in acc.Scalars("train/loss")] == [1.0, 0.5, 0.333]


# ---- the real loop ----------------------------------------------------------------------------------

def test_a_finished_run_leaves_its_report_and_dno_eval_decodes_new_prompts(tmp_path):
    run = tmp_path / "tiny"
    assert main(["run", "tiny", "iterations=1", "data.val_prompts=4", "threads=2", "--run-dir", str(run)]) == 0
    text = (run / "report.md").read_text()
    assert "## Win rate per iteration" in text and "| 1 |" in text
    for name in ("winrate.png", "length.png", "pairs.png", "margins.png", "training.png"):
        assert (run / name).stat().st_size > 5000
    metrics = io.read_json(run / "iter_1" / "eval" / "metrics.json")
    assert {"lc_win_rate", "lc_ci_low", "lc_ci_high", "by_task", "length_ratio"} <= set(metrics)
    # validation prompts: the run's own val-stage answers are reused, nothing is decoded again
    assert main(["eval", str(run), "--split", "val"]) == 0
    assert (run / "evals" / "iter0__oracle__val" / "iter_1" / "metrics.json").is_file()
    assert not (run / "evals" / "responses_val").exists()
    # another run's policy on prompts it never saw is decoded here, once, into this run's evals/
    other = tmp_path / "other"
    shutil.copytree(run, other, ignore=shutil.ignore_patterns("evals"))
    io.write_jsonl(other / "test_prompts.jsonl", io.read_jsonl(other / "test_prompts.jsonl")[:2])
    assert main(["eval", str(run), "--baseline", f"{other}:1"]) == 0
    base = io.read_jsonl(run / "evals" / "run-other-iter1__oracle" / "baseline_responses.jsonl")
    assert [r["id"] for r in base] == [p["id"] for p in io.read_jsonl(run / "test_prompts.jsonl")]
    m = io.read_json(run / "evals" / "run-other-iter1__oracle" / "iter_1" / "metrics.json")
    assert m["ties"] == m["n"]  # the same policy, greedy, on the same prompts: identical answers
    assert not (other / "evals").exists()
