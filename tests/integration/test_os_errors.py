"""An OS error at a write (disk full, permission) stops `dno run` with one line naming the path, and the run
resumes, once the cause is fixed, to the same artifacts as a run that never failed."""

from __future__ import annotations

import os

import pytest
from run_artifacts import artifacts, differences
from tiny_runs import FAST

from dno.cli import main


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("reference") / "run"
    assert main(["run", *FAST, "--run-dir", str(root)]) == 0
    return artifacts(root)


@pytest.mark.parametrize(
    "call, error, after",
    [
        ("fsync", OSError(28, "No space left on device"), 6),
        ("replace", PermissionError(13, "Permission denied"), 9),
    ],
)
def test_an_os_error_at_a_write_is_one_line_and_the_run_resumes(
    reference, tmp_path, capsys, monkeypatch, call, error, after
):
    real, calls = getattr(os, call), []

    def failing(*args, **kwargs):
        calls.append(args)
        if len(calls) == after:
            raise error
        return real(*args, **kwargs)

    root = tmp_path / "run"
    monkeypatch.setattr(os, call, failing)
    capsys.readouterr()
    assert main(["run", *FAST, "--run-dir", str(root)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith(f"dno: error: {root}") and error.strerror in lines[-1], lines[-1]
    assert "Traceback" not in "\n".join(lines)
    monkeypatch.setattr(os, call, real)
    assert main(["run", *FAST, "--run-dir", str(root)]) == 0
    assert differences(artifacts(root), reference) == []
