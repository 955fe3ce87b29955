"""The run-directory lock: one `dno run` per directory; stage commands share the run but not their stage;
a lock dies with its process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from dno.errors import DnoError
from dno.run.lock import LOCK_NAME, hold

HOLDER = """
import sys, time
from dno.run.lock import LOCK_NAME, hold
run, stage = sys.argv[1], sys.argv[3] or None
with hold(run, sys.argv[2], stage):
    print("held", flush=True)
    time.sleep(600)
"""


@pytest.fixture
def holder(tmp_path):
    procs = []

    def start(run, mode="exclusive", stage=""):
        p = subprocess.Popen([sys.executable, "-c", HOLDER, str(run), mode, stage], stdout=subprocess.PIPE, text=True)
        assert p.stdout.readline().strip() == "held"
        procs.append(p)
        return p

    yield start
    for p in procs:
        p.kill()
        p.wait()


def test_a_second_exclusive_holder_is_refused_with_the_holders_pid(tmp_path, holder):
    p = holder(tmp_path)
    with pytest.raises(DnoError, match=rf"another dno process \(pid {p.pid}\) is using {tmp_path}"):
        with hold(tmp_path):
            pass
    with pytest.raises(DnoError, match="another dno process"):
        with hold(tmp_path, "shared", "iter1.sample"):  # a stage command cannot join a running `dno run`
            pass


def test_stage_commands_share_the_run_but_not_their_stage(tmp_path, holder):
    holder(tmp_path, "shared", "iter1.sample.0-of-2")
    with hold(tmp_path, "shared", "iter1.sample.1-of-2"):  # another shard runs beside it
        pass
    with pytest.raises(DnoError, match=r"iter1.sample.0-of-2"):
        with hold(tmp_path, "shared", "iter1.sample.0-of-2"):
            pass
    with pytest.raises(DnoError, match=r"\(stage commands\)"):
        with hold(tmp_path):
            pass


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_the_lock_dies_with_its_process(tmp_path, holder, sig):
    p = holder(tmp_path)
    os.kill(p.pid, sig)
    p.wait()
    with hold(tmp_path):
        assert (tmp_path / ".dno.lock").read_text().strip() == str(os.getpid())


def test_children_of_a_run_inherit_its_lock_and_it_is_released_after(tmp_path):
    with hold(tmp_path):
        code = f"from dno.run.lock import hold\nwith hold({str(tmp_path)!r}, 'shared', 'iter1.sample'): print('ok')"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert out.stdout.strip() == "ok", out.stderr
    t0 = time.time()
    with hold(tmp_path):  # released at the end of the block
        pass
    assert time.time() - t0 < 1


def test_a_refusal_names_a_holder_that_has_not_written_its_pid_yet(tmp_path):
    """Two `dno run` started together: the loser may look between the winner's flock and its pid write."""
    import fcntl
    import threading

    fd = os.open(tmp_path / LOCK_NAME, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # taken; the pid follows 0.2 s later
        timer = threading.Timer(0.2, lambda: os.pwrite(fd, f"{os.getpid()}\n".encode(), 0))
        timer.start()
        with pytest.raises(DnoError, match=rf"another dno process \(pid {os.getpid()}\) is using"):
            with hold(tmp_path):
                pass
        timer.join()
    finally:
        os.close(fd)
