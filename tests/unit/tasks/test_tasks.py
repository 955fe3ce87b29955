import json

import pytest

from dno.config import DataConfig
from dno.data import load_user_prompts, make_splits
from dno.errors import DnoError
from dno.judges.oracle import OracleJudge
from dno.tasks import TASKS, gold_answer
from dno.tasks.arithmetic import Arithmetic
from dno.tasks.instructions import Instructions
from dno.tasks.wordcount import WordCount

arithmetic, instructions, wordcount = Arithmetic(), Instructions(), WordCount()

ARITH = {"task": "arithmetic", "answer": 42, "messages": [{"role": "user", "content": "What is 25 + 17?"}]}


@pytest.mark.parametrize(
    "response, expected",
    [
        ("42", 6.0),
        ("The answer is 42.", 6.0),
        ("17 + 25 = 42", 6.0),
        ("Let me think step by step: seventeen plus twenty five gives 42", 4.0),  # right but wordy
        ("17 + 25 = 32", 1.0),  # a number, the wrong one
        ("I cannot do maths.", 0.0),
        ("", 0.0),
        ("1,042", 1.0),
    ],
)
def test_arithmetic_oracle(response, expected):
    assert arithmetic.score(ARITH, response)[0] == expected


def _arith(text, answer):
    return {"task": "arithmetic", "answer": answer, "messages": [{"role": "user", "content": text}]}


@pytest.mark.parametrize(
    "record, reference",
    [
        (_arith("What is 17 + 25? Answer with just the number.", 42), "17 + 25 = 42"),
        (_arith("Add 1,200 and 35.", 1235), "1200 + 35 = 1235"),
        (_arith("Add 12, 30 and 5.", 47), "47"),  # three terms written out are wordy (4): the answer alone
        (_arith("How many legs do 3 spiders have?", 24), "24"),  # the numbers do not add up to it: the answer
        (_arith("What is half of seven?", 3.5), "3.5"),
        (_arith("What is 40 + 2?", 42.0), "40 + 2 = 42"),
    ],
)
def test_arithmetic_reference_answer_is_worked_and_scores_six(record, reference):
    """teacher.source=data's gold candidate on arithmetic rows without a `gold` of their own."""
    assert gold_answer(record) == reference
    assert arithmetic.score(record, reference)[0] == 6.0
    assert gold_answer({**record, "gold": "forty-two"}) == "forty-two"  # a row's own gold comes first
    assert gold_answer(_instr({"type": "lowercase"})) is None  # instructions have no reference answer


def _instr(*constraints):
    return {"task": "instructions", "constraints": list(constraints)}


@pytest.mark.parametrize(
    "constraint, good, bad",
    [
        ({"type": "max_words", "n": 5}, "Cats are nice.", "Cats are really very nice animals indeed."),
        ({"type": "include_word", "word": "blue"}, "The blue sea.", "The bluest sea."),
        ({"type": "forbid_word", "word": "cat"}, "A kitten sleeps.", "The cat sleeps."),
        ({"type": "lowercase"}, "the sea is calm", "The sea is calm"),
        ({"type": "uppercase"}, "THE SEA IS CALM!", "THE SEA is calm"),
        ({"type": "end_with", "word": "calm"}, "The sea is calm.", "Calm is the sea."),
        ({"type": "start_with", "word": "warm"}, "Warm bread is good", "Bread is warm"),
        ({"type": "bullets", "n": 2}, "- one\n- two", "- one\n- two\n- three"),
    ],
)
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


def test_an_answer_must_answer_the_request_when_the_record_names_its_topic():
    # the answers a policy trained on constraints alone learned to give (one word, off topic)
    rec = {**_instr({"type": "start_with", "word": "happy"}, {"type": "end_with", "word": "blue"}), "topic": "a river"}
    assert instructions.score(rec, "happy blue")[0] == 0.5, "both constraints hold, the request is not answered"
    assert instructions.score(rec, "happy river, so blue")[0] == 6.0
    assert instructions.score(rec, "Happy rivers run blue")[0] == 6.0, "the plural counts as the topic"
    assert instructions.score(rec, "The river is calm.")[0] == 1.0, "an answer holding no constraint still beats none"
    assert instructions.score(rec, "happy, happy blue")[0] == 0.5, "3 words, none of them the topic"
    assert instructions.score(rec, "")[0] == 0.0
    forbidden = {**_instr({"type": "forbid_word", "word": "sun"}), "topic": "the sun"}
    assert instructions.score(forbidden, "A bright star.")[0] == 6.0, "the topic's word is forbidden: not required"
    assert instructions.score(forbidden, "Bright")[0] == 0.5
    assert instructions.score(_instr({"type": "end_with", "word": "blue"}), "blue")[0] == 6.0, (
        "no topic: constraints only"
    )
    with pytest.raises(DnoError, match="`topic` must be a non-empty string"):
        instructions.check({**rec, "prompt": "p", "topic": 3}, "p.jsonl:4")


RIVER = "The river flows past the old mill every morning."


@pytest.mark.parametrize(
    "constraints",
    [
        [{"type": "max_words", "n": 5}],
        [{"type": "include_word", "word": "blue"}],
        [{"type": "forbid_word", "word": "river"}],
        [{"type": "lowercase"}],
        [{"type": "uppercase"}],
        [{"type": "end_with", "word": "calm"}],
        [{"type": "start_with", "word": "warm"}],
        [{"type": "bullets", "n": 3}],
        [{"type": "max_words", "n": 6}, {"type": "end_with", "word": "calm"}],
        [{"type": "start_with", "word": "warm"}, {"type": "uppercase"}],
        [{"type": "include_word", "word": "blue"}, {"type": "lowercase"}],
    ],
    ids=lambda cs: "+".join(c["type"] for c in cs),
)
def test_instruction_repair_edits_the_policys_answer_to_the_top_score(constraints):
    rec = {**_instr(*constraints), "topic": "a river"}
    assert instructions.score(rec, RIVER)[0] < 6.0
    fixed = instructions.repair(rec, [RIVER])
    assert fixed is not None and instructions.score(rec, fixed)[0] == 6.0


def test_instruction_repair_starts_from_an_answer_and_only_where_one_is_needed():
    rec = {**_instr({"type": "uppercase"}), "topic": "a river"}
    calm = "A calm river runs by."
    # an off-topic sample (or one too short to answer) is skipped: repair the shortest one that answers
    assert instructions.repair(rec, ["Birds sing all day.", RIVER]) == RIVER.upper()
    assert instructions.repair(rec, [RIVER, calm, "A river."]) == calm.upper(), "the shortest full answer"
    assert instructions.repair(rec, ["A calm river."]) is None, "an answer at the oracle's bar teaches too-short ones"
    assert instructions.repair(rec, ["Birds sing all day.", "blue"]) is None, "nothing answers the request"
    assert instructions.repair(rec, [RIVER.upper(), RIVER]) is None, "the policy already wrote a right answer"
    assert instructions.repair(rec, []) is None
    assert TASKS.get("wordcount", "t").repair({"n": 3}, ["two words"]) is None, "a task without a repair gives none"


def test_instruction_repair_keeps_the_answer_a_sentence():
    def repair(*constraints, samples=(RIVER,)):
        rec = {**_instr(*constraints), "topic": "a river", "prompt": "Write one sentence about a river."}
        return instructions.repair(rec, list(samples))

    # the fewest edits first, before the shortest: this sample already ends with "calm"
    held = "The wide river bends past the town, slow and calm."
    assert repair({"type": "end_with", "word": "calm"}, {"type": "uppercase"}, samples=[RIVER, held]) == held.upper()
    assert repair({"type": "forbid_word", "word": "river"}) == "It flows past the old mill every morning.", (
        "a pronoun stands in for the forbidden noun and its article"
    )
    assert repair({"type": "start_with", "word": "warm"}) == "Warm: the river flows past the old mill every morning."
    assert repair({"type": "max_words", "n": 5}) == "The river flows past.", "a cut never ends on 'the'"
    assert repair({"type": "bullets", "n": 2}, samples=["The river is wide, and it flows past the mill."]) == (
        "- The river is wide\n- and it flows past the mill."
    ), "items split where the sentence breaks"
    echo = "Write one sentence about a river, it flows."  # copies the request's words
    assert repair({"type": "uppercase"}, samples=[echo]) is None, "an echo of the request is no answer to teach"


def test_arithmetic_repair_corrects_a_worked_sum_never_a_bare_number():
    arithmetic = Arithmetic()
    wrong = ["25 + 17 = 43", "The answer is 41.", "25 + 17 is 41, I think, but maybe not"]
    assert arithmetic.repair(ARITH, wrong) == "25 + 17 = 42", "the shortest sample that shows its working"
    assert arithmetic.repair(ARITH, ["25 + 17 = 32.", "41"]) == "25 + 17 = 42.", "its own punctuation kept"
    assert arithmetic.repair(ARITH, ["41", "The sum is 43"]) is None, "no working shown: no bare number taught"
    assert arithmetic.repair(ARITH, ["17 + 25 = 43"]) is None, "the prompt's terms, in the prompt's order"
    assert arithmetic.repair(ARITH, ["25 + 17 = 43", "42"]) is None, "the policy already wrote a right answer"
    assert arithmetic.repair(ARITH, ["25 + 17 plus a few more words = 43"]) is None, "a repair must be concise"


def test_generated_instruction_prompts_name_their_topic():
    import random

    for gen in (instructions.generate, instructions.generate_ood):
        rec = gen(random.Random(0))
        assert rec["topic"].split()[-1] in rec["prompt"]


def test_oracle_judge_scores_all_candidates_and_rejects_free_form():
    s = OracleJudge().score(ARITH, ["42", "41", "no idea"])
    assert s.scores == [6.0, 1.0, 0.0] and len(s.info["checks"]) == 3
    with pytest.raises(DnoError, match="answer"):
        OracleJudge().score({"id": "x", "messages": []}, ["hi"])


def test_splits_are_disjoint_and_fixed_by_seed():
    cfg = DataConfig(prompts_per_iteration=20, val_prompts=10, test_prompts=30, seed=7)
    a, b = make_splits(cfg, 3), make_splits(cfg, 3)
    assert a == b
    texts = [p["messages"][0]["content"] for name, recs in a.items() for p in recs if name != "ood"]
    assert len(texts) == len(set(texts)) == 30 + 10 + 60
    assert not {p["messages"][0]["content"] for p in a["ood"]} & set(texts)
    assert {p["task"] for p in a["test"]} == {"arithmetic", "instructions"}
    c = make_splits(DataConfig(prompts_per_iteration=20, val_prompts=10, test_prompts=30, seed=8), 3)
    assert c["test"] != a["test"]
    # one more iteration keeps every earlier slice: a run can be extended
    assert make_splits(cfg, 4)["train3"] == a["train3"]


def test_user_prompts_jsonl(tmp_path):
    path = tmp_path / "p.jsonl"
    rows = [
        {"prompt": "What is 2 + 2?", "answer": 4},
        {"messages": [{"role": "user", "content": "Say hi."}], "constraints": [{"type": "lowercase"}]},
        {"prompt": "Free-form question"},
        {"prompt": "Write about tea in 4 words.", "n": 4},
        {"prompt": "Capital of France?", "answer": "Paris", "task": "qa"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    recs = load_user_prompts(DataConfig(source=str(path)))
    assert [r.get("task") for r in recs] == ["arithmetic", "instructions", None, "wordcount", "qa"]
    assert recs[0]["messages"] == [{"role": "user", "content": "What is 2 + 2?"}]
    splits = make_splits(DataConfig(source=str(path), prompts_per_iteration=2, test_prompts=1, val_prompts=0), 2)
    assert sorted(r["messages"][0]["content"] for s in splits.values() for r in s) == sorted(
        r["messages"][0]["content"] for r in recs
    )


@pytest.mark.parametrize(
    "lines, needle",
    [
        (['{"prompt": "ok"}', '{"prompt": '], ":2: not valid JSON"),
        (['{"prompt": "ok"}', '{"text": "no prompt"}'], ":2: needs a non-empty `prompt`"),
        (['{"prompt": "x", "constraints": [{"type": "rhyme"}]}'], ":1: unknown constraint"),
        ([""], "no prompts"),
    ],
)
def test_bad_prompt_files_name_the_line(tmp_path, lines, needle):
    path = tmp_path / "p.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DnoError) as err:
        load_user_prompts(DataConfig(source=str(path)))
    assert str(path) in str(err.value) and needle in str(err.value)


def test_datasets_directory_source(tmp_path):
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_list([{"prompt": f"What is {i} + 1?", "answer": i + 1} for i in range(5)]).save_to_disk(
        str(tmp_path / "ds")
    )
    recs = load_user_prompts(DataConfig(source=str(tmp_path / "ds")))
    assert len(recs) == 5 and recs[0]["task"] == "arithmetic"


def test_too_few_user_prompts_is_a_clear_error(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"prompt": "a"}\n{"prompt": "b"}\n')
    with pytest.raises(DnoError, match="has 2 prompts but the config needs"):
        make_splits(DataConfig(source=str(path), prompts_per_iteration=5, test_prompts=1, val_prompts=0), 1)


def test_wordcount_partial_credit():
    rec = {"task": "wordcount", "n": 4}
    assert [wordcount.score(rec, r)[0] for r in ["one two three four", "one two", "a " * 12, ""]] == [6, 4, 0, 2]


# ---- which task a user's row is ------------------------------------------------------------------------


def test_a_row_that_claims_a_task_it_cannot_be_checked_by_is_an_error_naming_file_and_line(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(
        '{"prompt": "What is 1 + 1?", "answer": 2}\n\n{"prompt": "Capital of France?", "answer": "Paris"}\n'
    )
    with pytest.raises(DnoError) as err:
        load_user_prompts(DataConfig(source=str(path)))
    msg = str(err.value)
    assert msg.startswith(f"{path}:3: ") and "arithmetic" in msg and "'Paris'" in msg


@pytest.mark.parametrize(
    "row, needle",
    [
        ({"prompt": "Write 3 words.", "n": 0}, "wordcount"),
        ({"prompt": "Write.", "task": "wordcount"}, "`n`"),
        ({"prompt": "Sum?", "task": "arithmetic", "answer": True}, "number"),
        ({"prompt": "Both?", "answer": 3, "n": 3}, "say which with a `task` field"),
        ({"prompt": "Odd task", "task": 7}, "`task` must be a string"),
    ],
)
def test_rows_the_oracle_could_not_check_name_their_line(tmp_path, row, needle):
    path = tmp_path / "p.jsonl"
    path.write_text('{"prompt": "fine"}\n' + json.dumps(row) + "\n")
    with pytest.raises(DnoError) as err:
        load_user_prompts(DataConfig(source=str(path)))
    assert str(err.value).startswith(f"{path}:2: ") and needle in str(err.value)


def test_a_row_of_a_task_the_oracle_does_not_know_loads_and_the_oracle_preflight_rejects_it(tmp_path):
    from dno.config import load_config
    from dno.run.preflight import preflight

    path = tmp_path / "p.jsonl"
    path.write_text(
        '{"prompt": "What is 2 + 2?", "answer": 4}\n{"prompt": "Capital of France?", "answer": "Paris", "task": "qa"}\n'
    )
    (qa,) = [r for r in load_user_prompts(DataConfig(source=str(path))) if r["task"] == "qa"]
    assert qa["answer"] == "Paris" and qa["messages"][0]["content"] == "Capital of France?"
    small = [
        "policy.model=tiny-random",
        f"data.source={path}",
        "iterations=1",
        "data.prompts_per_iteration=1",
        "data.test_prompts=1",
        "data.val_prompts=0",
    ]
    cfg = load_config(None, small)
    (qa_id,) = [r["id"] for recs in make_splits(cfg.data, 1).values() for r in recs if r.get("task") == "qa"]
    with pytest.raises(DnoError) as err:
        preflight(cfg)
    msg = str(err.value)
    assert f"prompt {qa_id!r}" in msg and "oracle" in msg and "`judge.type`" in msg and "'qa'" in msg
    # with a judge that reads any prompt, the same file passes
    preflight(
        load_config(
            None,
            [
                *small,
                "judge.type=callable",
                f"judge.function={_length_judge(tmp_path)}",
                "eval.judge.type=callable",
                f"eval.judge.function={_length_judge(tmp_path)}",
            ],
        )
    )


def _length_judge(tmp_path) -> str:
    mod = tmp_path / "length_judge.py"
    mod.write_text("def points(prompt, candidates):\n    return [float(len(c)) for c in candidates]\n")
    return f"{mod}:points"


def test_tasks_are_registered_instances():
    assert {"arithmetic", "instructions", "wordcount"} <= set(TASKS.names())
    task = TASKS.get("arithmetic", "data.tasks")
    assert isinstance(task, Arithmetic) and task.score(ARITH, "42")[0] == 6.0
    import random

    rec = TASKS.get("wordcount", "data.tasks").generate(random.Random(0))
    assert isinstance(rec["prompt"], str) and 3 <= rec["n"] <= 10
    TASKS.get("wordcount", "data.tasks").check(rec, "here")  # a generated record is checkable


def _sentences(text: str) -> set[str]:
    """A prompt's sentences with the drawn values masked: what remains is the template's wording."""
    import re

    from dno.tasks import instructions as ins
    from dno.tasks import wordcount as wc

    for topic in sorted({*ins.TOPICS, *ins.OOD_TOPICS, *wc.TOPICS, *wc.OOD_TOPICS}, key=len, reverse=True):
        text = text.replace(topic, "T")
    text = re.sub(r'"[a-z]+"', "W", re.sub(r"\d+", "N", text))
    return {s.strip() for s in re.split(r"(?<=[.?;])\s+", text) if s.strip()}


@pytest.mark.parametrize("name", ["arithmetic", "instructions", "wordcount"])
def test_out_of_distribution_prompts_share_no_sentence_with_training_prompts(name):
    import random

    task = TASKS.get(name, "task")
    rng = random.Random(0)
    train = set().union(*(_sentences(task.generate(rng)["prompt"]) for _ in range(3000)))
    ood = [task.generate_ood(rng) for _ in range(500)]
    assert all(task.score(r, "") is not None for r in ood)  # the oracle checks them like any prompt
    shared = set().union(*(_sentences(r["prompt"]) for r in ood)) & train
    assert not shared, f"{name}: out-of-distribution prompts reuse training wording: {sorted(shared)[:3]}"


def test_ood_split_is_fixed_by_the_seed_and_follows_the_task_mix():
    cfg = DataConfig(test_prompts=8, val_prompts=0, prompts_per_iteration=8, ood_prompts=64)
    a, b = make_splits(cfg, 1)["ood"], make_splits(cfg, 1)["ood"]
    assert a == b and len(a) == 64 and len({r["messages"][0]["content"] for r in a}) == 64
    assert {r["task"] for r in a} == {"arithmetic", "instructions"}
    assert [r["id"] for r in a[:2]] == ["ood-00000", "ood-00001"] and {r["split"] for r in a} == {"ood"}
    other = make_splits(DataConfig(test_prompts=8, val_prompts=0, prompts_per_iteration=8, ood_prompts=64, seed=7), 1)
    assert other["ood"] != a
    assert "ood" not in make_splits(
        DataConfig(test_prompts=8, val_prompts=0, prompts_per_iteration=8, ood_prompts=0), 1
    )
