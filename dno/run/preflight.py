"""What a run needs that can be checked in seconds, checked before the run directory is touched: the
models resolve, the prompts load and split, each judge's own `preflight` passes (key set, server reachable,
function importable, oracle fields present). A bad input is then one DnoError and the run directory stays
as it was."""

from __future__ import annotations

from dno import models
from dno.judges import JUDGES
from dno.judges.backends import check_api
from dno.tasks import make_splits


def preflight(cfg) -> None:
    models.check(cfg.policy.model, "policy.model")
    if cfg.teacher.model.startswith("api:"):
        check_api("teacher", cfg.teacher.base_url, cfg.teacher.api_key_env, 10.0)
    elif cfg.teacher.model:
        models.check(cfg.teacher.model, "teacher.model")
    splits = make_splits(cfg.data, cfg.iterations)
    records = [r for recs in splits.values() for r in recs]
    for prefix, j in (("judge", cfg.judge), ("eval.judge", cfg.eval.judge)):
        JUDGES.get(j.type, f"{prefix}.type").preflight(j, prefix, records)
