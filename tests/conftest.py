import os
import sys

import pytest

# `auto` precision samples in bf16 on CPUs with AMX / AVX512-BF16 and in float32 elsewhere (dno/precision.py): the suite
# computes in float32 on every machine kind, so that its exact comparisons mean the same everywhere; the tests
# of the bf16 path set this themselves.
os.environ["DNO_NATIVE_BF16"] = "0"


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    """accelerate keeps one process-wide state (mixed precision, device) from the first `Accelerator`; a test
    that trains in-process must not fix the next one's settings (e.g. bf16 after a float32 run)."""
    yield
    if "accelerate.state" in sys.modules:
        from accelerate.state import AcceleratorState

        AcceleratorState._reset_state(reset_partial_state=True)


@pytest.fixture(scope="session")
def tiny_model_dir():
    from dno import models

    return models.resolve(models.TINY)


@pytest.fixture(scope="session")
def tiny_reward_model_dir(tiny_model_dir, tmp_path_factory):
    """A 2-layer randomly initialised Llama reward model (one scalar head) with the tiny policy's tokenizer."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForSequenceClassification

    out = tmp_path_factory.mktemp("reward_model")
    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=512,
        num_labels=1,
        pad_token_id=tok.pad_token_id,
    )
    LlamaForSequenceClassification(config).save_pretrained(str(out))
    tok.save_pretrained(str(out))
    return out


@pytest.fixture(scope="session")
def sampled_run(tmp_path_factory):
    """A prepared tiny run (tests/tiny_runs.FAST) whose iteration 1 was sampled and judged without shards.
    Shared: tests copy it (tiny_runs.prepared_with_samples) rather than change it."""
    from tiny_runs import make_sampled_run

    return make_sampled_run(tmp_path_factory.mktemp("sampled") / "plain")


# ---- judge tests: a real OpenAI-compatible server (llama-cpp-python + the SmolLM2 GGUF) -------------
# Used by tests/integration/test_judges_api.py, test_secrets.py and test_judge_manipulation.py; see
# tests/llama_server.py.


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory):
    """One shared server for tests that do not break it; skips when llama-cpp-python is not installed."""
    pytest.importorskip("llama_cpp")
    pytest.importorskip("uvicorn")
    from llama_server import LlamaServer

    server = LlamaServer(tmp_path_factory.mktemp("llama_server")).start()
    yield server
    server.kill()


@pytest.fixture
def fault_server(tmp_path):
    """A private server that a test may kill and restart on the same port."""
    pytest.importorskip("llama_cpp")
    pytest.importorskip("uvicorn")
    from llama_server import LlamaServer

    server = LlamaServer(tmp_path / "server").start()
    yield server
    server.kill()


# ---- end of judge-test fixtures ---------------------------------------------------------------------
