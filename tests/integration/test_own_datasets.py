"""`dno run` on a user's own datasets: an UltraFeedback-like parquet and a chat-messages JSON file, their gold
answers as the teacher candidate (DNO-Prct's teacher > student pairs without a teacher model), and a base
model without a chat template (refused before the run, or given one by policy.chat_template)."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from tiny_runs import FAST

from dno import io
from dno.cli import main

datasets = pytest.importorskip("datasets")
WORDS = "tea ink sun map cup pen box hat".split()


def _prompt(i: int) -> tuple[str, int, str]:
    n = 2 + i % 4
    return f"Write exactly {n} words about {WORDS[i % 8]} ({i}).", n, " ".join(WORDS[:n])


def ultrafeedback_parquet(path, n=20):
    rows = []
    for i in range(n):
        prompt, words, gold = _prompt(i)
        rows.append(
            {
                "prompt": prompt,
                "prompt_id": f"uf{i:03d}",
                "chosen": [{"role": "user", "content": prompt}, {"role": "assistant", "content": gold}],
                "rejected": [{"role": "user", "content": prompt}, {"role": "assistant", "content": "no"}],
                "n": words,  # the wordcount oracle's field, kept with the prompt
            }
        )
    datasets.Dataset.from_list(rows).to_parquet(str(path))
    return path


def messages_json(path, n=20):
    rows = []
    for i in range(n):
        prompt, words, gold = _prompt(i)
        rows.append(
            {"messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": gold}], "n": words}
        )
    path.write_text(json.dumps(rows))
    return path


@pytest.mark.parametrize(
    "make, columns",
    [
        (ultrafeedback_parquet, ["data.prompt_column=prompt", "data.gold_column=chosen", "data.id_column=prompt_id"]),
        (messages_json, ["data.prompt_column=messages", "data.gold_column=messages"]),
    ],
    ids=["ultrafeedback-parquet", "messages-json"],
)
def test_gold_answers_from_the_data_are_the_teacher(tmp_path, make, columns):
    source = make(tmp_path / ("data.parquet" if make is ultrafeedback_parquet else "data.json"))
    run = tmp_path / "run"
    assert main(["run", *FAST, f"data.source={source}", *columns, "teacher.source=data", "--run-dir", str(run)]) == 0
    prompts = {p["id"]: p for p in io.read_jsonl(run / "iter_1" / "prompts.jsonl")}
    samples = io.read_jsonl(run / "iter_1" / "samples.jsonl")
    for s in samples:  # k student samples, then the prompt's gold answer as the teacher's
        assert s["sources"] == ["student"] * 4 + ["teacher"] and s["responses"][-1] == prompts[s["id"]]["gold"]
    types = {p["type"] for p in io.read_jsonl(run / "iter_1" / "pairs.jsonl")}
    assert "teacher>student" in types
    assert (run / "iter_1" / "policy" / "config.json").is_file() and (
        run / "iter_1" / "eval" / "metrics.json"
    ).is_file()


def test_synthetic_arithmetic_brings_its_own_gold_answer(tmp_path):
    """Synthetic prompts have no `gold`, but an arithmetic prompt's sum is one: the oracle's top score."""
    run = tmp_path / "run"
    mix = "data.tasks={arithmetic: 0.5, instructions: 0.5}"
    assert main(["run", *FAST, mix, "teacher.source=data", "--stop-after", "1:judge", "--run-dir", str(run)]) == 0
    prompts = {p["id"]: p for p in io.read_jsonl(run / "iter_1" / "prompts.jsonl")}
    judged = {j["id"]: j for j in io.read_jsonl(run / "iter_1" / "judgments.jsonl")}
    tasks = set()
    for s in io.read_jsonl(run / "iter_1" / "samples.jsonl"):
        p = prompts[s["id"]]
        tasks.add(p["task"])
        if p["task"] == "arithmetic":  # the sum written out ("37 + 48 = 85") as the teacher's candidate, scored 6
            assert s["sources"][-1] == "teacher" and re.fullmatch(rf"\d+ \+ \d+ = {p['answer']}", s["responses"][-1])
            assert judged[s["id"]]["scores"][-1] == 6.0
        else:  # instructions have no reference answer: students only
            assert s["sources"] == ["student"] * 4
    assert tasks == {"arithmetic", "instructions"}


def test_teacher_from_data_without_gold_answers_is_refused_before_the_run(tmp_path, capsys):
    source = ultrafeedback_parquet(tmp_path / "data.parquet")
    run = tmp_path / "run"
    argv = ["run", *FAST, f"data.source={source}", "data.prompt_column=prompt", "teacher.source=data"]
    capsys.readouterr()
    assert main([*argv, "--run-dir", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(source) in err and "no training prompt carries a gold answer" in err
    assert not run.exists()


@pytest.fixture
def base_model_dir(tiny_model_dir, tmp_path):
    """The tiny model with its tokenizer's chat template removed: a base model."""
    out = tmp_path / "base"
    shutil.copytree(tiny_model_dir, out)
    for name in ("tokenizer_config.json",):
        cfg = json.loads((out / name).read_text())
        cfg.pop("chat_template", None)
        (out / name).write_text(json.dumps(cfg))
    (out / "chat_template.jinja").unlink(missing_ok=True)
    return out


def test_a_base_model_is_refused_without_a_chat_template_and_runs_with_one(base_model_dir, tmp_path, capsys):
    run = tmp_path / "run"
    argv = ["run", *FAST, f"policy.model={base_model_dir}"]
    assert main([*argv, "--run-dir", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "has no chat template" in err and "policy.chat_template" in err and not run.exists()

    assert main([*argv, "policy.chat_template=chatml", "--run-dir", str(run), "--stop-after", "1:train"]) == 0
    saved = (
        json.loads((run / "iter_1" / "policy" / "tokenizer_config.json").read_text()).get("chat_template")
        or (run / "iter_1" / "policy" / "chat_template.jinja").read_text()
    )
    assert "<|im_start|>" in saved  # π_1 carries the template it was trained with


def test_a_gold_answer_longer_than_the_context_is_refused_before_the_run(tmp_path, capsys):
    source = ultrafeedback_parquet(tmp_path / "data.parquet")
    rows = datasets.Dataset.from_parquet(str(source)).to_list()
    for r in rows:
        r["chosen"][-1]["content"] = "word " * 600  # the tiny model's context is 512 tokens
    datasets.Dataset.from_list(rows).to_parquet(str(source))
    run = tmp_path / "run"
    columns = ["data.prompt_column=prompt", "data.gold_column=chosen", "data.id_column=prompt_id"]
    argv = ["run", *FAST, f"data.source={source}", *columns, "teacher.source=data", "--run-dir", str(run)]
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(source) in err and "gold answer" in err and "context of 512" in err
    assert not run.exists()


def test_a_chat_template_that_does_not_render_is_one_line(base_model_dir, tmp_path, monkeypatch, capsys):
    bad = tmp_path / "bad.jinja"
    bad.write_text("{% for m in messages %}{{ m.content }")  # unclosed tag
    monkeypatch.setenv("HOME", str(tmp_path))  # policy.model given as ~/base
    argv = ["run", *FAST, "policy.model=~/base", f"policy.chat_template={bad}", "--run-dir", str(tmp_path / "r")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"policy.chat_template: {bad}: the chat template does not render" in err


def test_teacher_repair_adds_the_verifiers_edit_of_the_policys_own_answer(tmp_path, monkeypatch):
    """teacher.source=repair: the instructions oracle edits a finished, on-topic sample until every constraint
    holds; the edit joins the candidates as the teacher's, is judged 6 and gives teacher > student pairs. The
    tiny random model never writes an on-topic answer, so the sampler here returns one (the edit itself is
    tested in tests/unit/tasks)."""
    import importlib

    from dno.generation.hf import Generation

    sample_stage = importlib.import_module("dno.stages.sample")  # the module (dno.stages exports the function)

    class OnTopic:
        def generate(self, prompts, k, **_):
            on_topic = [Generation(f"I like {p['topic']} very much today.", True, 8) for p in prompts]
            return [[g] + [Generation("and then", False, 4)] * (k - 1) for g in on_topic]

    monkeypatch.setattr(sample_stage, "sampler", lambda *a: OnTopic())
    run = tmp_path / "run"
    argv = ["run", *FAST, "data.tasks={instructions: 1}", "teacher.source=repair", "--stop-after", "1:pair"]
    assert main([*argv, "--run-dir", str(run)]) == 0
    prompts = {p["id"]: p for p in io.read_jsonl(run / "iter_1" / "prompts.jsonl")}
    judged = {j["id"]: j for j in io.read_jsonl(run / "iter_1" / "judgments.jsonl")}
    repaired = 0
    for s in io.read_jsonl(run / "iter_1" / "samples.jsonl"):
        scores = judged[s["id"]]["scores"]
        if scores[0] == 6.0:  # the policy's own answer was right already: nothing to repair
            assert s["sources"] == ["student"] * 4, prompts[s["id"]]["messages"]
        else:
            assert s["sources"] == ["student"] * 4 + ["teacher"] and scores[-1] == 6.0, prompts[s["id"]]["messages"]
            repaired += 1
    assert repaired >= 6
    assert "teacher>student" in {p["type"] for p in io.read_jsonl(run / "iter_1" / "pairs.jsonl")}


def test_teacher_repair_without_a_task_that_repairs_is_refused_before_the_run(tmp_path, capsys):
    run = tmp_path / "run"
    capsys.readouterr()
    argv = ["run", *FAST, "data.tasks={wordcount: 1}", "teacher.source=repair", "--run-dir", str(run)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "no training prompt's task can repair an answer" in err
    assert not run.exists()


def test_the_default_teacher_needs_no_task_that_can_repair(tmp_path):
    """teacher.source: auto (the default) repairs where the prompt's task can (the e2e test on the real model);
    a run on prompts whose task cannot (wordcount here, a user's own) goes on with the policy's own pairs, where
    an explicit teacher.source=repair is refused (above)."""
    run = tmp_path / "run"
    assert main(["run", *FAST, "--stop-after", "1:pair", "--run-dir", str(run)]) == 0  # tiny: wordcount
    samples = io.read_jsonl(run / "iter_1" / "samples.jsonl")
    assert samples and all(set(s["sources"]) == {"student"} for s in samples)
