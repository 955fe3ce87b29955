"""The opening every prompt shares (the chat template's system prompt) run once per batch, against every row
running it, in the HF sampler: greedy answers (the eval, ood and val stages) and K samples (the sample stage),
alternating, on the default's prompts.

    .venv/bin/python benchmarks/shared_opening.py [--prompts 128] [--repeats 2]

Prints seconds per variant, the ratio per alternation, and how many greedy answers are the same with and
without (float32: only rounding may differ).
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from dno import models
from dno.config import DataConfig
from dno.data import make_splits
from dno.generation import hf

ap = argparse.ArgumentParser()
ap.add_argument("--prompts", type=int, default=128)
ap.add_argument("--repeats", type=int, default=2)
args = ap.parse_args()
model, tok = models.load_policy(models.resolve("smollm2-135m-instruct"), dtype="float32")
prompts = make_splits(DataConfig(prompts_per_iteration=16, test_prompts=args.prompts), 1)["test"]
opening_len = hf._opening_len
JOBS = {  # name: (batch size, generations per prompt, temperature, top-p, new tokens, prompts): the default's
    "greedy": (64, 1, 0.0, 1.0, 40, prompts),
    "sample": (16, 6, 0.7, 0.95, 32, prompts[:32]),
}
hf.HFSampler(model, tok, 8).generate(prompts[:8], 1, temperature=0, top_p=1, max_new_tokens=8, seed=0)
for job, (bs, n, temp, top_p, new, ps) in JOBS.items():
    secs, texts = {"once": [], "every row": []}, {}
    for rep in range(args.repeats):
        for variant in ("once", "every row") if rep % 2 == 0 else ("every row", "once"):
            hf._opening_len = opening_len if variant == "once" else (lambda ids, attn: 0)
            t = time.perf_counter()
            out = hf.HFSampler(model, tok, bs).generate(
                ps, n, temperature=temp, top_p=top_p, max_new_tokens=new, seed=0
            )
            secs[variant].append(time.perf_counter() - t)
            texts[variant] = [g.text for gens in out for g in gens]
            print(f"{job} ({len(ps)} prompts x {n}, batch {bs}) {variant}: {secs[variant][-1]:.1f} s", flush=True)
    ratios = ", ".join(f"{b / a:.2f}" for a, b in zip(secs["once"], secs["every row"]))
    same = sum(a == b for a, b in zip(texts["once"], texts["every row"]))
    print(f"{job}: once / every row speed-up {ratios}; same text {same}/{len(texts['once'])}", flush=True)
