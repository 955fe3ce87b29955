"""Where a benchmark's figures go: printed, and kept as `docs/results/bench_<name>.json` when `--save` is given.

BENCHMARKS.md's tables are rendered from those files by `scripts/doc_tables.py` (`<!-- table: bench NAME TABLE -->`
for one table, `<!-- table: bench_summary NAME ... -->` for the headline rows), so no figure there is typed by hand.
Each file records when, on what machine, under what load and with which command its figures were measured.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "results"
sys.path.insert(0, str(ROOT))

from dno.analysis.tables import table  # noqa: E402


def _cpu_name() -> str:
    info = Path("/proc/cpuinfo")
    lines = info.read_text().splitlines() if info.is_file() else []
    return next((x.split(":", 1)[1].strip() for x in lines if x.startswith("model name")), platform.processor())


def _cpu_seconds() -> tuple[float, float | None, float]:
    """(wall clock, CPU seconds the whole machine was busy, CPU seconds of this process and its finished children)."""
    t = os.times()
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:] if Path("/proc/stat").is_file() else []
    busy = (
        sum(int(x) for i, x in enumerate(fields[:8]) if i not in (3, 4)) / os.sysconf("SC_CLK_TCK") if fields else None
    )
    return time.monotonic(), busy, t.user + t.system + t.children_user + t.children_system


def machine() -> dict:
    """The facts a reader needs to weigh a figure: CPU, cores, load when the benchmark started, library versions."""
    import torch
    import transformers

    return {
        "cpu": _cpu_name(),
        "cores": len(os.sched_getaffinity(0)),
        "load_1min_at_start": os.getloadavg()[0],
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }


def commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        return out.stdout.strip() or None
    except OSError:
        return None


class Record:
    """Collects a benchmark's tables and headline figures; `finish` prints them and, if asked, saves them."""

    def __init__(self, name: str, *, command: str = "", measured: dt.datetime | None = None) -> None:
        """`measured`: figures read from an earlier run's artifacts at that time, not measured now; the load
        and CPU use of this machine now then say nothing about them and are not recorded."""
        self.name = name
        self.started = measured or dt.datetime.now(dt.timezone.utc)
        self.machine = machine()  # the load is read now, before the benchmark adds its own
        self.cpu_at_start = None if measured else _cpu_seconds()
        if measured:
            self.machine["load_1min_at_start"] = None
        self.command = command or "benchmarks/" + Path(sys.argv[0]).name + "".join(
            f" {a}" for a in sys.argv[1:] if a != "--save"
        )
        self.tables: dict[str, dict] = {}
        self.headline: list[dict] = []

    def table(self, key: str, head: list[str], rows: list[list[str]], note: str = "") -> None:
        self.tables[key] = {"head": head, "rows": [[str(c) for c in r] for r in rows], "note": note}

    def headline_row(self, what: str, figure: str, target: str = "–", met: str = "–") -> None:
        """One row of BENCHMARKS.md's summary table."""
        self.headline.append({"what": what, "figure": figure, "target": target, "met": met})

    def finish(self, save: bool, raw=None) -> Path | None:
        for key, t in self.tables.items():
            print(f"\n{key}{': ' + t['note'] if t['note'] else ''}\n" + table(t["head"], t["rows"]), end="")
        # what shared the machine while this ran: a figure measured beside other work is suspect
        if self.cpu_at_start and self.cpu_at_start[1] is not None:
            (w0, busy0, own0), (w1, busy1, own1) = self.cpu_at_start, _cpu_seconds()
            self.machine["other_cores_busy"] = round(max(0.0, (busy1 - busy0) - (own1 - own0)) / max(w1 - w0, 1e-9), 2)
            print(f"\nother processes kept {self.machine['other_cores_busy']:.2f} cores busy on average while this ran")
        if not save:
            return None
        out = {
            "benchmark": self.name,
            "command": self.command,
            "measured": self.started.strftime("%Y-%m-%d %H:%M UTC"),
            "commit": commit(),
            "machine": self.machine,
            "tables": self.tables,
            "headline": self.headline,
            "raw": raw,
        }
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"bench_{self.name}.json"
        path.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
        print(f"\nsaved: {path} (then render BENCHMARKS.md with scripts/doc_tables.py render)")
        return path
