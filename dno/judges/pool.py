"""Judge requests on daemon worker threads.

The first error stops new requests and is raised once the requests in flight have finished (their answers
are paid for and land in the cache). Ctrl-C or SIGTERM waits for those only `grace_s` seconds: the workers
are daemon threads, so, unlike ThreadPoolExecutor's, which the interpreter joins at exit, a request hanging
on a silent server cannot keep an interrupted process alive.
"""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Callable, Sequence


def run_jobs(
    jobs: Sequence[Callable[[], None]],
    workers: int,
    abort: threading.Event,
    *,
    grace_s: float,
    quiet: tuple[type[BaseException], ...] = (),
) -> None:
    """Run every job on up to `workers` threads; `abort` is set on the first error or interrupt, and the jobs
    see it. Errors of the `quiet` types (a job's reaction to `abort`) are not the cause and are not raised."""
    todo: queue.SimpleQueue = queue.SimpleQueue()
    for job in jobs:
        todo.put(job)
    cond = threading.Condition()
    state: dict = {"left": len(jobs), "running": 0, "error": None}

    def worker() -> None:
        while True:
            try:
                job = todo.get_nowait()
            except queue.Empty:
                return
            with cond:
                if abort.is_set():
                    state["left"] -= 1
                    cond.notify_all()
                    continue
                state["running"] += 1
            try:
                job()
            except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
                with cond:
                    if state["error"] is None and not isinstance(e, quiet):
                        state["error"] = e
                abort.set()
            finally:
                with cond:
                    state["running"] -= 1
                    state["left"] -= 1
                    cond.notify_all()

    for _ in range(min(max(1, workers), len(jobs))):
        threading.Thread(target=worker, daemon=True, name="judge").start()
    try:
        with cond:
            while state["left"]:
                cond.wait(0.5)
    except KeyboardInterrupt:
        abort.set()
        _grace(cond, state, grace_s)
        raise
    if state["error"] is not None:
        raise state["error"]


def _grace(cond: threading.Condition, state: dict, grace_s: float) -> None:
    """After an interrupt: give the requests in flight `grace_s` to finish (a second Ctrl-C stops at once)."""
    try:
        with cond:
            if state["running"]:
                print(
                    f"dno: interrupted; waiting up to {grace_s:.0f}s for {state['running']} judge request(s) in "
                    "flight, whose answers are paid for (Ctrl-C again to stop now)",
                    file=sys.stderr,
                    flush=True,
                )
                cond.wait_for(lambda: not state["running"], timeout=grace_s)
    except KeyboardInterrupt:
        pass
