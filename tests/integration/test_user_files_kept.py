"""The clean-up after a crash removes dno's own half-written temporaries and nothing of the user's."""

from __future__ import annotations

from dno.cli import main


def test_resume_cleanup_keeps_user_tmp_files_and_removes_dnos(tmp_path):
    run = tmp_path / "W"
    (run / "notes" / ".cache.tmp").mkdir(parents=True)
    (run / "notes" / ".draft.tmp").write_text("x")
    (run / "iter_1").mkdir()
    stale = run / "iter_1" / ".samples.jsonl.k2j3h4g5.dno.tmp"  # what a killed atomic write leaves
    stale.write_text("half")
    (run / "iter_1" / ".policy.tmp").mkdir()
    assert main(["run", "tiny", "--run-dir", str(run), "--stop-after", "1:sample"]) == 0
    assert (run / "notes" / ".cache.tmp").is_dir() and (run / "notes" / ".draft.tmp").read_text() == "x"
    assert not stale.exists() and not (run / "iter_1" / ".policy.tmp").exists()
    assert (run / "iter_1" / "samples.jsonl").is_file()
