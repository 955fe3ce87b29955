"""The project's training step against TRL's `DPOTrainer`, on the same pairs, in one run.

    .venv/bin/python benchmarks/training.py [--pairs 16] [--batch-size 8] [--repeats 2] [--pairs-from RUN/iter_1]

Seconds per pair = training seconds / (pairs x epochs): one pair trained once. With E epochs the
`dno` side does 6E+2 units of work (N·T each) against TRL's 8E: 1.0x at E=1, 1.14x at E=2, towards 1.33x.

Each variant runs in a child process of its own, so that its peak resident memory (ru_maxrss) is its
own; the children alternate (A B B A ...) so that load from other processes on a shared machine falls
on both alike. Reported side by side: seconds per pair, peak RSS, and the ratios.

- `dno`: `dno.training.loop.train` for one epoch: π_t's log-probabilities once (a no-grad pass over every
  pair), then one forward+backward per batch of pairs, chosen and rejected in one forward.
- `dno-unpacked`: the same, with chosen and rejected as separate rows (the shared prompt run twice), as
  before `dno.training.logprobs.packed_pair_logps`: the before/after of that change, side by side.
- `dno-unfused`: separate rows and `sequence_logps` as it was before the vocabulary projection was limited
  to response positions (full (B, T, V) logits): the before/after of that earlier change.
- `dno-no-prefix`: `dno` with every pair running the opening all prompts share (the chat template's system
  prompt), as before that opening ran once per batch: the before/after of that change.
- `dno-pair-rows`: `dno` with one pair to a packed row, padded to the batch's longest, as before several pairs
  shared a row: the before/after of that change. `dno-pair-rows-no-prefix`: before both.
- `dno-stock-mlp`: `dno` with the MLP's activations kept as transformers' code makes them, without
  `dno.training.lean`: the before/after of that change.
- `trl`: `trl.DPOTrainer` with its default reference handling (`ref_model=None`: it loads a second
  copy of the model and runs a no-grad reference forward in every step), `max_steps` = the same number
  of optimizer steps, the same batch size, learning rate, β and fp32 precision. TRL's gradient
  checkpointing and bf16 defaults are switched off so both sides compute the same thing
  (`--trl-defaults` keeps them, to see TRL exactly as shipped).
- `trl-precompute`: the same with `precompute_ref_log_probs=True`, TRL's strongest setting here: the reference
  log-probabilities once, in the trainer's constructor (timed), and no second model copy. `padding_free=True`,
  the other setting a TRL user would turn on, is disabled in TRL 1.16 (it falls back to padding with a
  warning), so it is not a variant.

`--precision` (default `auto`: `train.mixed_precision: auto`'s rule, float32 on a CPU; `bf16` is TRL's
fastest setting on a CPU with AMX) sets both sides' compute precision alike: bf16 autocast over float32 weights (TRL's `bf16=True`), or fp32.

The `dno` child also measures a matrix-multiply peak (`torch.matmul` in that precision, 2048², best of several)
before and after training, in the same process, and reports the training step's achieved FLOP/s
against it. FLOPs counted: 6·N·T for the trained forward+backward plus 2·N·T for the no-grad reference
pass, N = the parameters that take part in matrix multiplies (the tied embedding counted once, as the
LM head), T = real (non-pad) tokens; attention's T² terms are left out (small at these lengths). This is
the "model FLOPs" convention: work the implementation avoids (e.g. LM-head rows on prompt positions, or
the second copy of a shared prompt) still counts, as it does for any MFU figure. Because prompt sharing
avoids a third of the tokens, the script also prints "hardware" FLOP/s, with T = the tokens the packed
rows really compute (prompt once, both responses), which is the figure to hold against the matmul peak.

Pairs: by default synthetic, built from the built-in task prompts with deterministic chosen/rejected
responses of the lengths a default run produces (short answers against ~30-token ramblings);
`--pairs-from DIR` takes DIR/pairs.jsonl and DIR/prompts.jsonl of a real run instead.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RAMBLE = (
    "Well, that is a really interesting question and there are many different ways to think about it, "
    "so let me explain the whole thing step by step from the very beginning for you."
)
NICE = ["It is lovely and warm.", "Bright, calm and kind.", "A simple, pleasant thing.", "Short and sweet, really."]


VARIANTS = (
    "dno",
    "dno-unpacked",
    "dno-unfused",
    "dno-no-prefix",
    "dno-pair-rows",
    "dno-pair-rows-no-prefix",
    "dno-stock-mlp",
    "trl",
    "trl-precompute",
)
UNPACKED = ("dno-unpacked", "dno-unfused")  # chosen and rejected as separate rows: every token computed


def synthetic_pairs(n: int, seed: int = 7) -> list[dict]:
    from dno.config import DataConfig
    from dno.data import make_splits

    prompts = make_splits(DataConfig(prompts_per_iteration=n, test_prompts=0), 1)["train1"]
    out = []
    for i, p in enumerate(prompts):
        chosen = str(p["answer"]) if "answer" in p else NICE[i % len(NICE)]
        rejected = RAMBLE if i % 2 else f"The answer is {p.get('answer', 'unclear')}. " + RAMBLE[: 60 + 7 * (i % 5)]
        out.append(
            {
                "messages": p["messages"],
                "chosen": chosen,
                "rejected": rejected,
                "chosen_finished": True,
                "rejected_finished": i % 3 != 0,
            }
        )
    return out


def run_pairs(src: str | None, n: int) -> list[dict]:
    if not src:
        return synthetic_pairs(n)
    prompts = {json.loads(x)["id"]: json.loads(x) for x in open(Path(src) / "prompts.jsonl")}
    rows = [json.loads(x) for x in open(Path(src) / "pairs.jsonl")][:n]
    return [
        {
            "messages": prompts[r["id"]]["messages"],
            "chosen": r["chosen"],
            "rejected": r["rejected"],
            "chosen_finished": r["chosen_finished"],
            "rejected_finished": r["rejected_finished"],
        }
        for r in rows
    ]


def matmul_peak(size: int = 2048, reps: int = 5, dtype: str = "no") -> float:
    """Best matmul FLOP/s over a few repetitions (2·n³ per product), in the training's compute dtype."""
    import torch

    dt = torch.bfloat16 if dtype == "bf16" else torch.float32
    a, b = torch.randn(size, size, dtype=dt), torch.randn(size, size, dtype=dt)
    torch.matmul(a, b)
    best = 0.0
    for _ in range(reps):
        t = time.perf_counter()
        torch.matmul(a, b)
        best = max(best, 2 * size**3 / (time.perf_counter() - t))
    return best


def matmul_params(model) -> int:
    """Parameters used in matrix multiplies: all but norms and biases; a tied embedding counts once (LM head)."""
    seen, n = set(), 0
    for p in model.parameters():
        if id(p) not in seen and p.dim() == 2:
            seen.add(id(p))
            n += p.numel()
    return n


def unfused_sequence_logps(model, seqs, pad_id, device=None):
    """dno.training.logprobs.sequence_logps as it was before the LM head was restricted to response positions
    (full (B, T, V) logits, cross-entropy over every position, masked): the `dno-unfused` variant."""
    import torch

    from dno.training.logprobs import collate

    ids, attn, resp = collate(seqs, pad_id, model.device)
    logits = model(input_ids=ids, attention_mask=attn).logits[:, :-1]  # (B, T-1, V)
    token_logps = -torch.nn.functional.cross_entropy(
        logits.transpose(1, 2).float(), ids[:, 1:], reduction="none"
    )  # (B, T-1)
    return (token_logps * resp[:, 1:]).sum(-1)


def child(args) -> dict:
    import torch

    from dno import models
    from dno.config import TrainConfig
    from dno.training import logprobs, loop
    from dno.training.logprobs import encode
    from dno.training.loop import PairBatchItem, train

    if args.variant in UNPACKED:
        loop.pair_logps = logprobs.separate_pair_logps
    if args.variant == "dno-unfused":
        logprobs.sequence_logps = unfused_sequence_logps
    if args.variant.endswith("no-prefix"):  # every pair runs the prompts' shared opening
        loop._prefix = lambda items: 0
    if args.variant.startswith("dno-pair-rows"):  # one pair to a row
        logprobs.ROW_TOKENS = 1
    if args.variant == "dno-stock-mlp":  # autograd keeps the MLP's activations as transformers' code makes them
        loop.lean_activations = lambda model: contextlib.nullcontext()

    torch.manual_seed(0)
    path = models.resolve(args.model)
    model, tok = models.load_policy(path)
    pairs = run_pairs(args.pairs_from, args.pairs)
    steps = -(-len(pairs) // args.batch_size) * args.epochs
    enc = [
        (
            encode(tok, p["messages"], p["chosen"], p["chosen_finished"]),
            encode(tok, p["messages"], p["rejected"], p["rejected_finished"]),
        )
        for p in pairs
    ]
    real_tokens = sum(len(c.ids) + len(r.ids) for c, r in enc)
    resp_tokens = sum(len(c.ids) - c.prompt_len + len(r.ids) - r.prompt_len for c, r in enc)
    n_mm = matmul_params(model)
    res = {
        "variant": args.variant,
        "pairs": len(pairs),
        "steps": steps,
        "tokens": real_tokens,
        "response_tokens": resp_tokens,
        "matmul_params": n_mm,
        "threads": torch.get_num_threads(),
    }
    if args.variant.startswith("dno"):
        peak = matmul_peak(dtype=args.precision)
        items = [PairBatchItem(c, r) for c, r in enc]
        t = time.perf_counter()
        cfg = TrainConfig(
            beta=0.1,
            epochs=args.epochs,
            batch_size=args.batch_size,
            max_grad_norm=1.0,
            weight_decay=0.0,
            nll_weight=0.0,  # TRL's loss: DPO alone
            mixed_precision=args.precision,
        )
        hist = train(model, items, cfg, pad_id=tok.pad_token_id, lr=args.lr, seed=0).history
        secs = time.perf_counter() - t
        res["matmul_peak_flops"] = max(peak, matmul_peak(dtype=args.precision))
        res["final_loss"] = hist[-1]["loss"]
        flops = (6 * args.epochs + 2) * n_mm * real_tokens  # trained passes + one reference pass
        computed = (
            real_tokens if args.variant in UNPACKED else sum(len(c.ids) + len(r.ids) - r.prompt_len for c, r in enc)
        )
        if args.variant not in UNPACKED:  # the shared opening: once per batch, not once per pair
            computed -= loop._prefix(items) * (len(items) - -(-len(items) // args.batch_size))
        res["hardware_fraction_of_matmul_peak"] = (
            (6 * args.epochs + 2) * n_mm * computed / secs / res["matmul_peak_flops"]
        )
    else:
        from datasets import Dataset
        from trl import DPOConfig, DPOTrainer

        ds = Dataset.from_list(
            [
                {
                    "prompt": p["messages"],
                    "chosen": [{"role": "assistant", "content": p["chosen"]}],
                    "rejected": [{"role": "assistant", "content": p["rejected"]}],
                }
                for p in pairs
            ]
        )
        # both sides compute in the same precision (bf16 autocast over float32 weights, or float32)
        extra = {} if args.trl_defaults else {"bf16": args.precision == "bf16", "gradient_checkpointing": False}
        if args.variant == "trl-precompute":  # π_t's log-probabilities once, before training, as dno does
            extra["precompute_ref_log_probs"] = True
        cfg = DPOConfig(
            output_dir=str(Path(args.tmp) / "trl_out"),
            per_device_train_batch_size=args.batch_size,
            max_steps=steps,
            learning_rate=args.lr,
            beta=0.1,
            lr_scheduler_type="constant",
            warmup_steps=0,
            max_grad_norm=1.0,
            weight_decay=0.0,
            report_to=[],
            use_cpu=True,
            logging_steps=1,
            save_strategy="no",
            seed=0,
            dataloader_num_workers=0,
            disable_tqdm=True,
            **extra,
        )
        t = time.perf_counter()  # trl-precompute: its reference pass runs in the constructor, so it is timed
        trainer = DPOTrainer(model=model, ref_model=None, args=cfg, train_dataset=ds, processing_class=tok)
        if args.variant == "trl":  # the second model copy's loading is not training work: not timed
            t = time.perf_counter()
        out = trainer.train()
        secs = time.perf_counter() - t
        res["final_loss"] = out.training_loss
        res["trl_has_ref_model"] = trainer.ref_model is not None
        # trained passes + a reference pass in every step, or once before training
        flops = (8 * args.epochs if args.variant == "trl" else 6 * args.epochs + 2) * n_mm * real_tokens
    res.update(
        seconds=secs,
        seconds_per_pair=secs / (len(pairs) * args.epochs),
        seconds_per_step=secs / steps,
        flops=flops,
        achieved_flops=flops / secs,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    if "matmul_peak_flops" in res:
        res["fraction_of_matmul_peak"] = res["achieved_flops"] / res["matmul_peak_flops"]
    return res


def spawn(variant: str, args) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        variant,
        "--pairs",
        str(args.pairs),
        "--batch-size",
        str(args.batch_size),
        "--epochs",
        str(args.epochs),
        "--lr",
        str(args.lr),
        "--model",
        args.model,
        "--tmp",
        args.tmp,
        "--precision",
        args.precision,
    ]
    if args.pairs_from:
        cmd += ["--pairs-from", args.pairs_from]
    if args.trl_defaults:
        cmd.append("--trl-defaults")
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false", TRANSFORMERS_VERBOSITY="error")
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = [x for x in p.stdout.splitlines() if x.startswith("RESULT ")]
    if p.returncode or not lines:
        sys.exit(f"{variant} child failed ({p.returncode}):\n{p.stderr[-4000:]}")
    return json.loads(lines[-1][7:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-5)
    ap.add_argument("--epochs", type=int, default=1, help="passes over the pairs (the default config trains 2)")
    ap.add_argument("--repeats", type=int, default=2, help="children per variant, alternating A B B A ...")
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--pairs-from", default="", help="a run's iteration directory (pairs.jsonl + prompts.jsonl)")
    ap.add_argument("--trl-defaults", action="store_true", help="keep TRL's bf16 and gradient checkpointing defaults")
    ap.add_argument("--variants", default="dno,trl-precompute,trl", help="comma-separated: " + ", ".join(VARIANTS))
    ap.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "no", "bf16"],
        help="compute precision of both sides; auto: train.mixed_precision's rule (float32 on a CPU)",
    )
    ap.add_argument(
        "--save", action="store_true", help="keep the figures in docs/results/bench_training.json (_bf16.json in bf16)"
    )
    ap.add_argument("--child", default="", help=argparse.SUPPRESS)
    ap.add_argument("--tmp", default="/tmp/dno_bench_training", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        args.variant = args.child
        print("RESULT " + json.dumps(child(args)), flush=True)
        return

    from record import Record

    from dno.precision import train_mixed_precision

    args.precision = train_mixed_precision(args.precision, "cpu") or "no"
    rec = Record("training" if args.precision == "no" else f"training_{args.precision}")  # one file per precision
    variants = args.variants.split(",")
    order = []
    for r in range(args.repeats):
        order += variants if r % 2 == 0 else variants[::-1]
    results: dict[str, list[dict]] = {v: [] for v in variants}
    for v in order:
        r = spawn(v, args)
        results[v].append(r)
        print(
            f"  {v}: {r['seconds']:.1f} s for {r['pairs']} pairs ({r['seconds_per_pair']:.2f} s/pair), "
            f"peak RSS {r['peak_rss_mb']:.0f} MB, {r['achieved_flops'] / 1e9:.1f} GFLOP/s"
            + (f", matmul peak {r['matmul_peak_flops'] / 1e9:.1f} GFLOP/s" if "matmul_peak_flops" in r else ""),
            flush=True,
        )

    import statistics as st

    def med(v, k):
        return st.median(x[k] for x in results[v])

    def runs(xs, fmt=".2f"):
        return ", ".join(format(x, fmt) for x in xs)

    first = results[variants[0]][0]
    rec.table(
        "variants",
        [
            "variant",
            "s/pair",
            "s/step",
            "peak RSS",
            "model GFLOP/s",
            "/ matmul peak (model)",
            "/ matmul peak (hardware)",
        ],
        [
            [
                v,
                f"{med(v, 'seconds_per_pair'):.2f}",
                f"{med(v, 'seconds_per_step'):.2f}",
                f"{med(v, 'peak_rss_mb'):.0f} MB",
                f"{med(v, 'achieved_flops') / 1e9:.0f}",
                *(
                    [
                        f"{med(v, k):.2f} ({runs(x[k] for x in results[v])})"
                        for k in ("fraction_of_matmul_peak", "hardware_fraction_of_matmul_peak")
                    ]
                    if v.startswith("dno")
                    else ["–", "–"]
                ),
            ]
            for v in variants
        ],
        note=f"{first['pairs']} pairs x {args.epochs} epochs, batch {args.batch_size}, {first['steps']} steps, "
        f"{first['tokens']} real tokens ({first['response_tokens']} response tokens), {first['threads']} torch threads, "
        f"compute precision {args.precision} on both sides; "
        f"medians of {args.repeats} alternations, per alternation in brackets",
    )
    if "dno" in results:
        fr = [x["fraction_of_matmul_peak"] for x in results["dno"]]
        hw = [x["hardware_fraction_of_matmul_peak"] for x in results["dno"]]
        rec.headline_row(
            f"dno training FLOP/s / {'bf16' if args.precision == 'bf16' else 'fp32'} matmul peak (same process), "
            "tokens computed",
            f"**{st.median(hw):.2f}** ({runs(hw)}); {st.median(fr):.2f} counting the shared prompt twice",
            "≥ 0.65",
            "yes" if st.median(hw) >= 0.65 else "no",
        )
    ratio_rows = []
    trls = [v for v in variants if v.startswith("trl")]
    strongest = min(trls, key=lambda v: med(v, "seconds_per_pair")) if trls else None  # the anchor at its best
    for a, b, what in (
        ("dno", "trl-precompute", "TRL's reference pass once, as dno's"),
        ("dno", "trl", "TRL's defaults: a reference forward every step"),
        ("dno-unpacked", "trl", "before the packing change"),
        ("dno", "dno-unpacked", "the packing change: after / before"),
        ("dno-unfused", "trl", "before both changes"),
        ("dno", "dno-unfused", "both changes: after / before"),
        ("dno", "dno-stock-mlp", "the lean MLP: after / before"),
        ("dno", "dno-no-prefix", "the shared opening once per batch: after / before"),
        ("dno", "dno-pair-rows", "several pairs to a row: after / before"),
        ("dno", "dno-pair-rows-no-prefix", "both: after / before"),
    ):
        if a in results and b in results:
            sp = [y["seconds_per_pair"] / x["seconds_per_pair"] for x, y in zip(results[a], results[b])]
            mem = [x["peak_rss_mb"] / y["peak_rss_mb"] for x, y in zip(results[a], results[b])]
            ratio_rows.append(
                [f"{a} vs {b} ({what})", f"{st.median(sp):.2f}x ({runs(sp)})", f"{st.median(mem):.2f} ({runs(mem)})"]
            )
            if a == "dno" and b == strongest:
                rec.headline_row(
                    f"dno training vs TRL `DPOTrainer` at its fastest here in {'float32' if args.precision == 'no' else args.precision} (`{b}`), speed (s/pair)",
                    f"**{st.median(sp):.2f}x** ({runs(sp)})",
                    "≥ 2.5x",
                    "yes" if st.median(sp) >= 2.5 else "no",
                )
                rec.headline_row(
                    f"dno / TRL (`{b}`) peak memory (RSS)",
                    f"**{st.median(mem):.2f}** ({runs(mem)})",
                    "≤ 0.6",
                    "yes" if st.median(mem) <= 0.6 else "no",
                )
    rec.table("ratios", ["comparison", "speed-up (per alternation)", "peak RSS ratio (per alternation)"], ratio_rows)
    rec.finish(args.save, raw=results)


if __name__ == "__main__":
    main()
