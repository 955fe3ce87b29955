"""A fault-injecting HTTP proxy on 127.0.0.1 in front of the real llama.cpp server (tests/llama_server.py).

Each POST is either forwarded to the server and its answer returned whole, or answered with a fault: 429 with
`Retry-After: 0`, 429 without it, 500, 503 (none of these reach the server), or a connection reset mid-body
after the server has answered (the answer was paid for and never arrived). Which one is decided by a hash of
the request body and how many times that body was seen, so a rerun injects the same faults whatever the
order in which concurrent requests arrive.
"""

from __future__ import annotations

import hashlib
import http.client
import socket
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

FAULTS = ("429_retry_after", "429", "500", "503", "reset_mid_body")


class FaultProxy:
    def __init__(self, upstream: str, rate: float, seed: int = 0):
        self.upstream, self.rate, self.seed = urlsplit(upstream), rate, seed
        self.lock = threading.Lock()
        self.seen: Counter = Counter()  # body hash -> requests received
        self.faults: Counter = Counter()  # fault kind -> count
        self.delivered: Counter = Counter()  # body hash -> whole answers returned
        self.lost_after_answer: Counter = Counter()  # body hash -> answers paid for but cut mid-body
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def start(self) -> FaultProxy:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _fault(self, sha: str, attempt: int) -> str | None:
        h = int(hashlib.sha256(f"{self.seed}:{sha}:{attempt}".encode()).hexdigest()[:12], 16) / 16**12
        if h >= self.rate:
            return None
        return FAULTS[int(h / self.rate * len(FAULTS))]

    def _forward(self, path: str, body: bytes, headers: dict) -> tuple[int, list, bytes]:
        conn = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=120)
        try:
            conn.request("POST", path, body=body, headers=headers)
            r = conn.getresponse()
            return r.status, r.getheaders(), r.read()
        finally:
            conn.close()

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                sha = hashlib.sha256(body).hexdigest()[:16]
                with proxy.lock:
                    attempt = proxy.seen[sha]
                    proxy.seen[sha] += 1
                    fault = proxy._fault(sha, attempt)
                    if fault:
                        proxy.faults[fault] += 1
                if fault in ("429_retry_after", "429", "500", "503"):
                    self.send_response(int(fault[:3]))
                    if fault == "429_retry_after":
                        self.send_header("Retry-After", "0")
                    data = b'{"error": {"message": "injected"}}'
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                headers = {"content-type": "application/json", "authorization": self.headers.get("authorization", "")}
                status, resp_headers, data = proxy._forward(self.path, body, headers)
                self.send_response(status)
                for k, v in resp_headers:
                    if k.lower() not in ("transfer-encoding", "connection", "content-length", "date", "server"):
                        self.send_header(k, v)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                if fault == "reset_mid_body":
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    self.connection.close()  # RST: the client gets half a body and a reset
                    self.close_connection = True
                    with proxy.lock:
                        proxy.lost_after_answer[sha] += 1
                    return
                self.wfile.write(data)
                with proxy.lock:
                    proxy.delivered[sha] += 1

            def log_message(self, *args):
                pass

        return Handler
