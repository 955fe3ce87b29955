"""The documents' generated tables match the run artifacts they come from (scripts/doc_tables.py)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("doc_tables", ROOT / "scripts" / "doc_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_documents_are_up_to_date_with_their_results():
    r = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "doc_tables.py"), "render", "--check"], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_changed_result_changes_the_rendered_table(tmp_path, monkeypatch):
    tables = _script()
    monkeypatch.setattr(tables, "RESULTS", tmp_path)
    res = json.loads((ROOT / "docs" / "results" / "default.json").read_text())
    (tmp_path / "default.json").write_text(json.dumps(res))
    before = tables.run_table(["default"])
    res["iterations"][-1]["win_rate"] = 0.5
    (tmp_path / "default.json").write_text(json.dumps(res))
    after = tables.run_table(["default"])
    assert before != after and "| 50.0 |" in after.splitlines()[-1]


def test_a_saved_benchmark_renders_its_tables_and_headline(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("record", ROOT / "benchmarks" / "record.py")
    record = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(record)
    monkeypatch.setattr(record, "RESULTS", tmp_path)
    monkeypatch.setattr(sys, "argv", ["benchmarks/toy.py", "--repeats", "2", "--save"])
    rec = record.Record("toy")
    rec.table("speed", ["variant", "s/pair"], [["dno", 0.85], ["trl", 2.89]], note="16 pairs")
    rec.headline_row("dno vs TRL", "**3.40x**", "≥ 1.3x", "yes")
    path = rec.finish(save=True, raw={"dno": [0.85]})
    saved = json.loads(path.read_text())
    assert path.name == "bench_toy.json" and saved["command"] == "benchmarks/toy.py --repeats 2"
    assert saved["machine"]["cores"] >= 1 and saved["machine"]["other_cores_busy"] >= 0

    tables = _script()
    monkeypatch.setattr(tables, "RESULTS", tmp_path)
    out = tables.bench_table(["toy", "speed"])
    assert out.startswith("_`benchmarks/toy.py --repeats 2`, ") and "16 pairs._" in out
    assert out.endswith("| variant | s/pair |\n|---|---|\n| dno | 0.85 |\n| trl | 2.89 |\n")
    summary = tables.bench_summary(["toy"])
    assert summary.splitlines()[-1].startswith(
        "| dno vs TRL | `benchmarks/toy.py --repeats 2` | **3.40x** | ≥ 1.3x | yes |"
    )


def _eval_dir(
    root: Path, run: str, outcomes: list[float], split: str = "fresh-1a2b3c4d", flip: float = 0.0, tasks=(), length=0.0
) -> Path:
    """A `dno eval` result directory as run_eval writes it, iteration 3 evaluated, in a run whose training judge
    flipped `flip` of its verdicts."""
    d = root / run / "evals" / f"iter0__oracle__{split}"
    (d / "iter_3").mkdir(parents=True)
    noise = f"\n  noise: {{flip: {flip}, length_bias: {length}, seed: 0}}" if flip or length else ""
    (root / run / "config.yaml").write_text(f"iterations: 3\njudge:\n  type: oracle{noise}\n")
    info = {"baseline": "iter0", "baseline_description": "the iteration-0 policy", "judge": "oracle", "split": split}
    (d / "eval.json").write_text(json.dumps(info))
    n, wins = len(outcomes), sum(o == 1 for o in outcomes)
    metrics = {"n": n, "win_rate": sum(outcomes) / n, "ci_low": 0.1, "ci_high": 0.9, "mean_score": 3.0}
    metrics |= {"wins": wins, "ties": sum(o == 0.5 for o in outcomes), "losses": sum(o == 0 for o in outcomes)}
    (d / "iter_3" / "metrics.json").write_text(json.dumps(metrics))
    rows = [{"id": f"fresh-{i:05d}", "outcome": o} for i, o in enumerate(outcomes)]
    for row, task in zip(rows, tasks):
        row["task"] = task
    (d / "iter_3" / "judgments.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return d


def test_held_out_evaluations_compare_runs_prompt_by_prompt(tmp_path, monkeypatch):
    """`collect-eval` keeps a `dno eval` result's per-prompt outcomes; the heldout table's Δ pairs them."""
    tables = _script()
    monkeypatch.setattr(tables, "RESULTS", tmp_path / "results")
    (tmp_path / "results").mkdir()
    tables.collect_eval(_eval_dir(tmp_path, "a", [1.0] * 6 + [0.5] * 2), "heldout_a")
    tables.collect_eval(_eval_dir(tmp_path, "b", [1.0] * 2 + [0.5] * 6), "heldout_b")
    tables.collect_eval(_eval_dir(tmp_path, "c", [0.0] * 8, split="other-00000000"), "heldout_c")
    saved = json.loads((tmp_path / "results" / "heldout_b.json").read_text())
    assert saved["run"] == "b" and saved["iteration"] == 3 and len(saved["outcomes"]) == 8
    rows = tables.heldout_table(["heldout_a", "heldout_b", "heldout_c"]).splitlines()
    assert rows[0].endswith("| Δ win rate vs `a` (paired 95% CI) |")
    assert rows[2].startswith("| `a` | π_3 | 8 | 87.5 |") and rows[2].endswith("| – |")
    assert rows[3].startswith("| `b` | π_3 | 8 | 62.5 |") and "| -25.0 (" in rows[3]  # (0.625 - 0.875)
    assert rows[4].endswith("| – |"), "results on other prompts are never paired"
    with pytest.raises(SystemExit, match="iteration 2 not evaluated"):
        tables.collect_eval(tmp_path / "a" / "evals" / "iter0__oracle__fresh-1a2b3c4d", "x", iteration=2)


def test_the_held_out_table_splits_the_paired_difference_by_task(tmp_path, monkeypatch):
    """A gain on one task can hide a loss on another: one Δ column per task, paired on that task's prompts."""
    tables = _script()
    monkeypatch.setattr(tables, "RESULTS", tmp_path / "results")
    (tmp_path / "results").mkdir()
    tasks = ["arith"] * 4 + ["instr"] * 4
    tables.collect_eval(_eval_dir(tmp_path, "a", [0.5] * 4 + [1.0] * 4, tasks=tasks), "heldout_a")
    tables.collect_eval(_eval_dir(tmp_path, "b", [1.0] * 4 + [0.5] * 4, tasks=tasks), "heldout_b")
    rows = tables.heldout_table(["heldout_a", "heldout_b"]).splitlines()
    assert rows[0].endswith("| Δ win rate vs `a` (paired 95% CI) | Δ arith | Δ instr |")
    assert rows[3].startswith("| `b` | π_3 | 8 | 75.0 |")
    assert "| +0.0 (" in rows[3]  # level overall, where the tasks' columns show the trade
    assert rows[3].endswith("| +50.0 (+50.0 to +50.0) | -50.0 (-50.0 to -50.0) |")


def test_the_noise_table_sets_each_noisy_run_against_its_clean_method(tmp_path, monkeypatch):
    """Per method: the flip rate from the run's config, PGR against the clean run, Δ paired prompt by prompt, and
    whether it degrades less than the first method at the same flip rate."""
    tables = _script()
    monkeypatch.setattr(tables, "RESULTS", tmp_path / "results")
    (tmp_path / "results").mkdir()
    tables.collect_eval(_eval_dir(tmp_path, "dpo", [1.0] * 6 + [0.5] * 2), "heldout_dpo")
    tables.collect_eval(_eval_dir(tmp_path, "dpo_flip30", [1.0] * 3 + [0.5] * 5, flip=0.3), "heldout_dpo_flip30")
    tables.collect_eval(_eval_dir(tmp_path, "soft", [1.0] * 4 + [0.5] * 4), "heldout_soft")
    tables.collect_eval(_eval_dir(tmp_path, "soft_flip30", [1.0] * 4 + [0.5] * 4, flip=0.3), "heldout_soft_flip30")
    rows = tables.noise_table(["heldout_dpo,heldout_dpo_flip30", "heldout_soft,heldout_soft_flip30"]).splitlines()[2:]
    assert rows[0].startswith("| `dpo` | none | `dpo` | 87.5 |") and rows[0].endswith("| 1.00 | – | – |")
    # (0.6875 - 0.5) / (0.875 - 0.5) = 0.5; the Δ (0.6875 - 0.875) pairs the same prompts
    assert rows[1].startswith("|  | 30% flipped | `dpo_flip30` | 68.8 |") and "| 0.50 | -18.8 (" in rows[1]
    assert (
        rows[3].startswith("|  | 30% flipped | `soft_flip30` | 75.0 |") and "| 1.00 | +0.0 (+0.0 to +0.0) |" in rows[3]
    )
    # soft lost nothing where dpo lost 18.8 points: soft's Δ minus dpo's Δ, prompt by prompt
    assert rows[3].endswith("| +18.8 (+0.0 to +37.5) |") and rows[1].endswith("| – |")
    # another kind of noise is compared with the same kind only; results collected before judge_noise still read
    tables.collect_eval(_eval_dir(tmp_path, "dpo_len30", [1.0] * 5 + [0.5] * 3, length=0.3), "heldout_dpo_len30")
    tables.collect_eval(_eval_dir(tmp_path, "soft_len30", [1.0] * 2 + [0.5] * 6, length=0.3), "heldout_soft_len30")
    old = json.loads((tmp_path / "results" / "heldout_soft_flip30.json").read_text())
    old["judge_flip"] = 0.3  # as collect-eval wrote it then
    del old["judge_noise"]
    (tmp_path / "results" / "heldout_soft_flip30.json").write_text(json.dumps(old))
    groups = ["heldout_dpo,heldout_dpo_flip30,heldout_dpo_len30", "heldout_soft,heldout_soft_flip30,heldout_soft_len30"]
    rows = tables.noise_table(groups).splitlines()[2:]
    assert rows[2].startswith("|  | 30% length bias | `dpo_len30` | 81.2 |") and rows[2].endswith("| – |")
    assert rows[4].startswith("|  | 30% flipped | `soft_flip30` |") and rows[4].endswith("| +18.8 (+0.0 to +37.5) |")
    # soft lost 12.5 more than dpo under length bias (dpo -6.2, soft -18.8)
    assert rows[5].startswith("|  | 30% length bias | `soft_len30` | 62.5 |") and "| -12.5 (" in rows[5]
    tables.collect_eval(_eval_dir(tmp_path, "other", [1.0] * 8, split="other-00000000", flip=0.1), "heldout_other")
    with pytest.raises(SystemExit, match="evaluated on other prompts"):
        tables.noise_table(["heldout_dpo,heldout_other"])


def test_the_judges_table_measures_each_judge_against_the_oracle_run(tmp_path, monkeypatch):
    """Agreement from `dno agree`, the run trained with the judge, and PGR against the oracle-trained run: on the
    fresh prompts when the oracle run was evaluated on them, else on the runs' own test prompts."""
    tables = _script()
    monkeypatch.setattr(tables, "RESULTS", tmp_path)

    def write(name, data):
        (tmp_path / f"{name}.json").write_text(json.dumps(data))

    def run(name, test, fresh=None):
        it = {"win_rate": test, "ci_low": test - 0.05, "ci_high": test + 0.05, "ood": {"win_rate": 0.55}}
        write(name, {"iterations": [it]})
        if fresh is not None:
            write(f"heldout_{name}", {"metrics": {"win_rate": fresh, "ci_low": fresh - 0.03, "ci_high": fresh + 0.03}})

    run("clean", 0.70, 0.60)
    run("noisy", 0.65, 0.55)
    write(
        "agree_noisy",
        {
            "agreement": 0.8,
            "position_consistency": 0.7,
            "position_consistency_calibrated": 0.7,
            "judged": 9,
            "pairs": 10,
        },
    )
    rows = tables.judges_table(["-:clean", "agree_noisy:noisy", "agree_noisy:-"]).splitlines()
    assert rows[0].endswith("| fresh prompts win rate | PGR (fresh prompts) |")
    assert rows[2].startswith(
        "| oracle | – | 100 (itself) | – | – | `clean` | 70.0 (65.0–75.0) | 55.0 | 60.0 (57.0–63.0) |"
    )
    assert rows[3].endswith("| `noisy` | 65.0 (60.0–70.0) | 55.0 | 55.0 (52.0–58.0) | 0.50 |")  # (55-50)/(60-50)
    assert rows[4] == "| `noisy` | 9 / 10 | 80.0 | 70.0 | 70.0 | – | – | – | – | – |"  # pairs left out: judge failed
    (tmp_path / "heldout_clean.json").unlink()  # no fresh prompts for the oracle run: PGR on the test prompts
    rows = tables.judges_table(["-:clean", "agree_noisy:noisy"]).splitlines()
    assert rows[0].endswith("| PGR (test prompts) |") and rows[3].endswith("| 0.75 |")  # (65-50)/(70-50)


def test_the_constraints_table_counts_each_constraint_held_by_pi0_and_each_policy(tmp_path, monkeypatch):
    """collect-eval --prompts reads each prompt's constraints and the oracle's `held` checks (policy first); an empty answer has no checks: none held."""
    tables = _script()
    monkeypatch.setattr(tables, "RESULTS", tmp_path / "results")
    (tmp_path / "results").mkdir()
    prompts = tmp_path / "fresh.jsonl"
    cons = [[{"type": "uppercase"}], [{"type": "uppercase"}, {"type": "end_with", "word": "x"}], [{"type": "end_with"}]]
    prompts.write_text(
        "".join(json.dumps({"id": f"fresh-{i:05d}", "constraints": c}) + "\n" for i, c in enumerate(cons))
    )
    for run, held in (("a", [[False], [True, False], [True]]), ("b", [[True], [True, True], []])):
        d = _eval_dir(tmp_path, run, [0.5, 0.5, 0.5, 1.0], tasks=["instructions"] * 3 + ["arithmetic"])
        rows = [
            {
                "id": f"fresh-{i:05d}",
                "outcome": 0.5,
                "task": "instructions",
                "info": {"checks": [{"held": h}, {"held": [False] * len(h)}]},
            }
            for i, h in enumerate(held)
        ]
        rows.append(
            {"id": "fresh-00003", "outcome": 1.0, "task": "arithmetic", "info": {"checks": [{"correct": True}] * 2}}
        )
        (d / "iter_3" / "judgments.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        tables.collect_eval(d, f"heldout_{run}", prompts=prompts)
    out = tables.constraints_table(["heldout_a", "heldout_b"]).splitlines()
    assert out[0] == "| constraint | asked | π_0 | `a` π_3 | `b` π_3 |"
    assert out[2:] == ["| `end_with` | 2 | 0 | 1 | 1 |", "| `uppercase` | 2 | 0 | 1 | 2 |"]
