"""Small real HTTP servers on 127.0.0.1 for judge tests that need a server to misbehave in one exact way
(the llama.cpp server of tests/llama_server.py is the well-behaved one)."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Reply = Callable[[dict], "tuple[int, str, bytes] | None"]
"""request JSON -> (status, content type, body), or None to never answer."""


@contextlib.contextmanager
def serve(reply: Reply) -> Iterator[tuple[str, dict]]:
    """(base_url ending in /v1, state): state['requests'] counts requests, state['arrived'] is set by the first."""
    state = {"requests": 0, "arrived": threading.Event(), "release": threading.Event()}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
            state["requests"] += 1
            state["arrived"].set()
            answer = reply(body)
            if answer is None:
                state["release"].wait(120)
                return
            status, kind, data = answer
            self.send_response(status)
            self.send_header("content-type", kind)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", state
    finally:
        state["release"].set()
        server.shutdown()
        server.server_close()


def chat_completion(content: str) -> Reply:
    """Every request answered with a valid chat completion whose message is `content`."""

    def reply(request: dict):
        body = {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": request.get("model", "m"),
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
        return 200, "application/json", json.dumps(body).encode()

    return reply
