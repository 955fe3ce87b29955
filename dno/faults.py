"""Test-only fault injection: SIGKILL this process at a named point, to prove that resuming loses nothing.

    DNO_FAULT=iter1.train.step:3 dno run tiny ...     # killed right after the 3rd training step of iteration 1

A fault is `SITE:N` (die at the N-th time SITE is reached; N defaults to 1). A site's name is the stage
being run (`prepare`, `baseline`, `iter<t>.<stage>`, set by dno/loop.py through `enter`) and the point
inside it, one call each:

    <stage>.batch                  after each generate() batch (dno/sampling.py: sample, baseline, eval)
    <stage>.step                   after each optimizer step (dno/training.py)
    <stage>.judged                 after each prompt is judged (dno/judges/base.py: score_all)
    <stage>.writing.<file name>    half of an atomic write's bytes are in its temporary file (dno/io.py)
    <stage>.wrote.<file name>      just after an atomic write was renamed into place (dno/io.py)
    <stage>.saved                  the trained policy is in .policy.tmp/, not yet renamed (dno/stages.py)

Several faults may be given, separated by commas. Unset (always, outside tests), `point` returns at once.
"""

from __future__ import annotations

import os
import signal

SPEC: dict[str, int] = {}
for _item in filter(None, (s.strip() for s in os.environ.get("DNO_FAULT", "").split(","))):
    _site, _, _n = _item.partition(":")
    SPEC[_site] = int(_n or 1)
ACTIVE = bool(SPEC)

_where = ""
_hits: dict[str, int] = {}


def enter(stage: str) -> None:
    """Name the stage now running (the prefix of every site)."""
    global _where
    _where = stage


def point(name: str) -> None:
    """A kill point: SIGKILL the process if DNO_FAULT names this site and its hit count is reached."""
    if not ACTIVE:
        return
    site = f"{_where}.{name}" if _where else name
    _hits[site] = _hits.get(site, 0) + 1
    if SPEC.get(site) == _hits[site]:
        os.kill(os.getpid(), signal.SIGKILL)
