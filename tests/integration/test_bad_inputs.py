"""The bad-input matrix: every case is one `dno: error:` line on stderr naming the file, line or field, exit
status 2, no traceback, and a run directory that already existed is left byte for byte as it was (a case
aimed at a fresh directory must not create it)."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from dno.cli import main

ROOT = Path(__file__).resolve().parents[2]
BASE = ["tiny", "threads=2", "iterations=1", "data.val_prompts=0"]
NO_KEY = "DNO_TEST_KEY_THAT_IS_NOT_SET"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api(prefix: str = "judge", url: str | None = None, key_env: str = "") -> list[str]:
    url = url or f"http://127.0.0.1:{closed_port()}/v1"
    return [f"{prefix}.type=api", f"{prefix}.base_url={url}", f"{prefix}.model=m", f"{prefix}.api_key_env={key_env}"]


def write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def prompts_file(tmp: Path, lines: list[str]) -> str:
    return write(tmp / "prompts.jsonl", "".join(line + "\n" for line in lines))


def truncate(path: Path, keep: float = 0.6) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def edit_first_row(path: Path, change) -> None:
    lines = path.read_text().splitlines(keepends=True)
    row = json.loads(lines[0])
    change(row)
    path.write_text(json.dumps(row) + "\n" + "".join(lines[1:]))


def truncated_policy(policy: Path) -> None:
    from dno import models

    shutil.copytree(models.resolve(models.TINY), policy)
    truncate(policy / "model.safetensors", 0.9)


GOOD = '{"prompt": "How many words are in: a b c?", "answer": 3}'

# id -> (tmp, run) -> (argv after `run`, --run-dir or None for the existing run, substrings the line must hold)
CASES = {
    # -- the config file and overrides
    "yaml_malformed": lambda t, r: (
        [write(t / "c.yaml", "train:\n  beta: 0.1\n lr: [\n")],
        None,
        [str(t / "c.yaml"), "line 3", "malformed YAML"],
    ),
    "yaml_top_level_not_mapping": lambda t, r: (
        [write(t / "c.yaml", "- a\n- b\n")],
        None,
        [str(t / "c.yaml"), "mapping"],
    ),
    "yaml_unknown_key": lambda t, r: (
        [write(t / "c.yaml", "train:\n  learning_rate: 3\n")],
        None,
        [str(t / "c.yaml"), "train.learning_rate"],
    ),
    "yaml_section_not_mapping": lambda t, r: (
        [write(t / "c.yaml", "train: 3\n")],
        None,
        [str(t / "c.yaml"), "`train`"],
    ),
    "yaml_wrong_type": lambda t, r: (
        [write(t / "c.yaml", "sample:\n  k: four\n")],
        None,
        [str(t / "c.yaml"), "sample.k"],
    ),
    "config_file_missing": lambda t, r: ([str(t / "nosuch.yaml")], None, [str(t / "nosuch.yaml"), "not found"]),
    "config_name_unknown": lambda t, r: (["nosuchconfig"], None, ["nosuchconfig", "no such config"]),
    "override_unknown_key": lambda t, r: ([*BASE, "train.betta=0.1"], None, ["train.betta", "unknown key"]),
    "override_unknown_section": lambda t, r: ([*BASE, "nope.x=1"], None, ["`nope`"]),
    "override_without_equals": lambda t, r: ([*BASE, "sample.k"], None, ["sample.k", "key=value"]),
    "wrong_type_int": lambda t, r: ([*BASE, "sample.k=four"], None, ["sample.k", "must be int"]),
    "wrong_type_float": lambda t, r: ([*BASE, "train.beta=high"], None, ["train.beta", "must be a finite number"]),
    "wrong_type_bool": lambda t, r: ([*BASE, "judge.logprobs=maybe"], None, ["judge.logprobs", "must be bool"]),
    "wrong_type_section": lambda t, r: ([*BASE, "train=3"], None, ["`train`", "mapping"]),
    "k_below_1": lambda t, r: ([*BASE, "sample.k=0"], None, ["sample.k", ">= 1"]),
    "beta_zero": lambda t, r: ([*BASE, "train.beta=0"], None, ["train.beta", "> 0"]),
    "beta_negative": lambda t, r: ([*BASE, "train.beta=-0.1"], None, ["train.beta", "> 0"]),
    "iterations_zero": lambda t, r: ([*BASE, "iterations=0"], None, ["iterations", ">= 1"]),
    "top_p_above_1": lambda t, r: ([*BASE, "sample.top_p=1.5"], None, ["sample.top_p"]),
    "float_not_finite": lambda t, r: ([*BASE, "train.lr=.inf"], None, ["train.lr", "finite"]),
    "max_grad_norm_negative": lambda t, r: ([*BASE, "train.max_grad_norm=-1"], None, ["train.max_grad_norm", "> 0"]),
    "backend_unknown": lambda t, r: (
        [*BASE, "sample.backend=tgi"],
        None,
        ["sample.backend", "must be one of 'hf', 'vllm'"],
    ),
    "unknown_choice": lambda t, r: ([*BASE, "train.loss=ppo"], None, ["train.loss"]),
    "judge_type_unknown": lambda t, r: ([*BASE, "judge.type=gpt"], None, ["judge.type"]),
    "tasks_unknown": lambda t, r: ([*BASE, "data.tasks={algebra: 1}"], None, ["data.tasks", "algebra"]),
    "tasks_negative": lambda t, r: ([*BASE, "data.tasks={wordcount: -1}"], None, ["data.tasks"]),
    "stop_after_malformed": lambda t, r: ([*BASE, "--stop-after", "1:nope"], t / "fresh", ["--stop-after", "1:nope"]),
    # -- models
    "model_path_missing": lambda t, r: (
        [*BASE, "policy.model=/nonexistent/model"],
        None,
        ["policy.model", "/nonexistent/model"],
    ),
    "model_dir_without_config": lambda t, r: (
        (t / "m").mkdir() or [*BASE, f"policy.model={t / 'm'}"],
        None,
        ["policy.model", "config.json"],
    ),
    "teacher_path_missing": lambda t, r: ([*BASE, "teacher.model=/nonexistent/teacher"], None, ["teacher.model"]),
    "llm_judge_model_missing": lambda t, r: (
        [*BASE, "judge.type=llm", "judge.model=/nonexistent/judge"],
        None,
        ["judge.model"],
    ),
    # -- prompts
    "prompts_file_missing": lambda t, r: (
        [*BASE, f"data.source={t / 'none.jsonl'}"],
        None,
        [str(t / "none.jsonl"), "data.source"],
    ),
    "prompts_bad_json_line": lambda t, r: (
        [*BASE, "data.source=" + prompts_file(t, [GOOD, GOOD, '{"prompt": "x"', GOOD])],
        None,
        [f"{t / 'prompts.jsonl'}:3", "not valid JSON"],
    ),
    "prompts_line_without_prompt": lambda t, r: (
        [*BASE, "data.source=" + prompts_file(t, [GOOD, '{"text": "x"}'])],
        None,
        [f"{t / 'prompts.jsonl'}:2", "prompt"],
    ),
    "prompts_line_not_object": lambda t, r: (
        [*BASE, "data.source=" + prompts_file(t, [GOOD, GOOD, "[1, 2]"])],
        None,
        [f"{t / 'prompts.jsonl'}:3", "JSON object"],
    ),
    "prompts_bad_messages": lambda t, r: (
        [*BASE, "data.source=" + prompts_file(t, ['{"messages": "hi"}'])],
        None,
        [f"{t / 'prompts.jsonl'}:1", "messages"],
    ),
    "prompts_bad_constraints": lambda t, r: (
        [*BASE, "data.source=" + prompts_file(t, [GOOD, '{"prompt": "hi", "constraints": 5}'])],
        None,
        [f"{t / 'prompts.jsonl'}:2", "constraints"],
    ),
    "prompts_empty": lambda t, r: (
        [*BASE, "data.source=" + prompts_file(t, [])],
        None,
        [str(t / "prompts.jsonl"), "no prompts"],
    ),
    "prompts_blank_lines_only": lambda t, r: (
        [*BASE, "data.source=" + prompts_file(t, ["", "  "])],
        None,
        [str(t / "prompts.jsonl"), "no prompts"],
    ),
    "prompts_too_few": lambda t, r: (
        [*BASE, "data.source=" + prompts_file(t, [GOOD] * 3)],
        None,
        [str(t / "prompts.jsonl"), "has 3 prompts", "needs 24"],
    ),
    "prompts_claimed_task_uncheckable": lambda t, r: (
        [*BASE, "data.source=" + prompts_file(t, [GOOD, '{"prompt": "Capital of France?", "answer": "Paris"}'])],
        None,
        [f"{t / 'prompts.jsonl'}:2", "arithmetic", "'Paris'"],
    ),
    "prompts_task_unknown_to_the_oracle": lambda t, r: (
        [
            *BASE,
            "data.source="
            + prompts_file(
                t, [json.dumps({"prompt": f"Capital {i}?", "answer": "Paris", "task": "qa"}) for i in range(30)]
            ),
        ],
        None,
        ["prompt '", "'qa'", "`judge.type`", "oracle"],
    ),
    "prompts_duplicate_id": lambda t, r: (
        [*BASE, "data.source=" + prompts_file(t, [json.dumps({"id": "p", **json.loads(GOOD)})] * 2 + [GOOD] * 40)],
        None,
        [str(t / "prompts.jsonl"), "'p'", "unique"],
    ),
    "prompts_id_collides_with_automatic": lambda t, r: (
        [
            *BASE,
            "data.seed=0",
            "data.source="
            + prompts_file(
                t,
                [json.dumps({"prompt": f"How many words are in: {'a ' * i}?", "answer": i}) for i in range(1, 40)]
                + [
                    json.dumps({"id": f"{s}-{i:05d}", **json.loads(GOOD)})
                    for s in ("test", "train1")
                    for i in range(16)
                ],
            ),
        ],
        None,
        [str(t / "prompts.jsonl"), "automatically"],
    ),
    "prompts_id_wrong_type": lambda t, r: (
        [*BASE, "data.source=" + prompts_file(t, [GOOD] * 3 + [json.dumps({"id": [1], **json.loads(GOOD)})])],
        None,
        [str(t / "prompts.jsonl") + ":4", "`id`"],
    ),
    "prompt_longer_than_the_context": lambda t, r: (
        [
            *BASE,
            "data.source="
            + prompts_file(t, [GOOD] * 40 + [json.dumps({"id": "long", "prompt": "word " * 600, "n": 600})]),
        ],
        None,
        [str(t / "prompts.jsonl"), "'long'", "context of 512"],
    ),
    "prompts_unjudgeable_by_oracle": lambda t, r: (
        [*BASE, "data.source=" + prompts_file(t, [json.dumps({"prompt": f"Write a haiku {i}."}) for i in range(30)])],
        None,
        [str(t / "prompts.jsonl"), "oracle"],
    ),
    "dataset_dir_not_a_dataset": lambda t, r: (
        (t / "ds").mkdir() or [*BASE, f"data.source={t / 'ds'}"],
        None,
        [str(t / "ds"), "save_to_disk"],
    ),
    # -- judges
    "template_unknown_placeholder": lambda t, r: (
        [*BASE, *api(), "judge.template=" + write(t / "tpl.txt", "Rate {candidates} for {instruction} by {criteria}.")],
        None,
        [str(t / "tpl.txt"), "{criteria}", "judge.template"],
    ),
    "template_missing": lambda t, r: (
        [*BASE, *api(), f"judge.template={t / 'no.txt'}"],
        None,
        [str(t / "no.txt"), "judge.template"],
    ),
    "api_base_url_missing": lambda t, r: ([*BASE, "judge.type=api", "judge.model=m"], None, ["judge.base_url"]),
    "api_base_url_unreachable": lambda t, r: (
        [*BASE, *api(url=f"http://127.0.0.1:{closed_port()}/v1")],
        None,
        ["judge.base_url", "http://127.0.0.1:", "cannot reach"],
    ),
    "api_base_url_not_a_url": lambda t, r: ([*BASE, *api(url="localhost-8000")], None, ["judge.base_url", "URL"]),
    "api_base_url_with_credentials": lambda t, r: (
        [*BASE, *api(url="http://alice:s3cret@127.0.0.1:9/v1")],
        None,
        ["`judge.base_url`", "credentials", "***@"],
    ),
    "api_key_variable_missing": lambda t, r: ([*BASE, *api(key_env=NO_KEY)], None, ["judge.api_key_env", NO_KEY]),
    "eval_api_judge_unreachable": lambda t, r: ([*BASE, *api("eval.judge")], None, ["eval.judge.base_url"]),
    "teacher_api_key_missing": lambda t, r: (
        [*BASE, "teacher.model=api:gpt", "teacher.base_url=http://127.0.0.1:9/v1", f"teacher.api_key_env={NO_KEY}"],
        None,
        ["teacher.api_key_env", NO_KEY],
    ),
    "callable_not_module_function": lambda t, r: (
        [*BASE, "judge.type=callable", "judge.function=nocolon"],
        None,
        ["judge.function"],
    ),
    "callable_module_missing": lambda t, r: (
        [*BASE, "judge.type=callable", "judge.function=no_such_mod_xyz:f"],
        None,
        ["judge.function", "no_such_mod_xyz"],
    ),
    # -- the run directory
    "run_dir_unwritable": lambda t, r: ([*BASE], Path(write(t / "a_file", "x")) / "run", [str(t / "a_file" / "run")]),
    "run_dir_other_config": lambda t, r: (
        [*BASE, "pair.margin=3", "sample.k=2"],
        None,
        ["different config", "pair.margin", "sample.k"],
    ),
    "run_dir_truncated_jsonl": lambda t, r: (
        truncate(r / "iter_1" / "samples.jsonl") or [*BASE],
        None,
        [str(r / "iter_1" / "samples.jsonl") + ":"],
    ),
    "run_dir_jsonl_cut_at_line_end": lambda t, r: (
        (r / "test_prompts.jsonl").write_bytes((r / "test_prompts.jsonl").read_bytes()[:-1]) and [*BASE],
        None,
        [str(r / "test_prompts.jsonl") + ":8", "truncated"],
    ),
    "run_dir_corrupt_json": lambda t, r: (
        truncate(r / "iter_1" / "timings.json", 0.5) or [*BASE],
        None,
        [str(r / "iter_1" / "timings.json"), "line"],
    ),
    "run_dir_row_without_field": lambda t, r: (
        edit_first_row(r / "iter_1" / "samples.jsonl", lambda row: row.pop("responses")) or [*BASE],
        None,
        [str(r / "iter_1" / "samples.jsonl") + ":1", "`responses`", "missing"],
    ),
    "run_dir_field_of_wrong_type": lambda t, r: (
        edit_first_row(r / "iter_1" / "samples.jsonl", lambda row: row.update(responses="one")) or [*BASE],
        None,
        [str(r / "iter_1" / "samples.jsonl") + ":1", "`responses`", "list of strings"],
    ),
    "run_dir_metrics_empty": lambda t, r: (
        write(r / "iter_1" / "eval" / "metrics.json", "{}") and [*BASE],
        None,
        [str(r / "iter_1" / "eval" / "metrics.json"), "`win_rate`"],
    ),
    "run_dir_policy_truncated": lambda t, r: (
        truncated_policy(r / "iter_1" / "policy") or [*BASE],
        None,
        [str(r / "iter_1" / "policy" / "model.safetensors"), "truncated"],
    ),
    "run_dir_corrupt_config": lambda t, r: (
        write(r / "config.yaml", "iterations: [1\n") and [*BASE],
        None,
        [str(r / "config.yaml"), "corrupt"],
    ),
}


@pytest.fixture(scope="module")
def made_run(tmp_path_factory):
    """A real run directory (baseline and iteration 1's samples), made once with BASE."""
    root = tmp_path_factory.mktemp("made") / "run"
    assert main(["run", *BASE, "--run-dir", str(root), "--stop-after", "1:sample"]) == 0
    return root


def snapshot(root: Path) -> dict:
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def names_a_location(needle: str, argv: list[str]) -> bool:
    """A file (a path, maybe with :line), a config field (dotted or in backticks), or an argument as given."""
    keys = {a.split("=", 1)[0] for a in argv if "=" in a}
    return (
        "/" in needle
        or needle.startswith("`")
        or needle in argv
        or needle in keys
        or re.fullmatch(r"[a-z_]+(\.[a-z_]+)+", needle) is not None
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_exit_2_and_the_run_dir_untouched(case, made_run, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(NO_KEY, raising=False)
    run = tmp_path / "run"
    shutil.copytree(made_run, run)
    argv, run_dir, needles = CASES[case](tmp_path, run)
    assert any(names_a_location(n, argv) for n in needles), f"{case}: the line must name a file, line or field"
    target = run if run_dir is None else run_dir
    before, fresh_before = snapshot(run), target.exists()
    capsys.readouterr()
    rc = main(["run", *argv, "--run-dir", str(target)])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert rc == 2, err
    assert len(lines) == 1 and lines[0].startswith("dno: error: "), err
    assert "Traceback" not in err and "s3cret" not in err  # a password in a URL is never printed
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    assert snapshot(run) == before, "the run directory changed"
    if run_dir is not None and not fresh_before:
        assert not target.exists(), "a failed start must not create the run directory"


@pytest.mark.parametrize("case", ["yaml_malformed", "api_base_url_unreachable", "run_dir_truncated_jsonl"])
def test_as_a_process_exit_status_2_and_no_traceback(case, made_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(made_run, run)
    argv, run_dir, needles = CASES[case](tmp_path, run)
    env = dict(os.environ)
    env.pop(NO_KEY, None)
    proc = subprocess.run(
        [sys.executable, "-m", "dno", "run", *argv, "--run-dir", str(run_dir or run)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dno: error: ") and all(n in lines[0] for n in needles)
