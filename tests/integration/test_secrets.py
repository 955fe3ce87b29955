"""Secrets: with an API key set, the key appears in no file under the run directory and in no output or log,
even when the server echoes it back in its error bodies (rejected key, server errors recorded as judge
failures) and when a run is killed mid-judging and resumed against a real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from dno.cli import main

ROOT = Path(__file__).resolve().parents[2]
KEY_ENV = "DNO_TEST_SECRET_KEY"
KEY = "sk-test-9f8e7d6c5b4a-DO-NOT-LEAK"
SMALL = [
    "tiny",
    "threads=2",
    "iterations=1",
    "data.val_prompts=0",
    "data.prompts_per_iteration=4",
    "data.test_prompts=2",
    "sample.k=2",
]


class EchoServer:
    """An OpenAI-compatible endpoint that answers every request with `status` and echoes the Authorization
    header (the key) in the body and a header: the worst case for an error message that quotes the server."""

    def __init__(self, status: int):
        echo_status = status

        class Handler(BaseHTTPRequestHandler):
            def _reply(self):
                body = json.dumps(
                    {"error": {"message": f"rejected {self.headers.get('Authorization')}", "type": "echo"}}
                ).encode()
                self.send_response(echo_status)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Echo", str(self.headers.get("Authorization")))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self._reply()

            do_GET = _reply

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def judge_args(base_url: str, prefix: str = "judge", **extra) -> list[str]:
    over = {
        "type": "api",
        "base_url": base_url,
        "model": "m",
        "api_key_env": KEY_ENV,
        "max_retries": 0,
        "backoff_s": 0,
        "timeout_s": 30,
        **extra,
    }
    return [f"{prefix}.{k}={v}" for k, v in over.items()]


def assert_no_key(root: Path, *outputs: str) -> None:
    files = [p for p in root.rglob("*") if p.is_file()]
    assert files
    for p in files:
        assert KEY.encode() not in p.read_bytes(), p
    for text in outputs:
        assert KEY not in text


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)


@pytest.mark.parametrize("status", [401, 500])
def test_key_echoed_by_the_server_is_written_nowhere(status, tmp_path, capsys):
    server = EchoServer(status)
    try:
        rc = main(["run", *SMALL, *judge_args(server.base_url), "--run-dir", str(tmp_path)])
    finally:
        server.close()
    out = capsys.readouterr()
    if status == 401:  # a rejected key stops the run with one line naming the field and variable, not the key
        assert rc == 2 and "judge.api_key_env" in out.err and KEY_ENV in out.err
        assert out.err.strip().splitlines()[-1].startswith("dno: error:")
    else:  # server errors after the retries are recorded failures (NaN), with the scrubbed reason kept; with
        # every judgment failed, iteration 1 has nothing to train on and the run stops saying so
        assert rc == 2 and "every judgment failed" in out.err.strip().splitlines()[-1]
        rows = [json.loads(line) for line in (tmp_path / "iter_1" / "judgments.jsonl").read_text().splitlines()]
        assert rows and all(r["info"].get("error") for r in rows)
        assert "***" in json.dumps(rows), "the echoed key is replaced, the rest of the reason kept"
    assert_no_key(tmp_path, out.out, out.err)


def test_killed_mid_judging_and_resumed_against_a_real_server_writes_no_key(llama_server, tmp_path):
    run_dir = tmp_path / "run"
    args = [*SMALL, *judge_args(llama_server.base_url, mode="pairwise", concurrency=2, max_retries=2)]
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false", DNO_FAULT="iter1.judge.wrote.judge_usage.json")
    # (stop after judging: whether SmolLM2's verdicts on tiny-random's text make a pair is beside the point here)
    cmd = [sys.executable, "-m", "dno.cli", "run", *args, "--run-dir", str(run_dir), "--stop-after", "1:judge"]
    killed = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert killed.returncode == -9, killed.stderr[-2000:]
    env.pop("DNO_FAULT")
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (run_dir / "judge_cache").is_dir() and (run_dir / "iter_1" / "judgments.jsonl").is_file()
    assert KEY_ENV in (run_dir / "config.yaml").read_text()  # the variable's name is recorded, its value never
    assert_no_key(run_dir, killed.stdout, killed.stderr, done.stdout, done.stderr)
