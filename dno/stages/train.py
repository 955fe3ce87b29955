"""Train: π_{t-1} → π_t on this iteration's pairs (plus replayed ones), through the one training loop.

In a plain process it trains on one device; under `accelerate launch` every process runs this stage and
only the main process writes train_log.jsonl, train_summary.json and policy/.
"""

from __future__ import annotations

import contextlib
import math
from collections import Counter

from dno import io, models
from dno.preferences.replay import sample_replay
from dno.run.rundir import RunDir
from dno.stages.common import bar, pair_messages
from dno.training import tracking
from dno.training.logprobs import encode
from dno.training.loop import PairBatchItem, is_main_process, save_policy
from dno.training.loop import train as train_policy


def training_pairs(run: RunDir, t: int) -> list[dict]:
    """This iteration's pairs plus replayed pairs of earlier iterations (SFT: each chosen response once)."""
    cfg = run.cfg.train
    current = io.read_jsonl(run.iter_dir(t) / "pairs.jsonl")
    earlier = [io.read_jsonl(run.iter_dir(k) / "pairs.jsonl") for k in range(t - 1, 0, -1)]
    pairs = current + sample_replay(earlier, len(current), cfg.replay_fraction, cfg.replay_decay, seed=cfg.seed + t)
    if cfg.loss == "sft":
        seen: set[tuple[str, str]] = set()
        pairs = [p for p in pairs if (p["id"], p["chosen"]) not in seen and not seen.add((p["id"], p["chosen"]))]
    return pairs


def train(run: RunDir, t: int) -> None:
    d, cfg = run.iter_dir(t), run.cfg.train
    pairs = training_pairs(run, t)
    prompts = {p["id"]: p for k in range(1, t + 1) for p in io.read_jsonl(run.iter_dir(k) / "prompts.jsonl")}
    # float32 master weights whatever policy.dtype (the sampling dtype) is: see train.mixed_precision
    model, tok = models.load_policy(
        run.policy(t - 1), "float32", device="cpu", chat_template=run.cfg.policy.chat_template
    )
    items = [
        PairBatchItem(
            encode(tok, pair_messages(p, prompts), p["chosen"], p["chosen_finished"]),
            encode(tok, pair_messages(p, prompts), p["rejected"], p["rejected_finished"]),
            p["target"],
            p.get("chosen_rate", 1.0),
            p.get("rejected_rate", 0.0),
        )
        for p in pairs
    ]
    load_reference = None
    if cfg.reference == "initial" and t > 1:

        def load_reference():  # π_0, loaded by the training loop for its reference pass only
            return models.load_policy(run.policy(0), "float32", device="cpu")[0]

    lr = cfg.lr * cfg.lr_decay ** (t - 1)
    main = is_main_process()
    steps = math.ceil(len(items) / cfg.batch_size) * cfg.epochs
    progress = bar(steps, f"iter {t} train (lr={lr:.2g})", unit="step") if main else contextlib.nullcontext()
    tracker = tracking.open_tracker(run, t) if main else contextlib.nullcontext()
    with progress as progress, tracker as on_step:
        trained = train_policy(
            model,
            items,
            cfg,
            pad_id=tok.pad_token_id,
            lr=lr,
            seed=cfg.seed + t,
            load_reference=load_reference,
            progress=progress,
            on_step=on_step,
        )
    if not trained.is_main:
        return
    history = trained.history
    io.write_jsonl(d / "train_log.jsonl", history)
    replayed = Counter(p["replay_from"] for p in pairs if "replay_from" in p)
    io.write_json(
        d / "train_summary.json",
        {
            "pairs": len(pairs),
            "replayed_from": {f"t-{k}": n for k, n in sorted(replayed.items())},
            "loss": cfg.loss,
            "lr": lr,
            "beta": cfg.beta,
            "reference": cfg.reference if t > 1 else "previous",
            "steps": len(history),
            "final_loss": history[-1]["loss"] if history else None,
            "backend": trained.backend,
            "mixed_precision": trained.mixed_precision,
            "gradient_accumulation_steps": cfg.gradient_accumulation_steps,
            "gradient_checkpointing": cfg.gradient_checkpointing,
            "lora_r": cfg.lora_r,
            # each pair is one row: its prompt once, then both responses (for tokens/s in the report)
            "tokens_per_epoch": sum(len(i.chosen.ids) + len(i.rejected.ids) - i.chosen.prompt_len for i in items),
            "epochs": cfg.epochs,
        },
    )
    save_policy(trained, tok, d)
