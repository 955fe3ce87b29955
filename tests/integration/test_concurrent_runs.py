"""Two `dno run` started together on one run directory: one is refused at once with a line naming the
other's pid, the other finishes, and its artifacts are those of an undisturbed run (10 trials)."""

from __future__ import annotations

import re
import subprocess
import sys

from run_artifacts import artifacts, differences
from tiny_runs import FAST

TRIALS = 10


def dno_run(root) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "dno.cli", "run", *FAST, "--run-dir", str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_runs_on_one_directory_one_refuses_the_other_finishes(tmp_path):
    reference = tmp_path / "reference"
    proc = dno_run(reference)
    assert proc.wait(timeout=300) == 0, proc.stderr.read()
    expected = artifacts(reference)
    for trial in range(TRIALS):
        root = tmp_path / f"trial{trial}"
        a, b = dno_run(root), dno_run(root)
        results = [(p.wait(timeout=300), p.stderr.read(), p.pid) for p in (a, b)]
        codes = sorted(rc for rc, _, _ in results)
        assert codes == [0, 2], f"trial {trial}: exit codes {codes}\n" + "\n".join(e for _, e, _ in results)
        (_, refused, _), (_, _, winner) = sorted(results, key=lambda r: -r[0])
        lines = refused.strip().splitlines()
        assert len(lines) == 1 and re.fullmatch(
            rf"dno: error: another dno process \(pid {winner}\) is using {root}; .*", lines[0]
        ), refused
        assert differences(artifacts(root), expected) == [], f"trial {trial}"
