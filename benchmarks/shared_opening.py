"""The opening every prompt shares (the chat template's system prompt) run once per batch, against every row
running it, in the HF sampler: greedy answers (the eval, ood and val stages) and K samples (the sample stage),
alternating, on the default's prompts; and in the local LLM judge (`judge.type: llm`, SmolLM2 judging its own
samples at 16 questions a batch), whose instructions are the same for every question.

    .venv/bin/python benchmarks/shared_opening.py [--prompts 128] [--judge-prompts 4] [--repeats 2]

Prints seconds per variant, the ratio per alternation, and how many answers are the same with and without
(float32: only rounding may differ; the judge's soft verdicts P(A) are compared to 1e-4).
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from dno import models
from dno.analysis.agreement import default_candidates
from dno.config import DataConfig, load_config
from dno.data import make_splits
from dno.generation import hf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from local_judge import judge_all, verdicts  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--prompts", type=int, default=128)
ap.add_argument("--judge-prompts", type=int, default=4, help="prompts whose K=6 samples the local judge judges")
ap.add_argument("--repeats", type=int, default=2)
args = ap.parse_args()
model, tok = models.load_policy(models.resolve("smollm2-135m-instruct"), dtype="float32")
prompts = make_splits(DataConfig(prompts_per_iteration=16, test_prompts=args.prompts), 1)["test"]
opening_len = hf._opening_len
JOBS = {  # name: (batch size, generations per prompt, temperature, top-p, new tokens, prompts): the default's
    "greedy": (64, 1, 0.0, 1.0, 40, prompts),
    "sample": (16, 6, 0.7, 0.95, 32, prompts[:32]),
}


def run(job):
    """(seconds, answers) of one job with the current `hf._opening_len`."""
    if job.startswith("judge"):
        out, secs, _ = judge_all(job.split("-")[1], 16, judge_prompts, judge_cands, "float32")
        return secs, [round(v, 4) if isinstance(v, float) else v for v in verdicts(out)]
    bs, n, temp, top_p, new, ps = JOBS[job]
    t = time.perf_counter()
    out = hf.HFSampler(model, tok, bs).generate(ps, n, temperature=temp, top_p=top_p, max_new_tokens=new, seed=0)
    return time.perf_counter() - t, [g.text for gens in out for g in gens]


judge_prompts, judge_cands = default_candidates(load_config(None, ["sample.k=6"]), args.judge_prompts)
hf.HFSampler(model, tok, 8).generate(prompts[:8], 1, temperature=0, top_p=1, max_new_tokens=8, seed=0)
for job in [*JOBS, "judge-pairwise", "judge-pointwise"]:
    secs, answers = {"once": [], "every row": []}, {}
    for rep in range(args.repeats):
        for variant in ("once", "every row") if rep % 2 == 0 else ("every row", "once"):
            hf._opening_len = opening_len if variant == "once" else (lambda ids, attn: 0)
            s, answers[variant] = run(job)
            secs[variant].append(s)
            print(f"{job} {variant}: {s:.1f} s", flush=True)
    ratios = ", ".join(f"{b / a:.2f}" for a, b in zip(secs["once"], secs["every row"]))
    same = sum(a == b for a, b in zip(answers["once"], answers["every row"]))
    print(f"{job}: once / every row speed-up {ratios}; same answers {same}/{len(answers['once'])}", flush=True)
