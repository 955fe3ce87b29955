"""Run-directory locks: one writer per run, or many stage commands that each own their stage.

`dno run` and `dno prepare` hold RUN/.dno.lock exclusively. A stage command (`dno sample RUN --iter 1
--shard 0/4`, ...) holds it shared, so the shards of one stage and the processes of one `accelerate
launch` can run side by side, and also holds its own stage (or shard) lock exclusively, so the same
work is never done twice at once. The locks are `flock`s: the kernel drops them when the process ends,
however it ends, so a lock is never stale; the lock files stay (deleting a lock file races with its
next user) and hold the pid of the last exclusive holder, for the error message.

A `dno run` that runs its stages in child processes (the vLLM backend) passes its lock down through
DNO_LOCK_HELD: a child on the same run directory takes no lock of its own.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from dno.errors import DnoError

LOCK_NAME = ".dno.lock"
HELD_ENV = "DNO_LOCK_HELD"


def _acquire(path: Path, shared: bool, what: str, run_root: Path) -> int:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise DnoError(f"{run_root}: cannot use this run directory ({e.strerror})") from None
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        raise DnoError(f"another dno process{holder} is using {what}; wait for it to finish or stop it") from None
    if not shared:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _holder(fd: int) -> str:
    """' (pid N)' for an exclusive holder that is still alive, '' when stage commands hold it shared."""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return " (stage commands)"
    except BlockingIOError:
        pass
    for _ in range(100):  # the holder writes its pid just after it takes the lock: allow it that moment
        with contextlib.suppress(OSError, ValueError):
            pid = int(os.pread(fd, 32, 0).decode().strip())
            os.kill(pid, 0)
            return f" (pid {pid})"
        time.sleep(0.01)
    return ""


def _inherited(root: Path) -> bool:
    held = os.environ.get(HELD_ENV)
    return bool(held) and Path(held).resolve() == root.resolve()


@contextlib.contextmanager
def hold(root: str | Path, run: str = "exclusive", stage: str | None = None) -> Iterator[None]:
    """Lock run directory `root` for this block: the run lock `exclusive`, `shared` or not at all (None),
    and, when given, the lock of `stage` (e.g. 'iter1.sample' or 'iter1.sample.0-of-4') exclusively."""
    root = Path(root)
    if _inherited(root):
        yield
        return
    fds: list[int] = []
    previous = os.environ.get(HELD_ENV)
    try:
        if run is not None:
            fds.append(_acquire(root / LOCK_NAME, run == "shared", str(root), root))
        if stage is not None:
            fds.append(_acquire(root / ".locks" / f"{stage}.lock", False, f"{root} ({stage})", root))
        if run == "exclusive":  # children of `dno run` work under this lock
            os.environ[HELD_ENV] = str(root.resolve())
        yield
    finally:
        if previous is None:
            os.environ.pop(HELD_ENV, None)
        else:
            os.environ[HELD_ENV] = previous
        for fd in reversed(fds):
            os.close(fd)
