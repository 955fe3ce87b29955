"""dno's vLLM sampler against its HF sampler, each in float32 and bfloat16, same prompts and settings, one run.

    .venv-vllm/bin/python benchmarks/vllm_vs_hf.py [--prompts 32] [--k 6] [--max-new-tokens 32]
        [--cpus 0,1] [--repeats 2] [--model smollm2-135m-instruct] [--batch-size 8]

Needs vLLM (its CPU build on a machine without CUDA: `bash scripts/install.sh --vllm`). Each variant runs in a
child process of its own, one after another, restricted to the same CPUs (`--cpus`, default: all this process may
use) with as many threads: `torch.set_num_threads` for the HF sampler, `VLLM_CPU_OMP_THREADS_BIND` for vLLM's CPU
worker (vLLM's engine-core process shares those CPUs). Each child starts its sampler (not timed in tokens/s), makes
a warm-up call (all prompts, 4 new tokens), then `--repeats` timed calls of `generate(prompts, k)` at temperature 0.7 / top-p 0.95; the
figure is the median of generated tokens (up to the end-of-sequence token, `Generation.tokens`) per second. The
ratios are to the faster HF variant (bf16 only wins where the CPU computes it natively): the anchor at its best.
vLLM runs `dno.generation.vllm.VLLMSampler` with the sample config's defaults, as `sample.backend: vllm` would.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics as st
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VARIANTS = ("hf-float32", "hf-bfloat16", "vllm-float32", "vllm-bfloat16")


def child(args) -> dict:
    """One variant in this process: start the sampler, warm up, time `--repeats` calls."""
    cpus = [int(c) for c in args.cpus.split(",")]
    os.sched_setaffinity(0, cpus)
    t0 = time.perf_counter()
    import torch

    from dno import models
    from dno.config import DataConfig, SampleConfig
    from dno.data import make_splits

    backend, dtype = args.child.split("-")
    path = models.resolve(args.model)
    prompts = make_splits(DataConfig(prompts_per_iteration=args.prompts), 1)["train1"][: args.prompts]
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
    sampler.generate(prompts, args.k, max_new_tokens=4, **settings)  # warm-up at the timed shapes, not timed
    runs = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        gens = sampler.generate(prompts, args.k, max_new_tokens=args.max_new_tokens, **settings)
        secs = time.perf_counter() - t
        runs.append({"tokens": sum(g.tokens for gs in gens for g in gs), "seconds": secs})
    return {
        "variant": args.child,
        "threads": len(cpus),
        "start_s": start_s,
        "runs": runs,
        "torch_threads": torch.get_num_threads(),
    }


def run_child(variant: str, args) -> dict | None:
    """The child's result; None (and its output's tail printed) when it fails or runs past `--timeout`, after
    its whole process group (vLLM's engine-core and worker processes too) is killed."""
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(len(args.cpus.split(","))),
        "VLLM_CPU_OMP_THREADS_BIND": args.cpus,
        "VLLM_LOGGING_LEVEL": "WARNING",
        "TOKENIZERS_PARALLELISM": "false",
    }
    cmd = [sys.executable, __file__, "--child", variant, *sys.argv[1:]]
    proc = subprocess.Popen(
        cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=args.timeout)
        why = f"exit {proc.returncode}"
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        why = f"timed out after {args.timeout} s"
    line = next((x for x in out.splitlines() if x.startswith("RESULT ")), None)
    if proc.returncode or line is None:
        print(f"  {variant:14s} failed ({why}):\n{out[-2000:]}\n{err[-3000:]}", flush=True)
        return None
    return json.loads(line[len("RESULT ") :])


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
    ap.add_argument(
        "--cpus",
        default=",".join(map(str, sorted(os.sched_getaffinity(0)))),
        help="CPU ids every variant runs on (as many threads)",
    )
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--timeout", type=int, default=1200, help="seconds a variant may run (start-up included)")
    ap.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    ap.add_argument("--save", action="store_true", help="keep the figures in docs/results/bench_vllm_vs_hf.json")
    args = ap.parse_args()
    if args.child:
        print("RESULT " + json.dumps(child(args)), flush=True)
        return
    from record import Record

    rec = Record("vllm_vs_hf")

    print(
        f"{args.model}: {args.prompts} prompts x {args.k} samples, {args.max_new_tokens} new tokens, temperature "
        f"{args.temperature}, top-p {args.top_p}; CPUs {args.cpus}; {args.repeats} timed calls per variant",
        flush=True,
    )
    results = {}
    for variant in args.variants.split(","):
        res = run_child(variant, args)
        if res is None:
            continue
        results[variant] = res
        runs = ", ".join(f"{r['tokens']} tok in {r['seconds']:.1f} s" for r in res["runs"])
        print(f"  {variant:14s} start {res['start_s']:5.1f} s | {runs} | {tokens_per_s(res):6.1f} tokens/s", flush=True)

    def fastest(backend: str) -> str | None:
        names = [v for v in results if v.startswith(backend + "-")]
        return max(names, key=lambda v: tokens_per_s(results[v])) if names else None

    best_hf, best_vllm = fastest("hf"), fastest("vllm")
    hf = tokens_per_s(results[best_hf]) if best_hf else None
    rec.table(
        "variants",
        ["variant", "start-up", "tokens/s (median)", "/ fastest HF"],
        [
            [v, f"{r['start_s']:.0f} s", f"{tokens_per_s(r):.1f}", f"{tokens_per_s(r) / hf:.2f}x" if hf else "–"]
            for v, r in results.items()
        ],
        note=f"{args.prompts} prompts x {args.k} samples, {args.max_new_tokens} new tokens, CPUs {args.cpus}",
    )
    if hf and best_vllm:
        ratio = tokens_per_s(results[best_vllm]) / hf
        rec.headline_row(
            f"vLLM ({best_vllm}) / HF sampler ({best_hf}), tokens/s, this machine",
            f"**{ratio:.2f}x**",
            "≥ 3x",
            "yes" if ratio >= 3 else "no",
        )
    rec.finish(args.save, raw=results)


if __name__ == "__main__":
    main()
