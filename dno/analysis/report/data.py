"""Reading run directories for the report: per-iteration metrics, pairs, training logs, judge statistics;
and what the report derives from them (warnings, performance gap recovered)."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from dno import io
from dno.analysis.tables import pct
from dno.errors import DnoError
from dno.preferences.pairing import unfinished_share

PLOTS = ("winrate.png", "length.png", "pairs.png", "margins.png", "training.png")
PAIR_TYPES = ("teacher>student", "student>teacher", "student>student", "data>data")
"""Pair types: which side was sampled by the policy (student), answered by a teacher or taken from the data
(teacher.source: data counts as teacher), or came from a warm-start dataset (data>data, pair.warm_start)."""
LENGTH_WARN_RATIO = 1.5
"""Warn when an iteration's answers are this many times as long as iteration 0's."""
LENGTH_GAIN_WARN = 0.05
"""Warn when the raw win rate exceeds the length-controlled one by this much."""
OPENING_WARN = (0.25, 3.0)
"""Warn when one first word opens at least this share of an iteration's answers and this many times the baseline's
share: the same opening whatever the prompt is often a judge's quirk learned."""
OOD_DIVERGENCE_WARN = 0.02
"""Warn when, from one iteration to the next, the test win rate rises and the out-of-distribution one falls
by at least this much."""


@dataclass
class RunData:
    root: Path
    label: str
    cfg: dict
    eval_key: str | None
    evals: dict[int, dict] = field(default_factory=dict)
    """Iteration → metrics (dno.evaluation.summarize keys + mean_score, baseline_mean_score)."""
    ood: dict[int, dict] = field(default_factory=dict)
    """Iteration → metrics on the out-of-distribution prompts (the run's own eval only)."""
    pairs: dict[int, list[dict]] = field(default_factory=dict)
    train_logs: dict[int, list[dict]] = field(default_factory=dict)
    judge_stats: dict[int, dict] = field(default_factory=dict)
    timings: dict[int, dict] = field(default_factory=dict)
    judge_check: dict | None = None
    """judge_check.json: the training judge's agreement with the oracle before iteration 1 (dno/stages/judge.py)."""
    unfinished: dict[int, float] = field(default_factory=dict)
    """Iteration → share of the policy's samples cut off at sample.max_new_tokens."""
    tokens: dict[int, dict] = field(default_factory=dict)
    """Iteration → stage → tokens the stage generated (sample, eval, val, ood) or trained on (train, all epochs)."""

    @property
    def train_judge(self) -> str:
        return str((self.cfg.get("judge") or {}).get("type", "?"))

    @property
    def eval_judge(self) -> str:
        if self.eval_key:
            meta = self.root / "evals" / self.eval_key / "eval.json"
            if meta.is_file():
                return str(io.read_json(meta).get("judge", "?"))
        return str(((self.cfg.get("eval") or {}).get("judge") or {}).get("type", "?"))

    @property
    def baseline_name(self) -> str:
        if self.eval_key:
            meta = self.root / "evals" / self.eval_key / "eval.json"
            if meta.is_file():
                return str(io.read_json(meta).get("baseline_description", self.eval_key))
        return "the iteration-0 policy"

    def iterations(self) -> list[int]:
        return sorted(set(self.evals) | set(self.pairs) | set(self.train_logs))


# ---- loading ----------------------------------------------------------------------------------------


def _iter_numbers(root: Path, cfg: dict) -> list[int]:
    found = {int(p.name.split("_", 1)[1]) for p in root.glob("iter_*") if p.name.split("_", 1)[1].isdigit()}
    return sorted(found | set(range(1, int(cfg.get("iterations", 0)) + 1)))


def _nan_count(scores) -> int:
    return sum(1 for s in scores if s is None or (isinstance(s, float) and math.isnan(s)))


USAGE_KEYS = ("prompt_tokens", "completion_tokens", "cost_usd")


def _usage(info, acc: Counter, depth: int = 0) -> None:
    """Add whatever token counts and cost a judge recorded anywhere in a judgment's `info` (LLM/API judges)."""
    if depth > 4:
        return
    if isinstance(info, dict):
        for key, v in info.items():
            if key in USAGE_KEYS and isinstance(v, (int, float)) and not isinstance(v, bool):
                acc[key] += v
            elif isinstance(v, (dict, list)):
                _usage(v, acc, depth + 1)
    elif isinstance(info, list):
        for v in info:
            _usage(v, acc, depth + 1)


def _judgment_stats(path: Path) -> dict:
    acc: Counter = Counter()
    rows = io.read_jsonl(path)
    for r in rows:
        scores = r.get("scores") or []
        acc["prompts"] += 1
        acc["candidates"] += len(scores)
        acc["failed"] += _nan_count(scores)
        noise = (r.get("info") or {}).get("noise") if isinstance(r.get("info"), dict) else None
        if isinstance(noise, dict) and "wrong" in noise:  # judge.noise: how often it reversed the clean judge
            acc["noise_wrong"] += noise["wrong"]
            acc["noise_pairs"] += noise["pairs"]
        _usage(r.get("info") or {}, acc)
    usage_path = path.parent / "judge_usage.json"  # LLM/API judges: the whole stage's requests, retries included
    if usage_path.is_file():
        u = io.read_json(usage_path)
        for key in USAGE_KEYS:
            if isinstance(u.get(key), (int, float)) and not isinstance(u.get(key), bool):
                acc[key] = u[key]
    return dict(acc)


def _stage_tokens(d: Path) -> dict[str, int]:
    """Tokens per stage of one iteration, from what the stages recorded (runs made before they did: none)."""
    out = {}
    if (d / "samples.jsonl").is_file():
        rows = io.read_jsonl(d / "samples.jsonl")
        if rows and "tokens" in rows[0]:
            out["sample"] = sum(sum(r["tokens"]) for r in rows)
    for stage in ("eval", "val", "ood"):
        path = d / stage / "responses.jsonl"
        rows = io.read_jsonl(path) if path.is_file() else []
        if rows and "tokens" in rows[0]:
            out[stage] = sum(r["tokens"] for r in rows)
    summary = d / "train_summary.json"
    if summary.is_file():
        s = io.read_json(summary)
        if "tokens_per_epoch" in s:
            out["train"] = s["tokens_per_epoch"] * s.get("epochs", 1)
    return out


def load_run(root: str | Path, eval_key: str | None = None, label: str | None = None) -> RunData:
    root = Path(root)
    cfg_path = root / "config.yaml"
    if not cfg_path.is_file():
        raise DnoError(f"{root}: not a dno run directory (no config.yaml)")
    try:
        cfg = yaml.safe_load(cfg_path.read_text()) or {}
    except yaml.YAMLError:
        raise DnoError(f"{cfg_path}: corrupt config") from None
    if eval_key is not None and not (root / "evals" / eval_key).is_dir():
        known = sorted(p.name for p in (root / "evals").glob("*") if p.is_dir()) if (root / "evals").is_dir() else []
        raise DnoError(
            f"{root / 'evals' / eval_key}: no such evaluation (made by `dno eval`; found: {', '.join(known) or 'none'})"
        )
    run = RunData(root, label or root.name, cfg, eval_key)
    if (root / "judge_check.json").is_file():
        run.judge_check = io.read_json(root / "judge_check.json")
    its = set(_iter_numbers(root, cfg))
    if eval_key is not None:  # `dno eval` may include iteration 0 (against a teacher or another run)
        its |= {int(p.name[5:]) for p in (root / "evals" / eval_key).glob("iter_*") if p.name[5:].isdigit()}
    for t in sorted(its):
        d = root / f"iter_{t}"
        if eval_key is None:
            mpath = d / "eval" / "metrics.json"
            m = io.read_json(mpath) if mpath.is_file() else None
        else:
            mpath = root / "evals" / eval_key / f"iter_{t}" / "metrics.json"
            m = io.read_json(mpath) if mpath.is_file() else None
        if m is not None:
            run.evals[t] = m
        if eval_key is None and (d / "ood" / "metrics.json").is_file():
            run.ood[t] = io.read_json(d / "ood" / "metrics.json")
        if (d / "pairs.jsonl").is_file():
            run.pairs[t] = io.read_jsonl(d / "pairs.jsonl")
        if (d / "train_log.jsonl").is_file():
            run.train_logs[t] = io.read_jsonl(d / "train_log.jsonl")
        stats = {}
        if (d / "judgments.jsonl").is_file():
            stats["train"] = _judgment_stats(d / "judgments.jsonl")
        ej = (
            (d / "eval" / "judgments.jsonl")
            if eval_key is None
            else (root / "evals" / eval_key / f"iter_{t}" / "judgments.jsonl")
        )
        if ej.is_file():
            stats["eval"] = _judgment_stats(ej)
        if stats:
            run.judge_stats[t] = stats
        if (d / "timings.json").is_file():
            run.timings[t] = io.read_json(d / "timings.json")
        run.tokens[t] = _stage_tokens(d)
        share = unfinished_share(io.read_jsonl(d / "samples.jsonl")) if (d / "samples.jsonl").is_file() else None
        if share is not None:
            run.unfinished[t] = share
    if not run.iterations():
        raise DnoError(f"{root}: no finished stage to report on yet (no iter_<t>/pairs.jsonl or eval/metrics.json)")
    return run


# ---- formatting helpers -----------------------------------------------------------------------------


def _ci(m: dict, lo: str, hi: str) -> str:
    return f"[{pct(m.get(lo))}, {pct(m.get(hi))}]"


def _labels(roots: list[Path]) -> list[str]:
    names = [r.name for r in roots]
    return [f"{r.parent.name}/{r.name}" if names.count(r.name) > 1 else r.name for r in roots]


# ---- analysis ---------------------------------------------------------------------------------------


def warnings(run: RunData) -> list[str]:
    """What a reader must not miss: length growth, length-driven gains, regressions, judge failures."""
    out = []
    # A regression is relative to iteration 0: 50% against itself, or its own score against another baseline.
    ref0 = run.evals.get(0)
    for t, m in sorted(run.evals.items()):
        if t == 0:
            continue
        ratio = m.get("length_ratio", math.nan)
        if ratio == ratio and (ratio >= LENGTH_WARN_RATIO or ratio <= 1 / LENGTH_WARN_RATIO):
            out.append(
                f"{run.label} iteration {t}: answers are {ratio:.{1 if ratio >= 1 else 2}f}× as long as the "
                f"baseline's ({m['mean_length']:.0f} vs {m['baseline_mean_length']:.0f} chars)."
            )
        wr, lc = m.get("win_rate", math.nan), m.get("lc_win_rate", math.nan)
        if wr == wr and lc == lc and wr - lc >= LENGTH_GAIN_WARN:
            out.append(
                f"{run.label} iteration {t}: the win rate {pct(wr)}% falls to {pct(lc)}% at equal length: "
                f"part of the gain is answer length."
            )
        ref = ref0["win_rate"] if ref0 else 0.5
        if m.get("ci_high", 1) < ref:
            out.append(
                f"{run.label} iteration {t}: worse than iteration 0 overall (win rate {pct(wr)}% "
                f"{_ci(m, 'ci_low', 'ci_high')}" + (f" vs {pct(ref)}%" if ref0 else "") + ")."
            )
        for task, b in (m.get("by_task") or {}).items():
            ref = ((ref0.get("by_task") or {}).get(task) or {}).get("win_rate", 0.5) if ref0 else 0.5
            if b.get("ci_high", 1) < ref:
                out.append(
                    f"{run.label} iteration {t}: `{task}` got worse (win rate {pct(b['win_rate'])}% "
                    f"{_ci(b, 'ci_low', 'ci_high')} on {b['n']} prompts"
                    + (f", iteration 0: {pct(ref)}%" if ref0 else "")
                    + ")."
                )
        o = m.get("opening") or {}
        if o.get("share", 0) >= OPENING_WARN[0] and o["share"] >= OPENING_WARN[1] * o["baseline_share"]:
            out.append(
                f"{run.label} iteration {t}: {pct(o['share'])}% of the answers begin with “{o['word']}” (the "
                f"baseline's: {pct(o['baseline_share'])}%): one opening whatever the prompt is often a quirk of "
                "the judge that the policy learned; read the answers."
            )
        if m.get("failures"):
            out.append(
                f"{run.label} iteration {t}: {m['failures']} of {m['n']} evaluation judgments failed and are left out."
            )
    out += ood_warnings(run)
    c = run.judge_check or {}
    if c.get("at_chance"):
        out.append(
            f"{run.label}: the training judge agreed with the oracle on {pct(c['agreement'])}% of {c['judged']} "
            f"checked pairs (95% CI {pct(c['agreement_ci_low'])}–{pct(c['agreement_ci_high'])}): no better than "
            "chance, so its pairs may teach noise (see Judge check)."
        )
    for t, s in sorted(run.judge_stats.items()):
        tr = s.get("train", {})
        if tr.get("failed"):
            out.append(
                f"{run.label} iteration {t}: {tr['failed']} of {tr['candidates']} training candidates "
                f"could not be judged (left out of pairing)."
            )
    for t, rows in sorted(run.pairs.items()):
        if not rows:
            out.append(f"{run.label} iteration {t}: no pairs passed the pairing rules; nothing was trained.")
    return out


def ood_warnings(run: RunData) -> list[str]:
    """Gains that do not carry over: the test win rate rising while the out-of-distribution one falls, and
    out-of-distribution tasks below iteration 0."""
    out = []
    previous = (0.5, 0.5, 0)
    for t in sorted(set(run.evals) & set(run.ood) - {0}):
        wr, ood = run.evals[t]["win_rate"], run.ood[t]["win_rate"]
        if wr > previous[0] and previous[1] - ood >= OOD_DIVERGENCE_WARN:
            out.append(
                f"{run.label} iteration {t}: the test win rate rose ({pct(previous[0])}% → {pct(wr)}%) while the "
                f"out-of-distribution one fell ({pct(previous[1])}% → {pct(ood)}%): iteration {previous[2]} may "
                "generalise better."
            )
        previous = (wr, ood, t)
        for task, b in (run.ood[t].get("by_task") or {}).items():
            if b.get("ci_high", 1) < 0.5:
                out.append(
                    f"{run.label} iteration {t}: out of distribution, `{task}` is worse than iteration 0 (win rate "
                    f"{pct(b['win_rate'])}% {_ci(b, 'ci_low', 'ci_high')} on {b['n']} prompts)."
                )
    return out


def pgr(weak: RunData, strong: RunData) -> list[dict]:
    """Performance gap recovered per common iteration: (weak − start) / (strong − start), oracle-evaluated.

    Two measures: win rate against the iteration-0 policy (start = 0.5) and the oracle's mean score
    (start = the iteration-0 policy's mean score). NaN when the strong run did not move.
    """
    out = []
    for t in sorted(set(weak.evals) & set(strong.evals) - {0}):
        w, s = weak.evals[t], strong.evals[t]
        # Start: the iteration-0 policy measured the same way (50% against itself unless evaluated otherwise).
        start_wr = strong.evals[0]["win_rate"] if 0 in strong.evals else 0.5
        row = {
            "iteration": t,
            "start_win_rate": start_wr,
            "weak_win_rate": w["win_rate"],
            "strong_win_rate": s["win_rate"],
        }
        gap = s["win_rate"] - start_wr
        row["pgr_win_rate"] = (w["win_rate"] - start_wr) / gap if abs(gap) > 1e-9 else math.nan
        if "mean_score" in w and "mean_score" in s:
            start = strong.evals[0]["mean_score"] if 0 in strong.evals else s.get("baseline_mean_score", math.nan)
            row.update(start_score=start, weak_score=w["mean_score"], strong_score=s["mean_score"])
            gap = s["mean_score"] - start
            row["pgr_score"] = (w["mean_score"] - start) / gap if abs(gap) > 1e-9 else math.nan
        out.append(row)
    return out


def _weak_strong(runs: list[RunData]) -> tuple[list[RunData], list[RunData]]:
    strong = [r for r in runs if r.train_judge == "oracle" and r.eval_judge == "oracle" and r.evals]
    weak = [r for r in runs if r.train_judge != "oracle" and r.eval_judge == "oracle" and r.evals]
    return weak, strong
