"""Ctrl-C and SIGTERM stop `dno` promptly with one line and the interrupt's exit status, even while an API
judge's request hangs on a server that never answers (the request is abandoned after a short grace)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from http_servers import serve
from tiny_runs import prepared_with_samples


@pytest.mark.parametrize(
    "sig, status, word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]
)
def test_a_signal_during_a_hanging_judge_request_stops_promptly(sampled_run, tmp_path, sig, status, word):
    with serve(lambda request: None) as (url, server):  # reads each request, never answers
        judge = ["judge.type=api", f"judge.base_url={url}", "judge.model=m", "judge.api_key_env=", "judge.timeout_s=60"]
        run = prepared_with_samples(sampled_run, tmp_path / "run", *judge)
        (run / "iter_1" / "judgments.jsonl").unlink()
        proc = subprocess.Popen(
            [sys.executable, "-m", "dno.cli", "judge", str(run), "--iter", "1"],
            stderr=subprocess.PIPE,
            text=True,
            # as from a terminal: a shell that runs the tests in the background (`.ci/run &`) ignores SIGINT,
            # and Python then keeps ignoring it in the child instead of raising KeyboardInterrupt
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        assert server["arrived"].wait(120), "the judge never sent a request"
        t0 = time.perf_counter()
        proc.send_signal(sig)
        rc = proc.wait(timeout=60)
        seconds = time.perf_counter() - t0
    err = proc.stderr.read()
    assert rc == status, err
    assert seconds < 15, f"took {seconds:.1f}s to stop (the request's own timeout is 60 s)"
    assert "Traceback" not in err and f"dno: {word}" in err and "run the same command again to resume" in err
    assert not (run / "iter_1" / "judgments.jsonl").exists()
