"""dno's vLLM sampler (float32 and bfloat16) against its HF sampler (float32), same prompts and settings, one run.

    /work/vllm-venv/bin/python benchmarks/vllm_vs_hf.py [--prompts 32] [--k 6] [--max-new-tokens 32]
        [--cpus 0,1] [--repeats 2] [--model smollm2-135m-instruct] [--batch-size 8]

Needs vLLM (its CPU build on a machine without CUDA: `bash scripts/install.sh --vllm`). Each variant runs in a
child process of its own, one after another, restricted to the same CPUs (`--cpus`, default: all this process may
use) with as many threads: `torch.set_num_threads` for the HF sampler, `VLLM_CPU_OMP_THREADS_BIND` for vLLM's CPU
worker (vLLM's engine-core process shares those CPUs). Each child starts its sampler (not timed in tokens/s), makes
a small warm-up call, then `--repeats` timed calls of `generate(prompts, k)` at temperature 0.7 / top-p 0.95; the
figure is the median of generated tokens (up to the end-of-sequence token, `Generation.tokens`) per second.
vLLM runs `dno.generation.vllm.VLLMSampler` with the sample config's defaults, as `sample.backend: vllm` would.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics as st
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VARIANTS = ("hf-float32", "vllm-float32", "vllm-bfloat16")


def child(args) -> dict:
    """One variant in this process: start the sampler, warm up, time `--repeats` calls."""
    cpus = [int(c) for c in args.cpus.split(",")]
    os.sched_setaffinity(0, cpus)
    t0 = time.perf_counter()
    import torch

    from dno import models
    from dno.config import DataConfig, SampleConfig
    from dno.tasks import make_splits

    backend, dtype = args.child.split("-")
    path = models.resolve(args.model)
    prompts = make_splits(DataConfig(prompts_per_iteration=args.prompts), 1)["train1"][:args.prompts]
    if backend == "hf":
        from dno.generation.hf import HFSampler

        torch.set_num_threads(len(cpus))
        model, tok = models.load_policy(path, dtype, "cpu")
        sampler = HFSampler(model, tok, args.batch_size)
    else:
        from dno.generation.vllm import VLLMSampler

        sampler = VLLMSampler(path, SampleConfig(backend="vllm"), dtype=dtype, seed=0)
    start_s = time.perf_counter() - t0
    settings = dict(temperature=args.temperature, top_p=args.top_p, seed=0)
    sampler.generate(prompts[:2], 2, max_new_tokens=4, **settings)  # warm-up, not timed
    runs = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        gens = sampler.generate(prompts, args.k, max_new_tokens=args.max_new_tokens, **settings)
        secs = time.perf_counter() - t
        runs.append({"tokens": sum(g.tokens for gs in gens for g in gs), "seconds": secs})
    return {"variant": args.child, "threads": len(cpus), "start_s": start_s, "runs": runs,
            "torch_threads": torch.get_num_threads()}


def run_child(variant: str, args) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(len(args.cpus.split(","))),
           "VLLM_CPU_OMP_THREADS_BIND": args.cpus, "VLLM_LOGGING_LEVEL": "WARNING", "TOKENIZERS_PARALLELISM": "false"}
    cmd = [sys.executable, __file__, "--child", variant, *sys.argv[1:]]
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    if proc.returncode or line is None:
        sys.exit(f"{variant} failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    return json.loads(line[len("RESULT "):])


def tokens_per_s(result: dict) -> float:
    return st.median(r["tokens"] / r["seconds"] for r in result["runs"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--k", type=int, default=6)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--top-p", type=float, default=0.95)
    ap.add_argument("--batch-size", type=int, default=8, help="the HF sampler's prompts per batch")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--cpus", default=",".join(map(str, sorted(os.sched_getaffinity(0)))),
                    help="CPU ids every variant runs on (as many threads)")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print("RESULT " + json.dumps(child(args)), flush=True)
        return

    print(f"{args.model}: {args.prompts} prompts x {args.k} samples, {args.max_new_tokens} new tokens, temperature "
          f"{args.temperature}, top-p {args.top_p}; CPUs {args.cpus}; {args.repeats} timed calls per variant", flush=True)
    results = {}
    for variant in args.variants.split(","):
        res = results[variant] = run_child(variant, args)
        runs = ", ".join(f"{r['tokens']} tok in {r['seconds']:.1f} s" for r in res["runs"])
        print(f"  {variant:14s} start {res['start_s']:5.1f} s | {runs} | {tokens_per_s(res):6.1f} tokens/s", flush=True)
    if "hf-float32" in results:
        hf = tokens_per_s(results["hf-float32"])
        for variant in results:
            if variant.startswith("vllm"):
                print(f"  {variant} / hf-float32: {tokens_per_s(results[variant]) / hf:.2f}x")


if __name__ == "__main__":
    main()
