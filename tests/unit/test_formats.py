"""dno/formats.py: AlpacaEval model outputs both ways, TRL preference datasets read as warm-start pairs."""

from __future__ import annotations

import json

import pytest

from dno import config as config_mod
from dno import formats, io
from dno.errors import DnoError

PROMPTS = [
    {"id": "a", "task": "arithmetic", "messages": [{"role": "user", "content": "What is 1 + 1?"}]},
    {
        "id": "b",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello"},
            {"role": "user", "content": "Name a colour."},
        ],
    },
]


def test_alpaca_outputs_in_prompt_order_with_the_last_user_turn_and_task_as_dataset():
    rows = formats.alpaca_outputs(
        PROMPTS, [{"id": "b", "response": "Red"}, {"id": "a", "response": "2"}], "g", "dno-test", "f"
    )
    assert rows == [
        {"instruction": "What is 1 + 1?", "output": "2", "generator": "g", "dataset": "arithmetic"},
        {"instruction": "Name a colour.", "output": "Red", "generator": "g", "dataset": "dno-test"},
    ]
    with pytest.raises(DnoError, match="f: no response for prompt 'b'"):
        formats.alpaca_outputs(PROMPTS, [{"id": "a", "response": "2"}], "g", "dno-test", "f")


def test_responses_from_alpaca_match_by_instruction_and_name_the_first_unmatched_prompt():
    ref = [{"instruction": "Name a colour.", "output": "Blue"}, {"instruction": "What is 1 + 1?", "output": "2"}]
    assert formats.responses_from_alpaca(ref, PROMPTS, "ref.json") == [
        {"id": "a", "response": "2"},
        {"id": "b", "response": "Blue"},
    ]
    with pytest.raises(DnoError, match=r"^ref.json: no output for prompt 'b' \(instruction 'Name a colour.'\)$"):
        formats.responses_from_alpaca(ref[1:], PROMPTS, "ref.json")
    with pytest.raises(DnoError, match="ref.json: entry 2: a second, different output"):
        formats.responses_from_alpaca([*ref, {"instruction": "Name a colour.", "output": "Green"}], PROMPTS, "ref.json")
    with pytest.raises(DnoError, match="ref.json: entry 0: needs a string `instruction` and a string `output`"):
        formats.responses_from_alpaca([{"instruction": "x"}], PROMPTS, "ref.json")


def _trl_rows():
    return [
        formats.trl_row(PROMPTS[0]["messages"], "2", "3"),
        formats.trl_row(PROMPTS[1]["messages"], "Red", "Table"),
    ]


def _expected_pairs():
    return [
        {"id": "warm-00000", "messages": PROMPTS[0]["messages"], "chosen": "2", "rejected": "3"},
        {"id": "warm-00001", "messages": PROMPTS[1]["messages"], "chosen": "Red", "rejected": "Table"},
    ]


@pytest.mark.parametrize("kind", ["jsonl", "json", "parquet", "dir", "dict"])
def test_a_trl_dataset_in_any_container_reads_as_warm_start_pairs(tmp_path, kind):
    import datasets

    rows = _trl_rows()
    path = tmp_path / f"pairs.{kind}"
    if kind == "jsonl":
        io.write_jsonl(path, rows)
    elif kind == "json":
        path.write_text(json.dumps(rows))
    elif kind == "dict":  # a saved DatasetDict: its train split
        other = datasets.Dataset.from_list(rows[:1])
        datasets.DatasetDict({"test": other, "train": datasets.Dataset.from_list(rows)}).save_to_disk(str(path))
    else:
        ds = datasets.Dataset.from_list(rows)
        ds.to_parquet(str(path)) if kind == "parquet" else ds.save_to_disk(str(path))
    pairs = formats.load_preference_pairs(str(path))
    assert [{k: p[k] for k in ("id", "messages", "chosen", "rejected")} for p in pairs] == _expected_pairs()
    assert {(p["type"], p["target"], p["chosen_finished"], p["rejected_finished"]) for p in pairs} == {
        ("data>data", 1.0, True, True)
    }


def test_trl_standard_format_strings_and_whole_conversations_are_read_too(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text('prompt,chosen,rejected,score\n"What is 1 + 1?",2,3,1\n')
    (p,) = formats.load_preference_pairs(str(path))
    assert (p["messages"], p["chosen"], p["rejected"]) == (PROMPTS[0]["messages"], "2", "3")
    # UltraFeedback's binarized pairs: chosen and rejected are the whole conversation, the answer last
    turn = lambda text: [*PROMPTS[1]["messages"], {"role": "assistant", "content": text}]
    io.write_jsonl(
        path.with_suffix(".jsonl"), [{"prompt": "Name a colour.", "chosen": turn("Red"), "rejected": turn("Table")}]
    )
    (p,) = formats.load_preference_pairs(str(path.with_suffix(".jsonl")))
    assert (p["messages"][-1]["content"], p["chosen"], p["rejected"]) == ("Name a colour.", "Red", "Table")


@pytest.mark.parametrize(
    "rows, message",
    [
        ([{"prompt": "q", "chosen": "a"}], r"1: no `rejected` \(a preference row has prompt, chosen and rejected\)"),
        (
            [{"prompt": "q", "chosen": "a", "rejected": "b"}, {"prompt": "", "chosen": "a", "rejected": "b"}],
            r"2: `prompt` is an empty string",
        ),
        (
            [
                {
                    "prompt": [{"role": "assistant", "content": "a"}],
                    "chosen": "a",
                    "rejected": "b",
                }
            ],
            r"1: `prompt` holds only assistant turns; no prompt is left",
        ),
        (
            [
                {
                    "prompt": "q",
                    "chosen": [{"role": "assistant", "content": "a"}, {"role": "user", "content": "?"}],
                    "rejected": "b",
                }
            ],
            r"1: `chosen` must be a string or a messages list ending with an assistant turn, got list$",
        ),
        (
            [{"prompt": "q", "chosen": "a", "rejected": [{"role": "user", "content": "b"}]}],
            r"1: `rejected` must be a string or a messages list ending with an assistant turn",
        ),
    ],
)
def test_a_bad_preference_dataset_is_one_line_naming_file_and_row(tmp_path, rows, message):
    path = tmp_path / "pairs.jsonl"
    io.write_jsonl(path, rows)
    with pytest.raises(DnoError, match=f"^{path}:{message}") as e:
        formats.load_preference_pairs(str(path))
    assert "\n" not in str(e.value)


def test_unreadable_or_missing_preference_datasets(tmp_path):
    with pytest.raises(DnoError, match="nope.jsonl: preference dataset not found"):
        formats.load_preference_pairs(str(tmp_path / "nope.jsonl"))
    (tmp_path / "pairs.txt").write_text("prompt,chosen,rejected\n")
    with pytest.raises(DnoError, match="expected a .jsonl, .json, .parquet or .csv file or a dataset folder"):
        formats.load_preference_pairs(str(tmp_path / "pairs.txt"))
    (tmp_path / "bad.jsonl").write_text('{"prompt": "q", "chosen": "a", "rejected": "b"}\nnot json\n')
    with pytest.raises(DnoError, match=r"bad.jsonl:2: not valid JSON \(Expecting value\)$"):
        formats.load_preference_pairs(str(tmp_path / "bad.jsonl"))
    (tmp_path / "bad.json").write_text('[{"prompt": "q", "chosen": "a", "rejected": "b"}, 7]')
    with pytest.raises(
        DnoError, match=r"bad.json: row 1: expected an object with prompt, chosen and rejected, got int"
    ):
        formats.load_preference_pairs(str(tmp_path / "bad.json"))
    (tmp_path / "broken.json").write_text('[{"prompt": "q", "chosen"')
    with pytest.raises(DnoError, match=r"broken.json: cannot be read as json \(") as e:
        formats.load_preference_pairs(str(tmp_path / "broken.json"))
    assert "\n" not in str(e.value)
    (tmp_path / "folder").mkdir()
    with pytest.raises(DnoError, match="folder: cannot be read as a dataset") as e:
        formats.load_preference_pairs(str(tmp_path / "folder"))
    assert "\n" not in str(e.value)
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(DnoError, match="empty.jsonl: no rows"):
        formats.load_preference_pairs(str(tmp_path / "empty.jsonl"))
    import datasets

    datasets.Dataset.from_list([{"prompt": "q", "answer": "a"}]).to_parquet(str(tmp_path / "p.parquet"))
    with pytest.raises(
        DnoError, match=r"p.parquet: row 0: no `chosen` \(a preference row has prompt, chosen and rejected\)"
    ):
        formats.load_preference_pairs(str(tmp_path / "p.parquet"))


def test_pair_warm_start_is_a_checked_setting_a_resume_compares():
    assert config_mod.load_config(None, ["pair.warm_start=data/pairs.parquet"]).pair.warm_start == "data/pairs.parquet"
    with pytest.raises(DnoError, match=r"`pair.warm_start` must be a .jsonl, .json, .parquet or .csv file"):
        config_mod.load_config(None, ["pair.warm_start=pairs.txt"])
    assert "pair.warm_start" not in config_mod.launch_keys()
