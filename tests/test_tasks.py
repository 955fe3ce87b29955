import json

import pytest

from dno.config import DataConfig
from dno.errors import DnoError
from dno.judges import OracleJudge
from dno.tasks import arithmetic, instructions, load_user_prompts, make_splits

ARITH = {"task": "arithmetic", "answer": 42, "messages": [{"role": "user", "content": "What is 25 + 17?"}]}


@pytest.mark.parametrize("response, expected", [
    ("42", 6.0),
    ("The answer is 42.", 6.0),
    ("17 + 25 = 42", 6.0),
    ("Let me think step by step: seventeen plus twenty five gives 42", 4.0),  # right but wordy
    ("17 + 25 = 32", 1.0),  # a number, the wrong one
    ("I cannot do maths.", 0.0),
    ("", 0.0),
    ("1,042", 1.0),
])
def test_arithmetic_oracle(response, expected):
    assert arithmetic.score(ARITH, response)[0] == expected


def _instr(*constraints):
    return {"task": "instructions", "constraints": list(constraints)}


@pytest.mark.parametrize("constraint, good, bad", [
    ({"type": "max_words", "n": 5}, "Cats are nice.", "Cats are really very nice animals indeed."),
    ({"type": "include_word", "word": "blue"}, "The blue sea.", "The bluest sea."),
    ({"type": "forbid_word", "word": "cat"}, "A kitten sleeps.", "The cat sleeps."),
    ({"type": "lowercase"}, "the sea is calm", "The sea is calm"),
    ({"type": "uppercase"}, "THE SEA IS CALM!", "THE SEA is calm"),
    ({"type": "end_with", "word": "calm"}, "The sea is calm.", "Calm is the sea."),
    ({"type": "start_with", "word": "warm"}, "Warm bread is good", "Bread is warm"),
    ({"type": "bullets", "n": 2}, "- one\n- two", "- one\n- two\n- three"),
])
def test_each_instruction_constraint(constraint, good, bad):
    rec = _instr(constraint)
    assert instructions.score(rec, good)[0] == 6.0
    assert instructions.score(rec, bad)[0] == 1.0


def test_instruction_score_is_graded_by_constraints_held():
    rec = _instr({"type": "lowercase"}, {"type": "max_words", "n": 3})
    assert instructions.score(rec, "the sea")[0] == 6.0
    assert instructions.score(rec, "the sea is very calm")[0] == 3.5
    assert instructions.score(rec, "The Sea Is Very Calm")[0] == 1.0
    assert instructions.score(rec, "   ")[0] == 0.0


def test_oracle_judge_scores_all_candidates_and_rejects_free_form():
    s = OracleJudge().score(ARITH, ["42", "41", "no idea"])
    assert s.scores == [6.0, 1.0, 0.0] and len(s.info["checks"]) == 3
    with pytest.raises(DnoError, match="answer"):
        OracleJudge().score({"id": "x", "messages": []}, ["hi"])


def test_splits_are_disjoint_and_fixed_by_seed():
    cfg = DataConfig(prompts_per_iteration=20, val_prompts=10, test_prompts=30, seed=7)
    a, b = make_splits(cfg, 3), make_splits(cfg, 3)
    assert a == b
    texts = [p["messages"][0]["content"] for recs in a.values() for p in recs]
    assert len(texts) == len(set(texts)) == 30 + 10 + 60
    assert {p["task"] for p in a["test"]} == {"arithmetic", "instructions"}
    c = make_splits(DataConfig(prompts_per_iteration=20, val_prompts=10, test_prompts=30, seed=8), 3)
    assert c["test"] != a["test"]
    # one more iteration keeps every earlier slice: a run can be extended
    assert make_splits(cfg, 4)["train3"] == a["train3"]


def test_user_prompts_jsonl(tmp_path):
    path = tmp_path / "p.jsonl"
    rows = [{"prompt": "What is 2 + 2?", "answer": 4},
            {"messages": [{"role": "user", "content": "Say hi."}], "constraints": [{"type": "lowercase"}]},
            {"prompt": "Free-form question"}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    recs = load_user_prompts(str(path))
    assert [r.get("task") for r in recs] == ["arithmetic", "instructions", None]
    assert recs[0]["messages"] == [{"role": "user", "content": "What is 2 + 2?"}]
    splits = make_splits(DataConfig(source=str(path), prompts_per_iteration=1, test_prompts=1, val_prompts=0), 2)
    assert sorted(r["messages"][0]["content"] for s in splits.values() for r in s) == sorted(
        r["messages"][0]["content"] for r in recs)


@pytest.mark.parametrize("lines, needle", [
    (['{"prompt": "ok"}', '{"prompt": '], ":2: not valid JSON"),
    (['{"prompt": "ok"}', '{"text": "no prompt"}'], ":2: needs a non-empty `prompt`"),
    (['{"prompt": "x", "constraints": [{"type": "rhyme"}]}'], ":1: unknown constraint"),
    ([""], "no prompts"),
])
def test_bad_prompt_files_name_the_line(tmp_path, lines, needle):
    path = tmp_path / "p.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DnoError) as err:
        load_user_prompts(str(path))
    assert str(path) in str(err.value) and needle in str(err.value)


def test_datasets_directory_source(tmp_path):
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_list([{"prompt": f"What is {i} + 1?", "answer": i + 1} for i in range(5)]).save_to_disk(
        str(tmp_path / "ds"))
    recs = load_user_prompts(str(tmp_path / "ds"))
    assert len(recs) == 5 and recs[0]["task"] == "arithmetic"


def test_too_few_user_prompts_is_a_clear_error(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"prompt": "a"}\n{"prompt": "b"}\n')
    with pytest.raises(DnoError, match="has 2 prompts but the config needs"):
        make_splits(DataConfig(source=str(path), prompts_per_iteration=5, test_prompts=1, val_prompts=0), 1)


def test_wordcount_partial_credit():
    from dno.tasks import wordcount

    rec = {"task": "wordcount", "n": 4}
    assert [wordcount.score(rec, r)[0] for r in ["one two three four", "one two", "a " * 12, ""]] == [6, 4, 0, 2]
