"""Mean oracle score of π_0's samples: generate's own draw against dno's (`nucleus.draw` in `decode`), same prompts, same batches."""

import statistics as st
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from sampling import plain_generate  # the script's own folder is on sys.path

from dno import models
from dno.config import DataConfig
from dno.data import make_splits
from dno.generation.hf import HFSampler, _decode, _eos_ids
from dno.tasks import TASKS

model, tok = models.load_policy(models.resolve("smollm2-135m-instruct"), dtype="float32")
prompts = make_splits(DataConfig(prompts_per_iteration=96, test_prompts=0), 1)["train1"]
eos = set(_eos_ids(model, tok))
K, BATCH = 6, 16  # the default's samples per prompt and prompts per batch


def score(rows):
    return [TASKS.get(p["task"], "task").score(p, g.text)[0] for p, gs in zip(prompts, rows) for g in gs]


def old(seed):
    """`generate`'s own warpers and whole-vocabulary draw (the plain loop of benchmarks/sampling.py)."""
    ids = plain_generate(
        model, tok, prompts, K, temperature=0.7, top_p=0.95, max_new_tokens=32, seed=seed, batch_size=BATCH
    )
    return [[_decode(tok, r, eos) for r in ids[i * K : (i + 1) * K]] for i in range(len(prompts))]


for seed in (0, 1):
    for name in ("old", "new"):
        t = time.perf_counter()
        rows = (
            old(seed)
            if name == "old"
            else HFSampler(model, tok, BATCH).generate(
                prompts, K, temperature=0.7, top_p=0.95, max_new_tokens=32, seed=seed
            )
        )
        s = score(rows)
        fin = [g.finished for gs in rows for g in gs]
        print(
            f"seed {seed} {name}: mean score {st.mean(s):.3f} (sd {st.pstdev(s):.2f}, n {len(s)}), finished {st.mean(fin):.3f}, mean tokens {st.mean(g.tokens for gs in rows for g in gs):.1f}, {time.perf_counter() - t:.0f} s",
            flush=True,
        )
