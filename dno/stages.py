"""The stages of one DNO iteration. Each reads its inputs from the run directory and writes its
outputs there atomically, so any stage can be re-run alone and a crashed run resumes where it stopped."""

from __future__ import annotations

import math
import shutil
import statistics
from collections import Counter
from pathlib import Path

from tqdm.auto import tqdm

from dno import faults, io, models
from dno.evaluation import summarize
from dno.judges import build_judge, compare_from_scores, score_all
from dno.degenerate import is_degenerate
from dno.pairing import PairRules, all_pairs, build_pairs, pair_type, soft_target, win_rate_estimates
from dno.replay import sample_replay
from dno.rundir import RunDir
from dno.sampling import HFSampler
from dno.tasks import make_splits
from dno.teacher import teacher_responses
from dno import tracking, training

STAGES = ("sample", "judge", "pair", "train", "eval", "val")


def _bar(total: int, desc: str, unit: str = "prompt"):
    return tqdm(total=total, desc=desc, unit=unit, leave=False, dynamic_ncols=True)


def _load(run: RunDir, t: int):
    return models.load_policy(run.policy(t), run.cfg.policy.dtype)


def prepare(run: RunDir) -> None:
    """Fix the disjoint prompt slices: test (and validation) prompts, one training slice per iteration."""
    cfg = run.cfg
    if (run.root / "test_prompts.jsonl").is_file() and all(
            (run.iter_dir(t) / "prompts.jsonl").is_file() for t in range(1, cfg.iterations + 1)):
        return
    splits = make_splits(cfg.data, cfg.iterations)
    io.write_jsonl(run.root / "test_prompts.jsonl", splits["test"])
    if splits["val"]:
        io.write_jsonl(run.root / "val_prompts.jsonl", splits["val"])
    for t in range(1, cfg.iterations + 1):
        path = run.iter_dir(t) / "prompts.jsonl"
        if not path.is_file():
            io.write_jsonl(path, splits[f"train{t}"])


def _greedy(run: RunDir, t: int, prompts: list[dict], desc: str) -> list[dict]:
    model, tok = _load(run, t)
    ev = run.cfg.eval
    with _bar(len(prompts), desc) as bar:
        gens = HFSampler(model, tok, ev.batch_size).generate(
            prompts, 1, temperature=0.0, top_p=1.0, max_new_tokens=ev.max_new_tokens, seed=0, progress=bar)
    return [{"id": p["id"], "response": g[0].text, "finished": g[0].finished} for p, g in zip(prompts, gens)]


BASELINE_FILES = {"test": "responses.jsonl", "val": "val_responses.jsonl"}


def baseline(run: RunDir) -> None:
    """The iteration-0 policy's greedy answers on the test (and validation) prompts: what every iteration is compared to."""
    for split, name in BASELINE_FILES.items():
        out, prompts_path = run.baseline_dir / name, run.root / f"{split}_prompts.jsonl"
        if prompts_path.is_file() and not out.is_file():
            io.write_jsonl(out, _greedy(run, 0, io.read_jsonl(prompts_path), f"baseline responses ({split})"))


def _sampler(run: RunDir, t: int):
    """The sampler of π_t: `sample.backend` hf (transformers) or vllm (dno/vllm_sampler.py)."""
    cfg = run.cfg.sample
    if cfg.backend == "vllm":
        from dno.vllm_sampler import VLLMSampler

        return VLLMSampler(run.policy(t), cfg, run.cfg.policy.dtype, seed=run.cfg.seed)
    model, tok = _load(run, t)
    return HFSampler(model, tok, cfg.batch_size)


def sample(run: RunDir, t: int, shard: tuple[int, int] | None = None) -> None:
    """K samples per prompt from π_{t-1}; with `shard=(i, n)` only shard i of n (dno/shards.py), merged
    into samples.jsonl once all n shards are on disk."""
    from dno import shards

    cfg = run.cfg.sample
    prompts = io.read_jsonl(run.iter_dir(t) / "prompts.jsonl")
    offset = 0
    if shard is not None:
        offset, stop = shards.shard_range(len(prompts), *shard, align=cfg.batch_size)
        prompts = prompts[offset:stop]
    model = _sampler(run, t - 1) if prompts else None  # an empty shard (more shards than batches) loads nothing
    seed = run.cfg.seed * 1000 + t
    with _bar(len(prompts), f"iter {t} sample (k={cfg.k})") as bar:
        gens = model.generate(
            prompts, cfg.k, temperature=cfg.temperature, top_p=cfg.top_p,
            max_new_tokens=cfg.max_new_tokens, seed=seed, progress=bar, offset=offset) if prompts else []
    if run.cfg.teacher.model and prompts:
        del model
        with _bar(len(prompts), f"iter {t} teacher") as bar:
            gold = teacher_responses(run.cfg.teacher, prompts, max_new_tokens=cfg.max_new_tokens,
                                     batch_size=cfg.batch_size, dtype=run.cfg.policy.dtype, seed=seed, progress=bar)
        gens = [gs + [g] for gs, g in zip(gens, gold)]
    rows = [{"id": p["id"], "responses": [g.text for g in gs], "finished": [g.finished for g in gs],
             "sources": ["student"] * cfg.k + ["teacher"] * (len(gs) - cfg.k), "seed": seed}
            for p, gs in zip(prompts, gens)]
    if shard is None:
        io.write_jsonl(run.iter_dir(t) / "samples.jsonl", rows)
    else:
        io.write_jsonl(shards.shard_path(run.iter_dir(t), "sample", *shard), rows)
        if shards.complete_count(run.iter_dir(t), "sample") == shard[1]:
            shards.merge(run.iter_dir(t), "sample", shard[1])


def judge(run: RunDir, t: int, shard: tuple[int, int] | None = None) -> None:
    """A score per candidate; with `shard=(i, n)` only shard i of n (dno/shards.py), merged into
    judgments.jsonl once all n shards are on disk."""
    from dno import shards

    d = run.iter_dir(t)
    prompts = {p["id"]: p for p in io.read_jsonl(d / "prompts.jsonl")}
    samples = io.read_jsonl(d / "samples.jsonl")
    if shard is not None:
        samples = samples[slice(*shards.shard_range(len(samples), *shard))]
    j = build_judge(run.cfg.judge, cache_dir=run.root / "judge_cache")
    with _bar(len(samples), f"iter {t} judge ({j.name})") as bar:
        results = score_all(j, [prompts[s["id"]] for s in samples], [s["responses"] for s in samples], bar)
    rows = [{"id": s["id"], "scores": r.scores, "info": r.info, "judge": j.name} for s, r in zip(samples, results)]
    if shard is not None:
        if hasattr(j, "usage"):
            io.write_json(shards.shard_path(d, "judge", *shard, "json", "judge_usage"), j.usage())
        io.write_jsonl(shards.shard_path(d, "judge", *shard), rows)
        if shards.complete_count(d, "judge") == shard[1]:
            shards.merge(d, "judge", shard[1])
        return
    if hasattr(j, "usage"):  # LLM/API judges: requests, cache hits, failures, tokens, cost
        io.write_json(d / "judge_usage.json", j.usage())
    io.write_jsonl(d / "judgments.jsonl", rows)


def pair(run: RunDir, t: int) -> None:
    d, cfg = run.iter_dir(t), run.cfg.pair
    samples = {s["id"]: s for s in io.read_jsonl(d / "samples.jsonl")}
    rules = PairRules(cfg.positive_min_score, cfg.margin, cfg.student_margin, cfg.max_pairs_per_prompt)
    rows = []
    for j in io.read_jsonl(d / "judgments.jsonl"):
        s = samples[j["id"]]
        scores = [math.nan if x is None else float(x) for x in j["scores"]]
        degenerate = [bool(cfg.degenerate_repeats) and is_degenerate(r, min_repeats=cfg.degenerate_repeats)
                      for r in s["responses"]]
        scores = [0.0 if deg and not math.isnan(x) else x for x, deg in zip(scores, degenerate)]  # automatic negatives
        rates = win_rate_estimates(scores)
        chosen = (all_pairs(rates, cfg.max_pairs_per_prompt) if cfg.rule == "all"
                  else build_pairs(scores, s["sources"], rules))
        for ci, ri in chosen:
            rows.append({"id": j["id"], "chosen": s["responses"][ci], "rejected": s["responses"][ri],
                         "chosen_finished": s["finished"][ci], "rejected_finished": s["finished"][ri],
                         "chosen_score": scores[ci], "rejected_score": scores[ri],
                         "margin": scores[ci] - scores[ri], "chosen_rate": rates[ci], "rejected_rate": rates[ri],
                         "target": soft_target(rates[ci], rates[ri]) if cfg.target == "soft" else 1.0,
                         "rejected_degenerate": degenerate[ri],
                         "type": pair_type(s["sources"][ci], s["sources"][ri])})
    io.write_jsonl(d / "pairs.jsonl", rows)


def training_pairs(run: RunDir, t: int) -> list[dict]:
    """This iteration's pairs plus replayed pairs of earlier iterations (SFT: each chosen response once)."""
    cfg = run.cfg.train
    current = io.read_jsonl(run.iter_dir(t) / "pairs.jsonl")
    earlier = [io.read_jsonl(run.iter_dir(k) / "pairs.jsonl") for k in range(t - 1, 0, -1)]
    pairs = current + sample_replay(earlier, len(current), cfg.replay_fraction, cfg.replay_decay, seed=cfg.seed + t)
    if cfg.loss == "sft":
        seen: set[tuple[str, str]] = set()
        pairs = [p for p in pairs if (p["id"], p["chosen"]) not in seen and not seen.add((p["id"], p["chosen"]))]
    return pairs


def train(run: RunDir, t: int) -> None:
    d, cfg = run.iter_dir(t), run.cfg.train
    from dno import distributed

    if distributed.wanted(cfg):  # accelerate launch, LoRA, gradient checkpointing or accumulation
        return distributed.train_stage(run, t)
    pairs = training_pairs(run, t)
    prompts = {p["id"]: p for k in range(1, t + 1) for p in io.read_jsonl(run.iter_dir(k) / "prompts.jsonl")}
    model, tok = _load(run, t - 1)
    ref_model = _load(run, 0)[0] if cfg.reference == "initial" and t > 1 else None
    items = [training.PairBatchItem(
        training.encode(tok, prompts[p["id"]]["messages"], p["chosen"], p["chosen_finished"]),
        training.encode(tok, prompts[p["id"]]["messages"], p["rejected"], p["rejected_finished"]),
        p["target"], p.get("chosen_rate", 1.0), p.get("rejected_rate", 0.0)) for p in pairs]
    steps = math.ceil(len(items) / cfg.batch_size) * cfg.epochs
    lr = cfg.lr * cfg.lr_decay ** (t - 1)
    with _bar(steps, f"iter {t} train (lr={lr:.2g})", unit="step") as bar, tracking.open_tracker(run, t) as on_step:
        history = training.train(model, tok, items, beta=cfg.beta, lr=lr, epochs=cfg.epochs,
                                 batch_size=cfg.batch_size, max_grad_norm=cfg.max_grad_norm,
                                 weight_decay=cfg.weight_decay, seed=cfg.seed + t, loss=cfg.loss,
                                 ref_model=ref_model, progress=bar, on_step=on_step)
    io.write_jsonl(d / "train_log.jsonl", history)
    replayed = Counter(p["replay_from"] for p in pairs if "replay_from" in p)
    io.write_json(d / "train_summary.json", {
        "pairs": len(pairs), "replayed_from": {f"t-{k}": n for k, n in sorted(replayed.items())},
        "loss": cfg.loss, "lr": lr, "beta": cfg.beta, "reference": cfg.reference if t > 1 else "previous",
        "steps": len(history), "final_loss": history[-1]["loss"] if history else None})
    tmp = d / ".policy.tmp"
    shutil.rmtree(tmp, ignore_errors=True)  # a crashed attempt's leftovers: never mix them into this save
    model.save_pretrained(str(tmp))
    tok.save_pretrained(str(tmp))
    faults.point("saved")
    io.replace_dir(tmp, d / "policy")


def _metrics(outcomes, policy_rows, base_rows, policy_scores, base_scores, prompts, resamples) -> dict:
    """Win rate, its interval, the length-controlled win rate, lengths and per-task breakdown (dno.evaluation)."""
    m = summarize(outcomes, [len(r["response"]) for r in policy_rows], [len(r["response"]) for r in base_rows],
                  [p.get("task", "user") for p in prompts], resamples=resamples)
    valid = [o for o in outcomes if not math.isnan(o)]
    m["mean_score"] = statistics.fmean(s for s in policy_scores if not math.isnan(s)) if valid else math.nan
    m["baseline_mean_score"] = statistics.fmean(s for s in base_scores if not math.isnan(s)) if valid else math.nan
    return m


def evaluate(run: RunDir, t: int, split: str = "test") -> None:
    """π_t's greedy answers on the test (or validation) prompts, judged against the baseline's: win rate, ties = ½."""
    out = run.iter_dir(t) / ("eval" if split == "test" else split)
    prompts = io.read_jsonl(run.root / f"{split}_prompts.jsonl")
    responses_path = out / "responses.jsonl"
    if not responses_path.is_file():
        io.write_jsonl(responses_path, _greedy(run, t, prompts, f"iter {t} eval responses"))
    policy_rows = io.read_jsonl(responses_path)
    base_rows = io.read_jsonl(run.baseline_dir / BASELINE_FILES[split])
    j = build_judge(run.cfg.eval.judge, cache_dir=run.root / "judge_cache", field_prefix="eval.judge")
    with _bar(len(prompts), f"iter {t} eval judge ({j.name})") as bar:
        results = score_all(j, prompts, [[a["response"], b["response"]] for a, b in zip(policy_rows, base_rows)], bar)
    if hasattr(j, "usage"):
        io.write_json(out / "judge_usage.json", j.usage())
    outcomes = [compare_from_scores(r.scores[0], r.scores[1]) for r in results]
    io.write_jsonl(out / "judgments.jsonl", [
        {"id": p["id"], "scores": r.scores, "outcome": o, "info": r.info, "judge": j.name}
        for p, r, o in zip(prompts, results, outcomes)])
    m = _metrics(outcomes, policy_rows, base_rows, [r.scores[0] for r in results],
                 [r.scores[1] for r in results], prompts, run.cfg.eval.bootstrap)
    m["iteration"] = t
    io.write_text(out / "metrics.md", metrics_markdown(m))
    if split == "test":
        tracking.log_eval(run, t, m)
    io.write_json(out / "metrics.json", m)  # written last: its presence marks the stage complete


def metrics_markdown(m: dict) -> str:
    tasks = ", ".join(f"{k} {100 * v:.1f}%" for k, v in m["win_rate_by_task"].items())
    return (f"# Iteration {m['iteration']} vs iteration 0\n\n"
            f"- win rate: {100 * m['win_rate']:.1f}% (95% CI {100 * m['ci_low']:.1f}-{100 * m['ci_high']:.1f}), "
            f"{m['wins']} wins / {m['ties']} ties / {m['losses']} losses of {m['n']}; {m['failures']} judge failures\n"
            + (f"- length-controlled win rate: {100 * m['lc_win_rate']:.1f}% (95% CI {100 * m['lc_ci_low']:.1f}-"
               f"{100 * m['lc_ci_high']:.1f}): the win rate at equal answer length\n" if "lc_win_rate" in m else "")
            + f"- by task: {tasks}\n"
            f"- mean score: {m['mean_score']:.2f} (baseline {m['baseline_mean_score']:.2f})\n"
            f"- mean length: {m['mean_length']:.0f} chars (baseline {m['baseline_mean_length']:.0f})\n")


def is_done(run: RunDir, t: int, stage: str) -> bool:
    d = run.iter_dir(t)
    marker = {"sample": d / "samples.jsonl", "judge": d / "judgments.jsonl", "pair": d / "pairs.jsonl",
              "train": d / "policy" / "config.json", "eval": d / "eval" / "metrics.json",
              "val": d / "val" / "metrics.json"}[stage]
    if stage == "val" and not run.cfg.data.val_prompts:
        return True
    return Path(marker).is_file()


RUNNERS = {"sample": sample, "judge": judge, "pair": pair, "train": train, "eval": evaluate,
           "val": lambda run, t: evaluate(run, t, "val")}


def best_iteration(run: RunDir) -> dict | None:
    """The iteration whose policy wins most often on the validation prompts (π_0 counts as 50%)."""
    if not run.cfg.data.val_prompts:
        return None
    rates = {0: 0.5}
    for t in range(1, run.cfg.iterations + 1):
        path = run.iter_dir(t) / "val" / "metrics.json"
        if path.is_file():
            rates[t] = io.read_json(path)["win_rate"]
    best = max(rates, key=lambda k: (rates[k], -k))  # ties go to the earlier, cheaper policy
    return {"iteration": best, "val_win_rate": rates[best], "policy": run.cfg.policy.model if best == 0 else f"iter_{best}/policy", "val_win_rates": rates}


def pair_counts(run: RunDir, t: int) -> Counter:
    path = run.iter_dir(t) / "pairs.jsonl"
    return Counter(p["type"] for p in io.read_jsonl(path)) if path.is_file() else Counter()
