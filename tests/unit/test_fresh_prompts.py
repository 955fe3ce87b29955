"""scripts/fresh_prompts.py: more held-out prompts for a run, none of which it trained, validated or tested on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from dno.cli import main

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "fresh_prompts.py"


def _texts(path: Path) -> list[str]:
    return [json.dumps(json.loads(line)["messages"]) for line in path.read_text().splitlines() if line.strip()]


def test_fresh_prompts_follow_the_runs_pool_and_repeat_none_of_its_prompts(tmp_path):
    run = tmp_path / "run"
    assert main(["prepare", "default", "data.test_prompts=16", "--run-dir", str(run)]) == 0
    out = tmp_path / "fresh.jsonl"
    r = subprocess.run([sys.executable, str(SCRIPT), str(run), "40", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    fresh = [json.loads(line) for line in out.read_text().splitlines()]
    assert [p["id"] for p in fresh] == [f"fresh-{i:05d}" for i in range(40)]
    assert {p["task"] for p in fresh} == {"arithmetic", "instructions"} and all(
        "topic" in p or "answer" in p for p in fresh
    )
    own = {t for p in [*run.glob("*_prompts.jsonl"), *run.glob("iter_*/prompts.jsonl")] for t in _texts(p)}
    assert len(own) > 300 and not own & set(_texts(out)) and len(set(_texts(out))) == 40
    # the same data settings give the same fresh prompts: runs of different methods are compared on one set
    again = tmp_path / "again.jsonl"
    subprocess.run([sys.executable, str(SCRIPT), str(run), "40", str(again)], check=True, capture_output=True)
    assert again.read_bytes() == out.read_bytes()


def test_fresh_ood_prompts_follow_the_runs_own_ood_prompts(tmp_path):
    run = tmp_path / "run"
    assert main(["prepare", "default", "data.ood_prompts=16", "--run-dir", str(run)]) == 0
    out = tmp_path / "ood.jsonl"
    r = subprocess.run([sys.executable, str(SCRIPT), str(run), "30", str(out), "--ood"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    fresh = [json.loads(line) for line in out.read_text().splitlines()]
    assert [p["id"] for p in fresh] == [f"fresh-ood-{i:05d}" for i in range(30)]
    own_ood = set(_texts(run / "ood_prompts.jsonl"))
    assert len(own_ood) == 16 and not own_ood & set(_texts(out)) and len(set(_texts(out))) == 30
    # the same generator as the run's own: its OOD request templates, never a training one
    assert all(
        p["messages"][0]["content"].startswith(("Compose", "Tell", "Share", "Jot")) for p in fresh if "topic" in p
    )
