"""The project's sampler against a plain `model.generate` loop on the same prompts and settings, in one run.

    .venv/bin/python benchmarks/sampling.py [--prompts 16] [--k 4] [--max-new-tokens 32] [--batch-size 8] [--repeats 2]
    .venv/bin/python benchmarks/sampling.py --vllm      # on a GPU node with vLLM: also vLLM against transformers

Both sides get the same model object, the same chat-template prompts, the same batches and per-batch
seeds. The plain loop is `generate` with `num_return_sequences` and transformers' own top-p warper and
whole-vocabulary draw, every row run to the longest answer of its batch; the project's sampler runs the
prompts' shared opening once and each prompt once with its KV cache copied K times, ranks and draws among the
top tokens only, and drops rows from the batch as they finish (dno/generation/hf.py, decode.py, nucleus.py).
`--plain-batch-size` gives the plain loop its own best batch. Both draw from the same
distribution, but from other random numbers (tests/unit/generation/test_nucleus.py), so the tokens differ and
the rates compare: the ratio of their tokens per second is what those changes save, net of the sampler's own
work (rendering, tokenizing, decoding, bookkeeping). They alternate (A B B A ...) within this one process;
the tokens counted are the generated ones up to the end-of-sequence token.
Target: the project's sampler at >= 0.95 of the plain loop's tokens per second.

`--vllm` (CUDA only): `dno.generation.vllm.VLLMSampler` against `HFSampler` on the GPU with the same
prompts and settings (tokens differ: vLLM's sampling is not bit-identical), tokens per second of each.
"""

from __future__ import annotations

import argparse
import statistics as st
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from dno import models  # noqa: E402
from dno.config import DataConfig  # noqa: E402
from dno.data import make_splits  # noqa: E402
from dno.generation.hf import HFSampler, _eos_ids, batch_seed  # noqa: E402
from dno.models import render_prompt  # noqa: E402


@torch.no_grad()
def plain_generate(model, tok, prompts, n, *, temperature, top_p, max_new_tokens, seed, batch_size):
    """The reference: a bare model.generate loop (same batches and seeds as HFSampler), token ids out."""
    tok.padding_side = "left"
    model.eval()
    eos = sorted(set(_eos_ids(model, tok)))
    out = []
    for b, start in enumerate(range(0, len(prompts), batch_size)):
        texts = [render_prompt(tok, p["messages"]) for p in prompts[start : start + batch_size]]
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        torch.manual_seed(batch_seed(seed, b))
        gen = model.generate(
            **enc,
            max_new_tokens=max_new_tokens,
            num_return_sequences=n,
            do_sample=True,
            temperature=temperature,
            top_p=top_p,
            top_k=0,
            pad_token_id=tok.pad_token_id,
            eos_token_id=eos,
        )
        out += gen[:, enc["input_ids"].shape[1] :].tolist()
    return out


def count_tokens(rows: list[list[int]], eos: set[int]) -> int:
    return sum(next((i for i, t in enumerate(r) if t in eos), len(r)) for r in rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--top-p", type=float, default=0.95)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--dtype", default="float32", help="policy.dtype of both sides: float32, bfloat16 or auto")
    ap.add_argument("--vllm", action="store_true", help="also vLLM against transformers (CUDA only)")
    ap.add_argument(
        "--plain-batch-size", type=int, default=0, help="the plain loop's prompts per batch (0: --batch-size)"
    )
    ap.add_argument("--save", action="store_true", help="keep the figures in docs/results/bench_NAME.json")
    ap.add_argument("--name", default="sampling", help="NAME of the saved figures (one per model measured)")
    args = ap.parse_args()
    from record import Record

    rec = Record(args.name)
    plain_batch = args.plain_batch_size or args.batch_size

    path = models.resolve(args.model)
    model, tok = models.load_policy(path, args.dtype)
    prompts = make_splits(DataConfig(prompts_per_iteration=args.prompts, test_prompts=0), 1)["train1"]
    settings = dict(temperature=args.temperature, top_p=args.top_p, max_new_tokens=args.max_new_tokens, seed=0)
    eos = set(_eos_ids(model, tok))
    sampler = HFSampler(model, tok, args.batch_size)
    print(
        f"{len(prompts)} prompts x {args.k} samples, {args.max_new_tokens} new tokens, batch {args.batch_size} "
        f"prompts, device {model.device}, {model.dtype}, {torch.get_num_threads()} threads",
        flush=True,
    )

    # warm-up, not timed: lazy imports and the first allocations of a full batch (the first large batch of a
    # process ran 1.4x slower than the next: fresh memory is page-faulted in)
    sampler.generate(prompts[: args.batch_size], args.k, **{**settings, "max_new_tokens": 8})

    res = {"dno": [], "plain": []}
    rows = []
    for r in range(args.repeats):
        order = ("dno", "plain") if r % 2 == 0 else ("plain", "dno")
        for v in order:
            t = time.perf_counter()
            if v == "dno":
                gens = sampler.generate(prompts, args.k, **settings)
                secs = time.perf_counter() - t
                n_tok = sum(g.tokens for gs in gens for g in gs)
            else:
                out = plain_generate(model, tok, prompts, args.k, batch_size=plain_batch, **settings)
                secs = time.perf_counter() - t
                n_tok = count_tokens(out, eos)
            res[v].append(n_tok / secs)
            print(f"  {v:5s} {n_tok} tokens in {secs:.1f} s: {n_tok / secs:.1f} tokens/s", flush=True)
        rows.append([f"{r + 1} ({', '.join(order)})", f"{res['dno'][-1]:.1f}", f"{res['plain'][-1]:.1f}"])
    ratios = [d / p for d, p in zip(res["dno"], res["plain"])]
    for row, x in zip(rows, ratios):
        row.append(f"{x:.2f}")
    rec.table(
        "alternations",
        ["alternation (run order)", "HFSampler (dno), tokens/s", "plain `model.generate` loop, tokens/s", "ratio"],
        rows,
        note=f"{args.model}: {len(prompts)} prompts x {args.k} samples, {args.max_new_tokens} new tokens, batch "
        f"{args.batch_size} (plain loop {plain_batch}), "
        f"{model.dtype}, {torch.get_num_threads()} threads; the sides draw other tokens from the same "
        "distribution: rates compared",
    )
    rec.headline_row(
        "HFSampler / plain `model.generate` loop, tokens/s",
        f"**{st.median(ratios):.2f}** ({', '.join(f'{x:.2f}' for x in ratios)})",
        "≥ 0.95",
        "yes" if st.median(ratios) >= 0.95 else "no",
    )

    if args.vllm and (out := vllm_against_hf(path, sampler, prompts, settings, args)):
        ratio = st.median(out["vllm"]) / st.median(out["hf"])
        rec.headline_row(
            "vLLM / transformers on the GPU, tokens/s", f"**{ratio:.1f}x**", "≥ 10x", "yes" if ratio >= 10 else "no"
        )
        res.update(out)
    rec.finish(args.save, raw=res)


def vllm_against_hf(path, sampler, prompts, settings, args) -> dict | None:
    """Tokens/s of `VLLMSampler` and of `sampler` on the GPU, alternating; None (said why) where vLLM cannot run."""
    if not torch.cuda.is_available():
        print("vLLM comparison skipped: no CUDA device")
        return None
    from types import SimpleNamespace

    from dno.generation.vllm import VLLMSampler

    cfg = SimpleNamespace(
        temperature=args.temperature,
        top_p=args.top_p,
        max_new_tokens=args.max_new_tokens,
        tensor_parallel_size=1,
        gpu_memory_utilization=0.5,
        max_model_len=2048,
        enforce_eager=False,
    )
    try:
        v = VLLMSampler(path, cfg, dtype="float32")
    except Exception as e:  # noqa: BLE001
        print(f"vLLM comparison skipped: {e}")
        return None
    out = {"vllm": [], "hf": []}
    for r in range(args.repeats):
        for name in ("vllm", "hf") if r % 2 == 0 else ("hf", "vllm"):
            t = time.perf_counter()
            gens = (v if name == "vllm" else sampler).generate(prompts, args.k, **settings)
            secs = time.perf_counter() - t
            n_tok = sum(g.tokens for gs in gens for g in gs)
            out[name].append(n_tok / secs)
            print(f"  {name:5s} {n_tok} tokens in {secs:.2f} s: {n_tok / secs:.0f} tokens/s", flush=True)
    return out


if __name__ == "__main__":
    main()
