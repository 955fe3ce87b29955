"""The reward-model judge on a tiny random reward model: the 0-6 mappings, batching, truncation, its own
chat template, the cache, and the directories it refuses."""

from __future__ import annotations

import json
import math
import shutil

import pytest

from dno.config import load_config
from dno.errors import DnoError
from dno.judges import build_judge
from dno.judges.reward_model import RewardModelJudge, render, to_scale

PROMPT = {"id": "p", "messages": [{"role": "user", "content": "Name a colour."}]}
ANSWERS = ["Red.", "Blue, like the sky on a clear day.", "green", "I would say yellow, or maybe orange.", "Red."]


def judge(rm_dir, *overrides, cache_dir=None):
    cfg = load_config(None, ["judge.type=reward_model", f"judge.model={rm_dir}", *overrides]).judge
    return build_judge(cfg, cache_dir=cache_dir)


def test_the_scales_pinned():
    raw = [1.0, 3.0, 2.0, 2.0]
    assert to_scale(raw, "rank") == [0.0, 6.0, 3.0, 3.0]  # 6 x share of the others out-scored, ties ½
    s1, s2 = 1 / (1 + math.exp(1)), 1 / (1 + math.exp(2))  # σ(-1), σ(-2)
    assert to_scale(raw, "sigmoid") == pytest.approx([2 * (s2 + 2 * s1), 2 * (3 - s2 - 2 * s1), 3.0, 3.0])
    assert to_scale(raw, "standardize") == pytest.approx([3 - math.sqrt(2), 3 + math.sqrt(2), 3.0, 3.0])
    assert to_scale(raw, "raw") == raw
    assert to_scale([0.0] * 16 + [1.0], "standardize")[-2:] == pytest.approx([2.75, 6.0])  # z = 4: clipped
    for how in ("rank", "sigmoid", "standardize"):
        assert to_scale([7.5], how) == [3.0], "a lone candidate is the middle"
        assert to_scale([4.0, 4.0], how) == [3.0, 3.0]
        out = to_scale([math.nan, 1.0, 2.0], how)
        assert math.isnan(out[0]) and out[1] < out[2], "a failed reward stays out"
    assert to_scale([1000.0, -1000.0], "sigmoid") == [6.0, 0.0]  # no overflow


def test_scores_follow_the_raw_rewards_and_keep_them(tiny_reward_model_dir):
    j = judge(tiny_reward_model_dir)
    s = j.score(PROMPT, ANSWERS)
    raw = s.info["raw"]
    assert len(raw) == 5 and raw[0] == raw[4], "the same text, the same reward"
    assert s.scores == to_scale(raw, "rank") and s.info["truncated"] == 0
    assert j.usage()["scored"] == 4 and j.usage()["texts"] == 5, "a repeated text is scored once"
    assert j.compare(PROMPT, ANSWERS[1], ANSWERS[2]) == (1.0 if raw[1] > raw[2] else 0.0)
    std = judge(tiny_reward_model_dir, "judge.reward_scale=standardize").score(PROMPT, ANSWERS)
    assert std.info["raw"] == pytest.approx(raw) and std.scores == pytest.approx(to_scale(raw, "standardize"))


def test_batched_scores_equal_one_at_a_time(tiny_reward_model_dir):
    prompts = [PROMPT, {"id": "q", "messages": [{"role": "user", "content": "Count to three."}]}]
    cands = [ANSWERS, ["1 2 3", "one, two, three", "3"]]
    one = judge(tiny_reward_model_dir, "judge.batch_size=1").score_many(prompts, cands)
    many = judge(tiny_reward_model_dir, "judge.batch_size=3").score_many(prompts, cands)
    for a, b in zip(one, many):
        assert a.info["raw"] == pytest.approx(b.info["raw"], abs=1e-5) and a.scores == b.scores


def test_long_inputs_are_cut_at_the_end_and_counted(tiny_reward_model_dir, capsys):
    full = judge(tiny_reward_model_dir)
    head = "word " * 40
    n = len(full.tok(render(full.tok, PROMPT["messages"], "short"), add_special_tokens=False)["input_ids"]) + 8
    s = full.score(PROMPT, [head + "good", head + "bad"])
    assert s.info["truncated"] == 0 and s.info["raw"][0] != s.info["raw"][1]
    assert "max_length" not in capsys.readouterr().err
    j = judge(tiny_reward_model_dir, f"judge.max_length={n}")
    s = j.score(PROMPT, [head + "good", head + "bad", "short"])
    assert s.info["truncated"] == 2 and j.usage()["truncated"] == 2
    assert s.info["raw"][0] == s.info["raw"][1], "only the first max_length tokens are read"
    assert f"judge.max_length`={n}: longer inputs are cut" in capsys.readouterr().err


def test_its_own_chat_template_or_plain_text(tiny_reward_model_dir, tmp_path, capsys):
    j = judge(tiny_reward_model_dir)
    assert render(j.tok, PROMPT["messages"], "Red.").endswith("<|im_start|>assistant\nRed.<|im_end|>\n")
    plain_dir = tmp_path / "plain"
    shutil.copytree(tiny_reward_model_dir, plain_dir, ignore=shutil.ignore_patterns("chat_template.jinja"))
    tc = json.loads((plain_dir / "tokenizer_config.json").read_text())
    tc.pop("chat_template", None)
    (plain_dir / "tokenizer_config.json").write_text(json.dumps(tc))
    p = judge(plain_dir)
    assert "has no chat template" in capsys.readouterr().err
    assert render(p.tok, PROMPT["messages"], "Red.") == "User: Name a colour.\nAssistant: Red."
    assert p.score(PROMPT, ["Red.", "green"]).info["raw"] != j.score(PROMPT, ["Red.", "green"]).info["raw"]


def test_rewards_are_cached_by_text(tiny_reward_model_dir, tmp_path):
    first = judge(tiny_reward_model_dir, cache_dir=tmp_path).score(PROMPT, ANSWERS)
    again = judge(tiny_reward_model_dir, cache_dir=tmp_path)
    assert again.score(PROMPT, list(reversed(ANSWERS))).info["raw"] == list(reversed(first.info["raw"]))
    assert again.usage()["scored"] == 0 and again.usage()["cache_hits"] == 4
    other = judge(tiny_reward_model_dir, "judge.max_length=8", cache_dir=tmp_path)
    other.score(PROMPT, ANSWERS)
    assert other.usage()["scored"] == 4, "max_length changes the reward: not the same question"


def _dir_with(tmp_path, rm_dir, **config):
    d = tmp_path / "rm"
    shutil.copytree(rm_dir, d, ignore=shutil.ignore_patterns("*.safetensors"))
    c = json.loads((d / "config.json").read_text())
    (d / "config.json").write_text(json.dumps({**c, **config}))
    return d


def test_directories_that_are_not_a_scalar_reward_model_are_refused(tiny_reward_model_dir, tiny_model_dir, tmp_path):
    def refused(model, match):
        cfg = load_config(None, ["judge.type=reward_model", f"judge.model={model}"]).judge
        with pytest.raises(DnoError, match=match) as e:
            RewardModelJudge.preflight(cfg, "judge", [])
        assert "`judge.model`" in str(e.value) and "\n" not in str(e.value)

    refused(tmp_path / "nowhere", "not a model directory")
    refused(tiny_model_dir, "not a sequence-classification model .architectures: LlamaForCausalLM")
    refused(_dir_with(tmp_path, tiny_reward_model_dir, id2label={"0": "bad", "1": "good"}), "num_labels=2")
    no_tokenizer = _dir_with(tmp_path / "x", tiny_reward_model_dir)
    (no_tokenizer / "tokenizer_config.json").unlink()
    refused(no_tokenizer, "no tokenizer")
    RewardModelJudge.preflight(load_config(None, [f"judge.model={tiny_reward_model_dir}"]).judge, "judge", [])
    with pytest.raises(DnoError, match="`eval.judge.model` .* required"):
        load_config(None, ["eval.judge.type=reward_model"])
    with pytest.raises(DnoError, match="`judge.device` must be auto, cpu"):
        load_config(None, ["judge.device=gpu"])


def _with_template(src, dst, template: str):
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("chat_template.jinja"))
    tc = json.loads((dst / "tokenizer_config.json").read_text())
    tc["chat_template"] = template
    (dst / "tokenizer_config.json").write_text(json.dumps(tc))
    return dst


NO_SYSTEM = (  # as Gemma's template: a system turn raises
    "{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
    "{% endif %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
)
SYSTEM = {"id": "s1", "messages": [{"role": "system", "content": "Be brief."}, *PROMPT["messages"]]}


def test_a_template_without_system_turns_reads_the_system_text_in_the_user_turn(tiny_reward_model_dir, tmp_path):
    j = judge(_with_template(tiny_reward_model_dir, tmp_path / "nosys", NO_SYSTEM))
    text = render(j.tok, SYSTEM["messages"], "Red.")
    assert text == "<|im_start|>user\nBe brief.\n\nName a colour.<|im_end|>\n<|im_start|>assistant\nRed.<|im_end|>\n"
    s = j.score(SYSTEM, ["Red.", "green"])
    assert all(math.isfinite(r) for r in s.info["raw"])
    RewardModelJudge.preflight(j.cfg, "judge", [SYSTEM, PROMPT])  # accepted before the run, too


def test_a_conversation_the_template_refuses_is_a_one_line_error_at_preflight(tiny_reward_model_dir, tmp_path):
    strict = "{% if messages|length > 2 %}{{ raise_exception('at most one user turn') }}{% endif %}" + NO_SYSTEM
    rm = _with_template(tiny_reward_model_dir, tmp_path / "strict", strict)
    two = {
        "id": "two-turns",
        "messages": [*PROMPT["messages"], {"role": "assistant", "content": "Red."}, *PROMPT["messages"]],
    }
    cfg = load_config(None, ["judge.type=reward_model", f"judge.model={rm}"]).judge
    with pytest.raises(DnoError) as e:
        RewardModelJudge.preflight(cfg, "judge", [PROMPT, two], source="my.jsonl")
    assert str(e.value) == (
        "my.jsonl: prompt two-turns: `judge.model`: its chat template cannot render a user/assistant/user/assistant "
        "conversation: at most one user turn"
    )
    with pytest.raises(DnoError, match="`judge.model`: its chat template cannot render"):
        build_judge(cfg).score(two, ["Red."])
