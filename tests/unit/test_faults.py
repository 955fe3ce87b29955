"""Test-only fault injection (dno/faults.py): unset it costs nothing; set, it kills the process exactly at the
site it names (the stage entered + the point) and at the hit count given, nowhere else."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    from dno import faults
    print("spec", sorted(faults.SPEC.items()), flush=True)
    faults.enter("iter1.sample")
    faults.point("judged")
    print("reached iter1.sample.judged", flush=True)
    faults.enter("iter1.judge")
    faults.point("judged")
    print("reached iter1.judge.judged 1", flush=True)
    faults.point("batch")
    print("reached iter1.judge.batch", flush=True)
    faults.point("judged")
    print("reached iter1.judge.judged 2", flush=True)
    faults.point("judged")
    print("reached iter1.judge.judged 3", flush=True)
""")


def run_with(fault: str | None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("DNO_FAULT", None)
    if fault is not None:
        env["DNO_FAULT"] = fault
    return subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60)


def test_an_unset_fault_costs_nothing():
    from dno import faults

    assert not faults.ACTIVE and faults.SPEC == {}  # the test process runs without DNO_FAULT
    faults.point("anything")  # returns at once
    proc = run_with(None)
    assert proc.returncode == 0 and "reached iter1.judge.judged 3" in proc.stdout, proc.stderr


@pytest.mark.parametrize(
    "fault, last",
    [
        ("iter1.judge.judged:2", "reached iter1.judge.batch"),  # the 2nd hit of that site, not of `judged` anywhere
        ("iter1.judge.judged", "reached iter1.sample.judged"),  # N defaults to 1
        ("iter1.judge.batch", "reached iter1.judge.judged 1"),
        ("iter9.eval.batch, iter1.judge.judged:3", "reached iter1.judge.judged 2"),  # several, comma-separated
    ],
)
def test_a_set_fault_kills_exactly_at_the_site_it_names(fault, last):
    proc = run_with(fault)
    assert proc.returncode == -signal.SIGKILL, f"{fault}: not killed (rc {proc.returncode}) {proc.stderr[-500:]}"
    lines = proc.stdout.strip().splitlines()
    assert lines[-1] == last, f"{fault}: killed after {lines[-1]!r}"
    sites = dict(item.strip().partition(":")[::2] for item in fault.split(","))
    assert lines[0] == f"spec {sorted((k, int(v or 1)) for k, v in sites.items())}"


def test_a_fault_at_a_site_never_reached_kills_nothing():
    proc = run_with("iter1.sample.judged:2")  # that site is reached once
    assert proc.returncode == 0 and proc.stdout.strip().endswith("reached iter1.judge.judged 3")
