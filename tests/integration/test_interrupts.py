"""Ctrl-C and SIGTERM stop `dno` promptly with one line and the interrupt's exit status, even while an API
judge's request hangs on a server that never answers (the request is abandoned after a short grace)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from tiny_runs import prepared_with_samples


class Silent(BaseHTTPRequestHandler):
    """Reads a request and never answers it."""

    arrived = threading.Event()
    release = threading.Event()

    def do_POST(self):  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("content-length", 0)))
        Silent.arrived.set()
        Silent.release.wait(120)

    def log_message(self, *args):
        pass


@pytest.fixture
def silent_server():
    Silent.arrived.clear()
    Silent.release.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Silent)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    Silent.release.set()
    server.shutdown()


@pytest.mark.parametrize(
    "sig, status, word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]
)
def test_a_signal_during_a_hanging_judge_request_stops_promptly(
    sampled_run, tmp_path, silent_server, sig, status, word
):
    judge = [
        "judge.type=api",
        f"judge.base_url={silent_server}",
        "judge.model=m",
        "judge.api_key_env=",
        "judge.timeout_s=60",
    ]
    run = prepared_with_samples(sampled_run, tmp_path / "run", *judge)
    (run / "iter_1" / "judgments.jsonl").unlink()
    proc = subprocess.Popen(
        [sys.executable, "-m", "dno.cli", "judge", str(run), "--iter", "1"], stderr=subprocess.PIPE, text=True
    )
    assert Silent.arrived.wait(120), "the judge never sent a request"
    t0 = time.perf_counter()
    proc.send_signal(sig)
    rc = proc.wait(timeout=60)
    seconds = time.perf_counter() - t0
    err = proc.stderr.read()
    assert rc == status, err
    assert seconds < 15, f"took {seconds:.1f}s to stop (the request's own timeout is 60 s)"
    assert "Traceback" not in err and f"dno: {word}" in err and "run the same command again to resume" in err
    assert not (run / "iter_1" / "judgments.jsonl").exists()
