import sys

import pytest


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
