"""An API judge pointed at a server that answers, but not with a chat completion, says so in one line."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dno.config import load_config
from dno.errors import DnoError
from dno.judges import build_judge

PROMPT = {"id": "p", "messages": [{"role": "user", "content": "What is 2 + 3?"}], "task": "arithmetic", "answer": 5}


@pytest.fixture(params=[b'{"hello": "world"}', b'{"choices": []}', b"<html>a login page</html>"])
def wrong_server(request):
    body = request.param

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("content-length", 0)))
            self.send_response(200)
            self.send_header("content-type", "application/json" if body.startswith(b"{") else "text/html")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_an_answer_that_is_not_a_chat_completion_is_named(wrong_server):
    cfg = load_config(None, ["judge.type=api", f"judge.base_url={wrong_server}", "judge.model=m", "judge.api_key_env="])
    with pytest.raises(DnoError, match="not a chat completion") as e:
        build_judge(cfg.judge).score(PROMPT, ["5", "7"])
    assert "judge.base_url" in str(e.value) and "\n" not in str(e.value)
