"""The documents' generated tables match the run artifacts they come from (scripts/doc_tables.py)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("doc_tables", ROOT / "scripts" / "doc_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_documents_are_up_to_date_with_their_results():
    r = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "doc_tables.py"), "render", "--check"], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_changed_result_changes_the_rendered_table(tmp_path, monkeypatch):
    tables = _script()
    monkeypatch.setattr(tables, "RESULTS", tmp_path)
    res = json.loads((ROOT / "docs" / "results" / "default.json").read_text())
    (tmp_path / "default.json").write_text(json.dumps(res))
    before = tables.run_table(["default"])
    res["iterations"][-1]["win_rate"] = 0.5
    (tmp_path / "default.json").write_text(json.dumps(res))
    after = tables.run_table(["default"])
    assert before != after and "| 50.0 |" in after.splitlines()[-1]
