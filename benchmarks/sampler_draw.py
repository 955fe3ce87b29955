"""Mean oracle score of π_0's samples: generate's own draw against NucleusSampler's, same prompts, same batches."""

import statistics as st
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from dno import models
from dno.config import DataConfig
from dno.data import make_splits
from dno.generation.hf import HFSampler, _decode, _eos_ids, batch_seed, shared_prompt_inputs
from dno.tasks import TASKS

model, tok = models.load_policy(models.resolve("smollm2-135m-instruct"), dtype="float32")
prompts = make_splits(DataConfig(prompts_per_iteration=96, test_prompts=0), 1)["train1"]
eos = set(_eos_ids(model, tok))
K = 6


def score(rows):
    return [TASKS.get(p["task"], "task").score(p, g.text)[0] for p, gs in zip(prompts, rows) for g in gs]


def old(seed):
    out = []
    tok.padding_side = "left"
    for b in range(0, len(prompts), 16):
        enc = tok(
            [models.render_prompt(tok, p["messages"]) for p in prompts[b : b + 16]],
            return_tensors="pt",
            padding=True,
            add_special_tokens=False,
        )
        torch.manual_seed(batch_seed(seed, b // 16))
        gen = model.generate(
            **shared_prompt_inputs(model, enc, K),
            max_new_tokens=32,
            do_sample=True,
            temperature=0.7,
            top_p=0.95,
            top_k=0,
            pad_token_id=tok.pad_token_id,
            eos_token_id=sorted(eos),
        )
        new = gen[:, enc["input_ids"].shape[1] :].tolist()
        out += [[_decode(tok, ids, eos) for ids in new[i * K : (i + 1) * K]] for i in range(len(new) // K)]
    return out


for seed in (0, 1):
    for name in ("old", "new"):
        t = time.perf_counter()
        rows = (
            old(seed)
            if name == "old"
            else HFSampler(model, tok, 16).generate(
                prompts, K, temperature=0.7, top_p=0.95, max_new_tokens=32, seed=seed
            )
        )
        s = score(rows)
        fin = [g.finished for gs in rows for g in gs]
        print(
            f"seed {seed} {name}: mean score {st.mean(s):.3f} (sd {st.pstdev(s):.2f}, n {len(s)}), finished {st.mean(fin):.3f}, mean tokens {st.mean(g.tokens for gs in rows for g in gs):.1f}, {time.perf_counter() - t:.0f} s",
            flush=True,
        )
