"""A user's own prompts in the shapes real datasets come in: UltraFeedback-style parquet, chat-messages JSON,
CSV, data folders with splits and `save_to_disk` folders; columns named by config; errors naming the row."""

from __future__ import annotations

import json

import pytest

from dno.config import DataConfig
from dno.data import load_user_prompts
from dno.errors import DnoError

datasets = pytest.importorskip("datasets")


def ultrafeedback_rows(n: int) -> list[dict]:
    """The columns of HuggingFaceH4/ultrafeedback_binarized: prompt, prompt_id, chosen/rejected/messages lists."""
    rows = []
    for i in range(n):
        prompt = f"Describe item {i} briefly."
        good, bad = f"Item {i} is small.", f"I cannot help with item {i}."
        rows.append(
            {
                "prompt": prompt,
                "prompt_id": f"uf{i:03d}",
                "chosen": [{"role": "user", "content": prompt}, {"role": "assistant", "content": good}],
                "rejected": [{"role": "user", "content": prompt}, {"role": "assistant", "content": bad}],
                "messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": good}],
                "score_chosen": 8.0,
                "score_rejected": 3.0,
            }
        )
    return rows


def test_an_ultrafeedback_parquet_gives_prompts_ids_and_gold_answers(tmp_path):
    path = tmp_path / "uf.parquet"
    datasets.Dataset.from_list(ultrafeedback_rows(5)).to_parquet(str(path))
    cfg = DataConfig(source=str(path), prompt_column="prompt", gold_column="chosen", id_column="prompt_id")
    recs = load_user_prompts(cfg)
    assert recs[2] == {
        "id": "uf002",
        "gold": "Item 2 is small.",
        "messages": [{"role": "user", "content": "Describe item 2 briefly."}],
    }  # the dataset's other columns (rejected, messages, scores) stay out of the run directory


def test_named_columns_keep_the_oracle_fields_and_the_optional_topic(tmp_path):
    path = tmp_path / "ifeval.parquet"
    row = {"q": "Write about tea.", "constraints": [{"type": "max_words", "n": 8}], "topic": "tea", "extra": 1}
    datasets.Dataset.from_list([row, {**row, "q": "Write about ink.", "topic": "ink"}]).to_parquet(str(path))
    recs = load_user_prompts(DataConfig(source=str(path), prompt_column="q"))
    assert recs[1] == {
        "task": "instructions",
        "constraints": [{"type": "max_words", "n": 8}],
        "topic": "ink",
        "messages": [{"role": "user", "content": "Write about ink."}],
    }


def test_a_messages_json_file_takes_the_prompt_before_the_answer_and_the_answer_as_gold(tmp_path):
    path = tmp_path / "chats.json"  # one JSON list, not JSON lines
    chats = [
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": f"Question {i}?"},
            {"role": "assistant", "content": f"Answer {i}."},
        ]
        for i in range(3)
    ]
    path.write_text(json.dumps([{"messages": c} for c in chats]))
    recs = load_user_prompts(DataConfig(source=str(path), prompt_column="messages", gold_column="messages"))
    assert [r["messages"] for r in recs] == [c[:2] for c in chats]
    assert [r["gold"] for r in recs] == ["Answer 0.", "Answer 1.", "Answer 2."]


def test_csv_and_a_folder_of_split_files(tmp_path):
    csv = tmp_path / "p.csv"
    csv.write_text("question,reference\nWhat is tea?,A drink.\nWhat is ink?,\n")
    recs = load_user_prompts(DataConfig(source=str(csv), prompt_column="question", gold_column="reference"))
    assert [r["messages"][0]["content"] for r in recs] == ["What is tea?", "What is ink?"]
    assert recs[0]["gold"] == "A drink." and "gold" not in recs[1]  # an empty reference is no gold answer

    folder = tmp_path / "ds"
    folder.mkdir()
    for split in ("train", "test"):
        datasets.Dataset.from_list([{"prompt": f"{split} prompt {i}"} for i in range(2)]).to_parquet(
            str(folder / f"{split}.parquet")
        )
    recs = load_user_prompts(DataConfig(source=str(folder), split="test"))
    assert [r["messages"][0]["content"] for r in recs] == ["test prompt 0", "test prompt 1"]


def test_a_saved_dataset_dict_reads_data_split(tmp_path):
    dd = datasets.DatasetDict(
        {s: datasets.Dataset.from_list([{"prompt": f"{s} {i}"} for i in range(2)]) for s in ("train_prefs", "test")}
    )
    dd.save_to_disk(str(tmp_path / "dd"))
    recs = load_user_prompts(DataConfig(source=str(tmp_path / "dd"), split="test"))
    assert recs[0]["messages"][0]["content"] == "test 0"
    # no data.split: `train`, else the first split (what dno read before data.split existed)
    assert load_user_prompts(DataConfig(source=str(tmp_path / "dd")))[0]["messages"][0]["content"] == "train_prefs 0"
    with pytest.raises(DnoError, match=r"has no split 'train' \(data.split; it has train_prefs, test\)"):
        load_user_prompts(DataConfig(source=str(tmp_path / "dd"), split="train"))


@pytest.mark.parametrize(
    "settings, needle",
    [
        ({"prompt_column": "question"}, "row 1: no `question` prompt (data.prompt_column; the row has prompt,"),
        ({"prompt_column": "title"}, "row 0: no `title` prompt (data.prompt_column"),
        ({"prompt_column": "chosen", "gold_column": "rejected_score"}, "row 0: `rejected_score` must be a string"),
        ({"prompt_column": "prompt", "gold_column": "answer_text"}, "no row has a `answer_text` answer (data.gold"),
        ({"prompt_column": "prompt", "gold_column": "rejected_score"}, "row 0: `rejected_score` must be a string"),
        ({"prompt_column": "chosen", "gold_column": "chosen", "id_column": "prompt_id"}, None),
        ({"prompt_column": "prompt", "id_column": "uid"}, "row 0: has no `uid` value (data.id_column)"),
    ],
)
def test_named_columns_are_checked_row_by_row(tmp_path, settings, needle):
    path = tmp_path / "rows.parquet"
    rows = ultrafeedback_rows(2)
    rows[0]["question"], rows[1]["question"] = "only here", None
    rows[0]["rejected_score"] = {"low": 1}  # an answer column holding neither text nor messages
    datasets.Dataset.from_list(rows).to_parquet(str(path))
    cfg = DataConfig(source=str(path), **settings)
    if needle is None:
        assert [r["id"] for r in load_user_prompts(cfg)] == ["uf000", "uf001"]
        return
    with pytest.raises(DnoError) as err:
        load_user_prompts(cfg)
    assert str(err.value).startswith(f"{path}") and needle in str(err.value)


@pytest.mark.parametrize(
    "name, text, needle",
    [
        ("p.txt", "hello", "unknown file type"),
        ("p.parquet", "not parquet", "cannot be read as parquet"),
        ("missing.csv", None, "not found"),
    ],
)
def test_unreadable_sources_are_one_line_errors(tmp_path, name, text, needle):
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    with pytest.raises(DnoError) as err:
        load_user_prompts(DataConfig(source=str(path)))
    assert str(err.value).startswith(str(path)) and needle in str(err.value) and "\n" not in str(err.value)


def test_a_hub_name_goes_to_the_hub_and_fails_in_one_line_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(DnoError) as err:
        load_user_prompts(DataConfig(source="HuggingFaceH4/ultrafeedback_binarized", split="train_prefs"))
    msg = str(err.value)
    assert msg.startswith("HuggingFaceH4/ultrafeedback_binarized: cannot be loaded from the Hugging Face Hub")
    assert "\n" not in msg


def test_rows_with_different_fields_read_alike_from_jsonl_and_through_datasets(tmp_path):
    rows = [{"prompt": "What is 2+3?", "answer": 5}, {"prompt": "Write a poem"}, {"prompt": "Say hi", "id": "x1"}]
    (tmp_path / "p.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "p.json").write_text(json.dumps(rows))
    columns = {k: [r.get(k) for r in rows] for k in ("prompt", "answer", "id")}  # parquet: every column, nulls
    datasets.Dataset.from_dict(columns).to_parquet(str(tmp_path / "p.parquet"))
    want = load_user_prompts(DataConfig(source=str(tmp_path / "p.jsonl")))
    assert want[0]["task"] == "arithmetic" and "task" not in want[1] and want[2]["id"] == "x1"
    for name in ("p.json", "p.parquet"):  # `datasets` gives absent fields as None
        assert load_user_prompts(DataConfig(source=str(tmp_path / name))) == want


def test_default_columns_keep_a_row_as_dno_always_read_it(tmp_path):
    """Runs made before named columns compare their saved prompt slices with what the loader gives now."""
    row = {
        "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
        "gold": [{"role": "assistant", "content": "g"}],
        "extra": 1,
    }
    (tmp_path / "p.jsonl").write_text(json.dumps(row) + "\n")
    (rec,) = load_user_prompts(DataConfig(source=str(tmp_path / "p.jsonl")))
    assert rec == {"gold": row["gold"], "extra": 1, "messages": row["messages"]}


def test_a_named_column_that_only_shares_an_oracle_fields_name_claims_no_task(tmp_path):
    path = tmp_path / "gsm8k.parquet"  # GSM8K: `answer` is a worked solution, not the arithmetic oracle's number
    datasets.Dataset.from_list([{"question": "Tom has 3 apples...", "answer": "He has 3 + 2 = 5. #### 5"}]).to_parquet(
        str(path)
    )
    (rec,) = load_user_prompts(DataConfig(source=str(path), prompt_column="question", gold_column="answer"))
    assert rec == {"gold": "He has 3 + 2 = 5. #### 5", "messages": [{"role": "user", "content": "Tom has 3 apples..."}]}
