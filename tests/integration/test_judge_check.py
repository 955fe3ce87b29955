"""The judge check before iteration 1's judging: a judge that follows the oracle passes; one that always
prefers the first-shown answer is reported as no better than chance (log, judge_check.json, report), and
with judge.min_agreement stops the run before any pair is built, until the user lowers the bar."""

from __future__ import annotations

import pytest
from tiny_runs import prepared_with_samples

from dno import io
from dno.cli import main

JUDGES = """
from dno.judges.oracle import OracleJudge

def follows_oracle(prompt, a, b):
    sa, sb = OracleJudge().score(prompt, [a, b]).scores
    return 1.0 if sa > sb else 0.0 if sa < sb else 0.5

def always_first(prompt, a, b):
    return 1.0
"""


@pytest.fixture
def judges_file(tmp_path):
    path = tmp_path / "my_judges.py"
    path.write_text(JUDGES)
    return path


def _unjudged(sampled_run, root, judges_file, name, *more):
    """The shared tiny run's samples, to be judged by `name` of the judges file."""
    judge = ["judge.type=callable", "judge.mode=pairwise", f"judge.function={judges_file}:{name}"]
    run = prepared_with_samples(sampled_run, root, *judge, *more)
    (run / "iter_1" / "judgments.jsonl").unlink()
    return run


def test_a_judge_that_follows_the_oracle_passes_the_check(sampled_run, tmp_path, judges_file, capsys):
    run = _unjudged(sampled_run, tmp_path / "run", judges_file, "follows_oracle")
    assert main(["judge", str(run), "--iter", "1"]) == 0
    c = io.read_json(run / "judge_check.json")
    assert c["judged"] >= 8 and c["agreement"] == 1.0 and c["position_consistency"] == 1.0
    assert c["at_chance"] is False and "no better than chance" not in capsys.readouterr().err


def test_a_judge_at_chance_is_warned_about_and_min_agreement_stops_the_run(sampled_run, tmp_path, judges_file, capsys):
    run = _unjudged(sampled_run, tmp_path / "run", judges_file, "always_first", "judge.min_agreement=0.6")
    capsys.readouterr()
    assert main(["judge", str(run), "--iter", "1"]) == 2
    err = capsys.readouterr().err
    assert "no better than chance" in err
    (line,) = [x for x in err.splitlines() if x.startswith("dno: error:")]
    assert "agrees with the oracle on 50%" in line and "position consistency 0%" in line
    assert "judge.min_agreement=0.6" in line and not (run / "iter_1" / "judgments.jsonl").exists()
    c = io.read_json(run / "judge_check.json")
    assert c["agreement"] == 0.5 and c["first_position_rate"] == 1.0 and c["at_chance"] is True

    # the user accepts the judge: the check is not redone, the warning stays, judging goes on
    assert main(["judge", str(run), "--iter", "1", "judge.min_agreement=0"]) == 0
    assert "no better than chance" in capsys.readouterr().err
    assert io.read_json(run / "judge_check.json") == c and (run / "iter_1" / "judgments.jsonl").is_file()
    assert main(["pair", str(run), "--iter", "1"]) == 0 and main(["report", str(run)]) == 0
    report = (run / "report.md").read_text()
    assert "## Judge check" in report and "no better than chance, so its pairs may teach noise" in report


def test_min_agreement_without_a_check_is_refused(sampled_run, tmp_path, judges_file, capsys):
    from dno.config import load_config
    from dno.errors import DnoError

    with pytest.raises(DnoError, match="`judge.min_agreement` gates the judge check: it needs `judge.check_pairs` > 0"):
        load_config(None, ["judge.min_agreement=0.5", "judge.check_pairs=0"])
    # prompts the oracle cannot check: the check is skipped, and a gate that cannot be tested stops the run
    from types import SimpleNamespace

    from dno.judges import build_judge
    from dno.stages.judge import check_judge

    judge = ["judge.type=callable", "judge.mode=pairwise", f"judge.function={judges_file}:always_first"]
    cfg = load_config(None, [*judge, "judge.min_agreement=0.6"])
    run = SimpleNamespace(cfg=cfg, root=tmp_path)
    prompts = {"p": {"id": "p", "messages": [{"role": "user", "content": "Write a poem."}]}}
    with pytest.raises(DnoError, match="no training prompt is one the oracle can check, so judge.min_agreement=0.6"):
        check_judge(run, build_judge(cfg.judge), prompts, [{"id": "p", "responses": ["a", "b c"]}])


def test_every_shard_passes_the_gate_before_it_judges(sampled_run, tmp_path, judges_file, capsys):
    run = _unjudged(sampled_run, tmp_path / "run", judges_file, "always_first", "judge.min_agreement=0.6")
    assert main(["judge", str(run), "--iter", "1", "--shard", "1/2"]) == 2
    assert (run / "judge_check.json").is_file() and not list((run / "iter_1").glob("*shard*"))
