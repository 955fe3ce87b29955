"""dno deletes nothing of the user's: a folder of theirs is refused as a run directory, and the clean-up
after a crash removes dno's own half-written temporaries only."""

from __future__ import annotations

from tiny_runs import FAST

from dno.cli import main


def _user_files(root):
    (root / "notes" / ".cache.tmp").mkdir(parents=True)
    (root / "notes" / ".draft.tmp").write_text("x")


def test_a_users_folder_is_refused_as_a_run_directory_and_left_alone(tmp_path, capsys):
    run = tmp_path / "W"
    _user_files(run)
    before = sorted(p.relative_to(run) for p in run.rglob("*"))
    assert main(["run", *FAST, "--run-dir", str(run)]) == 2
    assert "not empty and not a dno run directory" in capsys.readouterr().err
    assert sorted(p.relative_to(run) for p in run.rglob("*")) == before


def test_resume_cleanup_keeps_user_tmp_files_and_removes_dnos(tmp_path):
    run = tmp_path / "W"
    assert main(["prepare", *FAST, "--run-dir", str(run)]) == 0
    _user_files(run)
    stale = run / "iter_1" / ".samples.jsonl.k2j3h4g5.dno.tmp"  # what a killed atomic write leaves
    stale.write_text("half")
    (run / "iter_1" / ".policy.tmp").mkdir()
    half_export = run / "exports" / ".iter_1.pairs_trl.a1b2c3d4.dno.tmp"  # a killed `dno export --format trl`
    half_export.mkdir(parents=True)
    (half_export / "dataset_info.json").write_text('{"half')
    assert main(["run", *FAST, "--run-dir", str(run), "--stop-after", "1:sample"]) == 0
    assert not half_export.exists()
    assert (run / "notes" / ".cache.tmp").is_dir() and (run / "notes" / ".draft.tmp").read_text() == "x"
    assert not stale.exists() and not (run / "iter_1" / ".policy.tmp").exists()
    assert (run / "iter_1" / "samples.jsonl").is_file()
