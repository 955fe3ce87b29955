"""The local LLM judge (`judge.type: llm`) answering `judge.batch_size` questions per `generate`, against one at a
time, on the same questions, in one run.

    .venv/bin/python benchmarks/local_judge.py [--prompts 8] [--k 6] [--batch-sizes 1,8,16] [--modes pairwise,pointwise]

The questions are a stage's: K samples per prompt from SmolLM2-135M-Instruct on fresh default-task prompts
(`dno agree`'s candidates), judged by SmolLM2 itself, pairwise (every two candidates, both orders: K(K-1)
questions a prompt) and pointwise (one rubric question a prompt, up to 384 tokens of answer). Every batch size
gets a fresh cache, so each asks every question; the order alternates (A B B A). Unparseable answers are not
re-asked (`parse_retries=0`: a re-ask samples, and batched sampling draws other random numbers), so every answer
is greedy and the batched ones are checked against one-at-a-time ones: the largest difference in a soft verdict P(A), and how many pointwise answers
differ in text (left padding changes float rounding, and a long greedy answer can turn on it).
"""

from __future__ import annotations

import argparse
import math
import statistics as st
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from dno.analysis.agreement import default_candidates  # noqa: E402
from dno.config import load_config  # noqa: E402
from dno.judges import build_judge  # noqa: E402


def judge_all(mode: str, batch: int, prompts, cands, dtype: str):
    cfg = load_config(
        None,
        [
            "judge.type=llm",
            f"judge.mode={mode}",
            f"judge.batch_size={batch}",
            f"judge.dtype={dtype}",
            "judge.parse_retries=0",
        ],
    ).judge
    with tempfile.TemporaryDirectory() as d:
        judge = build_judge(cfg, cache_dir=Path(d))
        t = time.perf_counter()
        out = judge.score_many(prompts, cands)
        secs = time.perf_counter() - t
    return out, secs, judge.usage()


def verdicts(scores) -> list:
    """Per question, what the judge answered: P(A) pairwise, the score list pointwise (None = no answer)."""
    out = []
    for s in scores:
        if "comparisons" in s.info:
            out += [d["p_shown_a"] for pair in s.info["comparisons"].values() for d in pair]
        else:
            out.append(None if any(math.isnan(x) for x in s.scores) else tuple(s.scores))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--k", type=int, default=6)
    ap.add_argument("--batch-sizes", default="1,8,16")
    ap.add_argument("--modes", default="pairwise,pointwise")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--dtype", default="float32", help="judge.dtype: float32 or bfloat16")
    ap.add_argument("--save", action="store_true", help="keep the figures in docs/results/bench_local_judge.json")
    args = ap.parse_args()
    from record import Record

    rec = Record("local_judge")
    cfg = load_config(None, [f"sample.k={args.k}"])
    prompts, cands = default_candidates(cfg, args.prompts)
    sizes = [int(x) for x in args.batch_sizes.split(",")]
    rows, raw, headline = [], {}, []
    for mode in args.modes.split(","):
        rates: dict[int, list[float]] = {b: [] for b in sizes}
        answers: dict[int, list] = {}
        questions = 0
        for r in range(args.repeats):
            for b in sizes if r % 2 == 0 else sizes[::-1]:
                scores, secs, usage = judge_all(mode, b, prompts, cands, args.dtype)
                questions = usage["questions"]
                rates[b].append(questions / secs)
                answers.setdefault(b, verdicts(scores))
                print(f"  {mode} batch {b}: {questions} questions in {secs:.1f} s", flush=True)
        one = answers[sizes[0]]
        for b in sizes:
            if mode == "pairwise":
                diffs = [abs(x - y) for x, y in zip(one, answers[b]) if x is not None and y is not None]
                same = f"largest ΔP(A) {max(diffs, default=0):.1e}; {sum((x is None) != (y is None) for x, y in zip(one, answers[b]))} answered differently"
            else:
                same = f"{sum(x != y for x, y in zip(one, answers[b]))} of {len(one)} answers differ"
            speedup = st.median(rates[b]) / st.median(rates[sizes[0]])
            rows.append([mode, str(b), str(questions), f"{st.median(rates[b]):.2f}", f"{speedup:.2f}x", same])
        best = max(sizes, key=lambda b: st.median(rates[b]))
        headline.append(f"{mode} {st.median(rates[best]) / st.median(rates[sizes[0]]):.1f}x (batch {best})")
        raw[mode] = {str(b): rates[b] for b in sizes}
    rec.table(
        "batch_sizes",
        [
            "mode",
            "judge.batch_size",
            "questions",
            "questions/s (median)",
            "vs one at a time",
            "answers vs one at a time",
        ],
        rows,
        note=f"SmolLM2-135M-Instruct judging its own samples: {args.prompts} default-task prompts x {args.k} "
        f"candidates, judge.dtype {args.dtype}, {torch.get_num_threads()} threads, {args.repeats} alternations",
    )
    rec.headline_row("local LLM judge, batched / one question at a time", "**" + "**, **".join(headline) + "**")
    rec.finish(args.save, raw=raw)


if __name__ == "__main__":
    main()
