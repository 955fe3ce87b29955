"""`dno report RUN [RUN ...]`: report.md and PNG plots of one or several runs, side by side.

It answers "did it get better, by how much, and is it just longer?" without being asked:
win rate and length-controlled win rate per iteration with 95% intervals, mean answer length,
a per-task breakdown, pairs per iteration by type, the margin histogram, training curves,
judge failures and cost, warnings for length growth and per-task regressions, and the
performance gap recovered (PGR) when a weak-judge run and an oracle-judge run are compared.

Everything is read from the run directories (see dno.run.rundir); nothing is recomputed but statistics.
"""

from __future__ import annotations

from dno.analysis.report.data import RunData, load_run, pgr, warnings
from dno.analysis.report.render import render, write_report

__all__ = ["RunData", "load_run", "pgr", "render", "warnings", "write_report"]
