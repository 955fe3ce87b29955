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


def test_a_saved_benchmark_renders_its_tables_and_headline(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("record", ROOT / "benchmarks" / "record.py")
    record = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(record)
    monkeypatch.setattr(record, "RESULTS", tmp_path)
    monkeypatch.setattr(sys, "argv", ["benchmarks/toy.py", "--repeats", "2", "--save"])
    rec = record.Record("toy")
    rec.table("speed", ["variant", "s/pair"], [["dno", 0.85], ["trl", 2.89]], note="16 pairs")
    rec.headline_row("dno vs TRL", "**3.40x**", "≥ 1.3x", "yes")
    path = rec.finish(save=True, raw={"dno": [0.85]})
    saved = json.loads(path.read_text())
    assert path.name == "bench_toy.json" and saved["command"] == "benchmarks/toy.py --repeats 2"
    assert saved["machine"]["cores"] >= 1 and saved["machine"]["other_cores_busy"] >= 0

    tables = _script()
    monkeypatch.setattr(tables, "RESULTS", tmp_path)
    out = tables.bench_table(["toy", "speed"])
    assert out.startswith("_`benchmarks/toy.py --repeats 2`, ") and "16 pairs._" in out
    assert out.endswith("| variant | s/pair |\n|---|---|\n| dno | 0.85 |\n| trl | 2.89 |\n")
    summary = tables.bench_summary(["toy"])
    assert summary.splitlines()[-1].startswith(
        "| dno vs TRL | `benchmarks/toy.py --repeats 2` | **3.40x** | ≥ 1.3x | yes |"
    )
