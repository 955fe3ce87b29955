"""A shard computed from inputs that changed since (samples regenerated or edited) is stale: it is redone,
never merged into the stage's output."""

from __future__ import annotations

import json

from dno import io
from dno.cli import main


def test_stale_judge_shards_are_redone_not_merged(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["prepare", "tiny", "--run-dir", str(run)]) == 0
    assert main(["sample", str(run), "--iter", "1"]) == 0
    assert main(["judge", str(run), "--iter", "1", "--shard", "0/2"]) == 0

    samples = run / "iter_1" / "samples.jsonl"  # the samples change after shard 0 was judged
    rows = io.read_jsonl(samples)
    for r in rows:
        r["responses"][0] = "one two three four five"
    samples.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))

    assert main(["judge", str(run), "--iter", "1", "--shard", "1/2"]) == 0
    assert not (run / "iter_1" / "judgments.jsonl").exists()  # shard 0 is stale: no merge
    capsys.readouterr()
    assert main(["merge", str(run), "--iter", "1", "--stage", "judge", "--shards", "2"]) == 2
    assert "stale" in capsys.readouterr().err

    assert main(["judge", str(run), "--iter", "1", "--shard", "0/2"]) == 0  # redone, not skipped
    assert "done, skipping" not in capsys.readouterr().err
    merged = (run / "iter_1" / "judgments.jsonl").read_bytes()
    assert main(["judge", str(run), "--iter", "1", "--force"]) == 0  # unsharded, on the edited samples
    assert (run / "iter_1" / "judgments.jsonl").read_bytes() == merged


def test_current_shards_are_skipped(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["prepare", "tiny", "--run-dir", str(run)]) == 0
    assert main(["sample", str(run), "--iter", "1", "--shard", "0/2"]) == 0
    capsys.readouterr()
    assert main(["sample", str(run), "--iter", "1", "--shard", "0/2"]) == 0
    assert "done, skipping" in capsys.readouterr().err
