"""Greedy answers (the eval, ood and val stages) at several batch sizes, alternating, on the 128 test prompts.

    .venv/bin/python benchmarks/eval_batch.py 32,64,128

Prints each batch size's seconds and how many answers equal the first run's (float32: padding must not change them).
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from dno import models
from dno.config import DataConfig
from dno.data import make_splits
from dno.generation.hf import HFSampler

model, tok = models.load_policy(models.resolve("smollm2-135m-instruct"), dtype="float32")
prompts = make_splits(DataConfig(prompts_per_iteration=16, test_prompts=128), 1)["test"]
sizes = [int(x) for x in sys.argv[1].split(",")]
HFSampler(model, tok, 8).generate(prompts[:8], 1, temperature=0, top_p=1, max_new_tokens=8, seed=0)
ref = None
for rep in range(2):
    for bs in sizes if rep % 2 == 0 else sizes[::-1]:
        t = time.perf_counter()
        out = HFSampler(model, tok, bs).generate(prompts, 1, temperature=0, top_p=1, max_new_tokens=40, seed=0)
        s = time.perf_counter() - t
        texts = [o[0].text for o in out]
        same = sum(a == b for a, b in zip(texts, ref)) if ref else len(texts)
        ref = ref or texts
        print(f"greedy batch {bs}: {s:.1f} s, same as first {same}/{len(texts)}", flush=True)
