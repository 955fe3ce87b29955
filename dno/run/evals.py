"""`dno eval RUN`: evaluate any or all of a run's policies against a chosen baseline, with any judge.

Baselines:
  iter0           the run's iteration-0 policy (what `dno run` compares to)
  FILE.jsonl      fixed responses, e.g. a teacher's: one {"id", "response"} object per held-out prompt
  OTHER_RUN[:T]   another run's policy π_T (default: its last trained iteration), decoded greedily here

Results never touch the stage outputs of `dno run`; they live under

    RUN/evals/<baseline>__<judge>[__val]/
      eval.json                 what was compared: baseline, judge settings, split
      baseline_responses.jsonl  the baseline's answers when they had to be generated or copied
      iter_<t>/judgments.jsonl  per prompt: scores, outcome, both lengths, task
      iter_<t>/metrics.json     written last: its presence marks the iteration done (resume = skip it)
      summary.md                the table printed at the end
    RUN/evals/responses_<split>/iter_<t>.jsonl   greedy answers generated for prompts the run never decoded

Held-out prompts: the run's test (default), val or ood split, or any file of prompts (`--prompts FILE`: a
larger or differently phrased test set, a user's own benchmark), read like `data.source` with the run's
column settings; its results go to `<baseline>__<judge>__<file name>-<digest of its bytes>/`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

from dno import config as config_mod
from dno import formats, io
from dno.analysis.compare import judge_against_baseline
from dno.analysis.tables import interval, num, pct, table
from dno.config import JudgeConfig, load_config
from dno.data import load_user_prompts
from dno.errors import DnoError
from dno.judges import build_judge
from dno.run.rundir import RunDir
from dno.stages.common import bar, greedy
from dno.stages.prepare import BASELINE_FILES


def open_run(root: str | Path) -> RunDir:
    """A finished or running run directory, read-only (its config.yaml is not rewritten)."""
    root = Path(root)
    if not (root / "config.yaml").is_file():
        raise DnoError(f"{root}: not a dno run directory (no config.yaml)")
    return RunDir(root, load_config(root / "config.yaml", saved_run=True))


def trained_iterations(run: RunDir) -> list[int]:
    return [t for t in range(1, run.cfg.iterations + 1) if (run.iter_dir(t) / "policy" / "config.json").is_file()]


def judge_config(run: RunDir, judge_type: str | None, overrides: list[str]) -> JudgeConfig:
    """The run's eval judge, with `--judge TYPE` and `judge.KEY=VALUE` overrides applied."""
    data = dataclasses.asdict(run.cfg.eval.judge)
    if judge_type is not None and judge_type != data.get("type"):
        data = dataclasses.asdict(JudgeConfig(type=judge_type))
    for text in overrides:
        if not text.strip().startswith("judge."):
            raise DnoError(f"command line: `{text}`: expected judge.KEY=VALUE")
    data = config_mod.apply_overrides({"judge": data}, overrides)["judge"]
    return config_mod.validate(config_mod.build(JudgeConfig, data, "judge.", "command line"), "command line", "judge.")


TRAINING_ONLY = ("check_pairs", "min_agreement")
"""Judge settings only the training judge uses: left out of an evaluation's key (and so keys made before
they existed still find their results)."""


def judge_key(jcfg: JudgeConfig) -> str:
    data = {k: v for k, v in dataclasses.asdict(jcfg).items() if k not in TRAINING_ONLY}
    if data == {k: v for k, v in dataclasses.asdict(JudgeConfig(type=jcfg.type)).items() if k not in TRAINING_ONLY}:
        return jcfg.type
    digest = hashlib.sha1(json.dumps(data, sort_keys=True).encode()).hexdigest()[:8]
    return f"{jcfg.type}-{digest}"


def split_prompts(run: RunDir, split: str) -> list[dict]:
    """The run's held-out prompts of `split` (test, val or ood), or a DnoError saying why it has none."""
    path = run.root / f"{split}_prompts.jsonl"
    if not path.is_file():
        hint = " (the run has no validation split: data.val_prompts is 0)" if split == "val" else ""
        raise DnoError(f"{path}: no {split} prompts{hint}")
    return io.read_jsonl(path)


def file_prompts(run: RunDir, path: str | Path) -> tuple[str, list[dict]]:
    """`--prompts FILE`: its prompt records (read like data.source, with the run's column settings; rows without
    an id are numbered `prompts-NNNNN`) and the split name that keys its cached answers and results."""
    path = Path(path)
    if not path.is_file():
        raise DnoError(f"{path}: --prompts file not found")
    # the prompts only: a gold answer is for training, so a file without the gold column is fine here
    data = dataclasses.replace(run.cfg.data, source=str(path), split="", subset="", gold_column="")
    records = load_user_prompts(data)
    given = {r["id"] for r in records if "id" in r}
    for i, r in enumerate(records):
        if "id" not in r:
            r["id"] = f"prompts-{i:05d}"
            if r["id"] in given:
                raise DnoError(f"{path}: prompt id {r['id']!r} is one dno gives unnamed prompts; rename it")
    digest = hashlib.sha1(path.read_bytes()).hexdigest()[:8]
    return f"{path.stem}-{digest}", records


def own_responses_path(run: RunDir, t: int, split: str) -> Path:
    """Where the run's own stages keep π_t's greedy answers on `split`: the baseline stage for t = 0, else
    iteration t's eval (test), val or ood stage."""
    if t == 0:
        return run.baseline_dir / BASELINE_FILES[split]
    return run.iter_dir(t) / ("eval" if split == "test" else split) / "responses.jsonl"


def policy_responses(run: RunDir, t: int, prompts: list[dict], split: str) -> list[dict]:
    """π_t's greedy answers on `prompts`: the run's own when it has them, else generated once and cached."""
    own = own_responses_path(run, t, split) if split in BASELINE_FILES else None  # not for --prompts files
    if own is not None and own.is_file():
        return io.read_jsonl(own)
    cached = run.root / "evals" / f"responses_{split}" / f"iter_{t}.jsonl"
    if not cached.is_file():
        if t > 0 and not (run.iter_dir(t) / "policy" / "config.json").is_file():
            raise DnoError(f"{run.iter_dir(t) / 'policy'}: iteration {t} is not trained yet")
        io.write_jsonl(cached, greedy(run, t, prompts, f"iter {t} {split} responses"))
    return io.read_jsonl(cached)


def file_responses(path: Path, prompts: list[dict]) -> list[dict]:
    """A baseline file's {id, response} rows: JSONL lines of {id, response}, or an AlpacaEval-style JSON list
    of {instruction, output} (reference answers, another system's model_outputs.json) matched by instruction."""
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise DnoError(f"{path}: line {e.lineno}: not valid JSON ({e.msg})") from None
        return formats.responses_from_alpaca(data, prompts, str(path))
    rows = io.read_jsonl(path)
    for i, r in enumerate(rows, 1):
        if not isinstance(r, dict) or not isinstance(r.get("id"), str) or not isinstance(r.get("response"), str):
            raise DnoError(f"{path}:{i}: each line needs a string `id` and a string `response`")
    return rows


@dataclasses.dataclass
class Baseline:
    key: str
    description: str
    rows: list[dict]


def resolve_baseline(run: RunDir, spec: str, prompts: list[dict], split: str, out_dir_for) -> Baseline:
    """`iter0`, a responses file, or another run's policy (`PATH` or `PATH:T`)."""
    if spec in ("iter0", "0"):
        return Baseline("iter0", "the iteration-0 policy", policy_responses(run, 0, prompts, split))
    path = Path(spec)
    if spec.endswith((".jsonl", ".json")) or path.is_file():
        if not path.is_file():
            raise DnoError(f"{path}: baseline responses file not found")
        rows = file_responses(path, prompts)
        digest = hashlib.sha1(path.read_bytes()).hexdigest()[:8]
        return Baseline(f"file-{path.stem}-{digest}", f"the responses in `{path}`", rows)
    root, _, it = spec.rpartition(":")
    if not (root and it.isdigit()):
        root, it = spec, ""
    other = open_run(root) if Path(root).is_dir() else None
    if other is None:
        raise DnoError(
            f"--baseline {spec!r}: not `iter0`, a .jsonl or AlpacaEval .json file of responses, or a run directory"
        )
    t = int(it) if it else max(trained_iterations(other), default=0)
    if t > 0 and t not in trained_iterations(other):
        raise DnoError(f"{other.iter_dir(t) / 'policy'}: iteration {t} of that run is not trained")
    key = f"run-{other.root.name}-iter{t}"
    desc = f"π_{t} of run `{other.root.name}`"
    cached = out_dir_for(key) / "baseline_responses.jsonl"
    if not cached.is_file():
        same_prompts = (
            split == "test"
            and (other.root / "test_prompts.jsonl").is_file()
            and io.read_jsonl(other.root / "test_prompts.jsonl") == prompts
            and other.cfg.eval.max_new_tokens == run.cfg.eval.max_new_tokens
        )
        theirs = own_responses_path(other, t, "test")
        if same_prompts and theirs.is_file():
            rows = io.read_jsonl(theirs)
        else:  # decode their policy on our prompts with our decoding settings; nothing is written into their run
            rows = greedy(
                RunDir(other.root, dataclasses.replace(other.cfg, eval=run.cfg.eval)),
                t,
                prompts,
                f"baseline {desc} responses",
            )
        io.write_jsonl(cached, rows)
    return Baseline(key, desc, io.read_jsonl(cached))


def evaluate_iteration(run: RunDir, t: int, prompts: list[dict], base: Baseline, judge, split: str, out: Path) -> dict:
    mpath = out / "metrics.json"
    if mpath.is_file():
        return io.read_json(mpath)
    with bar(len(prompts), f"iter {t} vs {base.key} ({judge.name})") as progress:
        m = judge_against_baseline(
            judge,
            prompts,
            policy_responses(run, t, prompts, split),
            base.rows,
            out,
            resamples=run.cfg.eval.bootstrap,
            progress=progress,
        )
    m.update(iteration=t, baseline=base.key, baseline_description=base.description, split=split)
    io.write_json(mpath, m)
    return m


def summary_table(results: dict[int, dict], title: str) -> str:
    head = [
        "iter",
        "win rate %",
        "95% CI",
        "LC win rate %",
        "95% CI",
        "W / T / L",
        "failures",
        "mean length",
        "baseline length",
    ]
    rows = [
        [
            str(t),
            pct(m["win_rate"]),
            interval(m),
            pct(m["lc_win_rate"]),
            interval(m, "lc_ci_low", "lc_ci_high"),
            f"{m['wins']} / {m['ties']} / {m['losses']}",
            str(m["failures"]),
            num(m["mean_length"]),
            num(m["baseline_mean_length"]),
        ]
        for t, m in sorted(results.items())
    ]
    return f"# {title}\n\n" + table(head, rows)


def parse_iterations(text: str | None, run: RunDir, include_zero: bool) -> list[int]:
    trained = trained_iterations(run)
    if text in (None, "all"):
        return ([0] if include_zero else []) + trained
    try:
        wanted = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise DnoError(f"--iterations: expected `all` or numbers like 1,3, got {text!r}") from None
    for t in wanted:
        if t < 0 or t > run.cfg.iterations:
            raise DnoError(f"--iterations: {t} is outside 0..{run.cfg.iterations}")
        if t > 0 and t not in trained:
            raise DnoError(f"{run.iter_dir(t) / 'policy'}: iteration {t} is not trained yet")
    return wanted


def run_eval(
    root: str | Path,
    *,
    baseline: str = "iter0",
    iterations: str | None = None,
    judge_type: str | None = None,
    judge_overrides: list[str] = (),
    split: str = "test",
    prompts_file: str | Path | None = None,
) -> tuple[Path, dict[int, dict]]:
    """Evaluate the chosen iterations on `split`'s prompts, or on `prompts_file`'s; returns the evaluation
    directory and {iteration: metrics}."""
    run = open_run(root)
    if split not in ("test", "val", "ood"):
        raise DnoError(f"--split: expected test, val or ood, got {split!r}")
    if prompts_file is not None:
        split, prompts = file_prompts(run, prompts_file)
    else:
        prompts = split_prompts(run, split)
    jcfg = judge_config(run, judge_type, list(judge_overrides))
    judge = build_judge(jcfg, cache_dir=run.root / "judge_cache", field_prefix="judge")  # shared with `dno run`
    suffix = f"__{judge_key(jcfg)}" + ("" if split == "test" else f"__{split}")
    base = resolve_baseline(run, baseline, prompts, split, lambda key: run.root / "evals" / f"{key}{suffix}")
    out = run.root / "evals" / f"{base.key}{suffix}"
    io.write_json(
        out / "eval.json",
        {
            "baseline": base.key,
            "baseline_description": base.description,
            "baseline_spec": baseline,
            "judge": judge.name,
            "judge_config": dataclasses.asdict(jcfg),
            "split": split,
        },
    )
    its = parse_iterations(iterations, run, include_zero=base.key != "iter0")
    if not its:
        raise DnoError(f"{run.root}: no trained iteration to evaluate yet")
    results = {}
    for t in its:
        results[t] = evaluate_iteration(run, t, prompts, base, judge, split, out / f"iter_{t}")
    for d in out.glob("iter_*"):  # the summary lists every iteration evaluated so far, not only this call's
        if d.name[5:].isdigit() and (d / "metrics.json").is_file():
            results.setdefault(int(d.name[5:]), io.read_json(d / "metrics.json"))
    io.write_text(
        out / "summary.md",
        summary_table(results, f"{run.root.name} against {base.description}, judged by {judge.name} ({split} prompts)"),
    )
    return out, results
