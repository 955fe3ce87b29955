import pytest


@pytest.fixture(scope="session")
def tiny_model_dir():
    from dno import models

    return models.resolve(models.TINY)


# ---- judge tests: a real OpenAI-compatible server (llama-cpp-python + the SmolLM2 GGUF) -------------
# Owned by the judges work (tests/test_judges*.py); see tests/llama_server.py.

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
