"""A run whose judge stages are done resumes without its judge's server: the preflight checks only the
judges that the stages left to run will call."""

from __future__ import annotations

from http_servers import chat_completion, serve
from tiny_runs import FAST

from dno.cli import main


def test_resume_after_judging_needs_no_judge_server(tmp_path, capsys):
    run = tmp_path / "run"
    with serve(chat_completion("A")) as (url, server):
        judge = ["judge.type=api", f"judge.base_url={url}", "judge.model=m", "judge.api_key_env="]
        judge += ["judge.mode=pairwise", "judge.position=seeded", "judge.logprobs=false"]
        args = [*FAST, *judge, "--run-dir", str(run)]
        assert main(["run", *args, "--stop-after", "1:judge"]) == 0
        assert server["requests"] > 0
    # the server is gone: what is left (pair, train, eval with the oracle) needs no judge
    assert main(["run", *args]) == 0
    assert (run / "iter_1" / "eval" / "metrics.json").is_file()
    # but a stage left to run that calls the judge still finds out at once
    (run / "iter_1" / "judgments.jsonl").unlink()
    capsys.readouterr()
    assert main(["run", *args]) == 2
    assert "judge.base_url" in capsys.readouterr().err
