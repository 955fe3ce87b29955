"""The train stage through Hugging Face `accelerate`: one GPU, DDP over several, DeepSpeed ZeRO-3 or FSDP.

    accelerate launch --config_file configs/accelerate/ddp.yaml -m dno.cli train RUN --iter T

It is the plain loop of `dno.training.train` under an `Accelerator`, with the same semantics:

- `train.batch_size` pairs per optimizer step, whatever the number of processes: each step's pairs are
  cut into processes x `train.gradient_accumulation_steps` micro-batches, and every micro-batch's loss is
  scaled so that the gradient is the mean over the step's pairs, as in the plain loop. (A micro-batch left
  empty by a short last step runs one pair with weight 0, so every process takes part in every collective.)
- The same order of pairs (one `random.Random(seed)` shuffle per epoch) and the same AdamW, clipping and
  learning rate; in one process with no accumulation the weights equal the plain loop's.
- The reference log-probabilities are computed once before the first update with the very model about to
  be trained (DNO's π_t), each process its share, then summed across processes.
- bf16: `mixed_precision: bf16` in the accelerate config (autocast over float32 weights), or
  `policy.dtype=bfloat16` for bf16 weights. `train.gradient_checkpointing` trades compute for memory.
- `train.lora_r > 0`: peft LoRA adapters on every linear layer, merged into the weights before saving.
- Only the main process writes files (train_log.jsonl, train_summary.json, policy/).

`dno run` and `dno train` use this path when launched by `accelerate launch`, when `train.accelerate` is
true, or when LoRA, gradient checkpointing or gradient accumulation is asked for; else the plain loop.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import shutil
from collections import Counter
from typing import Sequence

import torch

from dno import io, models, training
from dno.errors import DnoError
from dno.losses import implicit_rewards

_LAUNCH_VARS = ("ACCELERATE_MIXED_PRECISION", "ACCELERATE_USE_DEEPSPEED", "ACCELERATE_USE_FSDP",
                "ACCELERATE_DYNAMO_BACKEND")


def launched_by_accelerate() -> bool:
    """True under `accelerate launch` (it exports ACCELERATE_* settings to every process)."""
    return any(v in os.environ for v in _LAUNCH_VARS)


def wanted(cfg) -> bool:
    """Whether the train stage goes through accelerate (`cfg` is the TrainConfig)."""
    return bool(getattr(cfg, "accelerate", False) or getattr(cfg, "lora_r", 0) > 0
                or getattr(cfg, "gradient_checkpointing", False)
                or getattr(cfg, "gradient_accumulation_steps", 1) > 1 or launched_by_accelerate())


def micro_batches(idx: Sequence[int], world: int, accum: int) -> list[list[int]]:
    """One optimizer step's pairs cut into world x accum contiguous parts, as evenly as possible;
    part `a * world + r` is process r's a-th micro-batch. Parts may be empty (fewer pairs than parts)."""
    parts, m = world * accum, len(idx)
    return [list(idx[j * m // parts:(j + 1) * m // parts]) for j in range(parts)]


def check_batch(batch_size: int, world: int, accum: int) -> None:
    if batch_size % (world * accum):
        raise DnoError(f"train.batch_size={batch_size} must be a multiple of processes ({world}) x "
                       f"train.gradient_accumulation_steps ({accum}) = {world * accum}: it is the pairs per optimizer step")


def epoch_batches(n: int, batch_size: int, epochs: int, seed: int) -> list[tuple[int, list[int]]]:
    """(epoch, pair indices) per optimizer step, in the plain loop's order."""
    order = list(range(n))
    rng = random.Random(seed)
    out = []
    for epoch in range(epochs):
        rng.shuffle(order)
        out += [(epoch, order[s:s + batch_size]) for s in range(0, n, batch_size)]
    return out


def _logps(model, seqs, pad_id: int, device) -> torch.Tensor:
    """Σ log π(response | prompt) per sequence, for a wrapped model (DDP, DeepSpeed, FSDP, peft): called
    through its own forward, which then returns logits only from the first response position on."""
    ids, attn, resp = training._collate(seqs, pad_id, device)
    mask = resp[:, 1:] > 0  # position t predicts token t + 1
    rows = mask.nonzero(as_tuple=True)[0]
    keep = ids.shape[1] - min(s.prompt_len for s in seqs) + 1
    logits = model(input_ids=ids, attention_mask=attn, use_cache=False, logits_to_keep=keep).logits
    logits = logits[:, :-1][mask[:, mask.shape[1] - logits.shape[1] + 1:]]  # (n, V)
    token_logps = -torch.nn.functional.cross_entropy(logits.float(), ids[:, 1:][mask], reduction="none")
    return torch.zeros(len(seqs), dtype=token_logps.dtype, device=token_logps.device).index_add(0, rows, token_logps)


def _pair_logps(model, items, idx, pad_id, device):
    from transformers import PreTrainedModel

    if isinstance(model, PreTrainedModel):  # a plain model: the plain loop's numbers, prompt-shared where possible
        return training.pair_logps(model, [items[i].chosen for i in idx], [items[i].rejected for i in idx], pad_id)
    logps = _logps(model, [items[i].chosen for i in idx] + [items[i].rejected for i in idx], pad_id, device)
    return logps[:len(idx)], logps[len(idx):]


def reference_logps(acc, model, items, pad_id: int, batch_size: int, accum: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference log-probabilities of every pair: each process its micro-batches, summed across processes.
    Every process runs the same number of forwards (an empty micro-batch runs a dummy pair)."""
    world, rank = acc.num_processes, acc.process_index
    ref_c = torch.zeros(len(items), device=acc.device)
    ref_r = torch.zeros(len(items), device=acc.device)
    model.eval()
    with torch.no_grad():
        for s in range(0, len(items), batch_size):
            idx = list(range(s, min(s + batch_size, len(items))))
            parts = micro_batches(idx, world, accum)
            for a in range(accum):
                part = parts[a * world + rank]
                with acc.autocast():
                    c, r = _pair_logps(model, items, part or idx[:1], pad_id, acc.device)
                if part:
                    ref_c[part], ref_r[part] = c.float(), r.float()
    return acc.reduce(ref_c, "sum").cpu(), acc.reduce(ref_r, "sum").cpu()


def accelerate_train(acc, model, optimizer, tokenizer, items: Sequence[training.PairBatchItem], *, beta: float,
                     epochs: int, batch_size: int, max_grad_norm: float, seed: int, loss: str = "dpo",
                     ref_logps: tuple[torch.Tensor, torch.Tensor] | None = None, progress=None, on_step=None) -> list[dict]:
    """`dno.training.train` for a model and optimizer prepared by `acc`; returns one metrics dict per step."""
    if not items:
        return []
    world, rank, accum = acc.num_processes, acc.process_index, acc.gradient_accumulation_steps
    check_batch(batch_size, world, accum)
    pad = tokenizer.pad_token_id
    if ref_logps is None:
        ref_logps = reference_logps(acc, model, items, pad, batch_size, accum)
    ref_c, ref_r = ref_logps
    model.train()
    history, step = [], 0
    for epoch, idx in epoch_batches(len(items), batch_size, epochs, seed):
        parts, m = micro_batches(idx, world, accum), len(idx)
        sums = torch.zeros(4, device=acc.device)  # loss, reward margin, reward accuracy (sums over pairs), pairs
        grad_norm = None
        for a in range(accum):
            part = parts[a * world + rank]
            use, weight = (part, 1.0) if part else (idx[:1], 0.0)
            with acc.accumulate(model):
                with acc.autocast():  # bf16 under `mixed_precision: bf16`
                    pc, pr = _pair_logps(model, items, use, pad, acc.device)
                rc, rr = ref_c[use].to(pc.device), ref_r[use].to(pc.device)
                per_pair = training.batch_loss(loss, [items[i] for i in use], pc.float(), pr.float(), rc, rr, beta)
                # Σ over this part / m pairs, times what DDP's mean over processes and accumulation divide by
                acc.backward(per_pair.sum() * (weight * world * accum / m))
                if acc.sync_gradients:
                    grad_norm = acc.clip_grad_norm_(model.parameters(), max_grad_norm)
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
            with torch.no_grad():
                cr, rj = implicit_rewards(pc.float(), pr.float(), rc, rr, beta)
                sums += weight * torch.stack([per_pair.detach().float().sum(), (cr - rj).sum(),
                                              (cr > rj).float().sum(), torch.tensor(float(len(use)), device=acc.device)])
        sums = acc.reduce(sums, "sum")
        step += 1
        metrics = {"step": step, "epoch": epoch, "loss": (sums[0] / sums[3]).item(),
                   "reward_margin": (sums[1] / sums[3]).item(), "reward_accuracy": (sums[2] / sums[3]).item(),
                   "grad_norm": float(grad_norm) if grad_norm is not None else math.nan}
        training.record_step(metrics, history, progress, on_step)
    model.eval()
    return history


def add_lora(model, cfg):
    """peft LoRA adapters (rank cfg.lora_r) on every linear layer but the output head."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        raise DnoError("train.lora_r > 0 needs peft: pip install 'dno[peft]'") from None
    lcfg = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha or 2 * cfg.lora_r, lora_dropout=cfg.lora_dropout,
                      target_modules="all-linear", task_type="CAUSAL_LM")
    return get_peft_model(model, lcfg)


def _distributed_type(acc) -> str:
    return str(getattr(acc.distributed_type, "value", acc.distributed_type)).upper()


def _configure_deepspeed(acc, micro: int, accum: int, max_grad_norm: float) -> None:
    """No dataloader is prepared, so DeepSpeed is told the micro-batch, accumulation and clipping here."""
    plugin = getattr(acc.state, "deepspeed_plugin", None)
    if plugin is None:
        return
    ds = plugin.deepspeed_config
    ds["train_micro_batch_size_per_gpu"] = micro
    ds["gradient_accumulation_steps"] = accum
    ds["train_batch_size"] = micro * accum * acc.num_processes
    ds["gradient_clipping"] = max_grad_norm


def train_stage(run, t: int) -> None:
    """Iteration t's train stage (the same inputs and outputs as `dno.stages.train`) through accelerate."""
    from accelerate import Accelerator

    from dno import stages, tracking

    d, cfg = run.iter_dir(t), run.cfg.train
    acc = Accelerator(gradient_accumulation_steps=cfg.gradient_accumulation_steps)
    world, accum = acc.num_processes, cfg.gradient_accumulation_steps
    check_batch(cfg.batch_size, world, accum)
    kind = _distributed_type(acc)
    sharded = "DEEPSPEED" in kind or "FSDP" in kind
    if cfg.lora_r and sharded:
        raise DnoError("train.lora_r > 0 is supported on one GPU and with DDP (configs/accelerate/single_gpu.yaml, "
                       "ddp.yaml), not with ZeRO-3 or FSDP: LoRA leaves little for them to shard")

    pairs = stages.training_pairs(run, t)
    prompts = {p["id"]: p for k in range(1, t + 1) for p in io.read_jsonl(run.iter_dir(k) / "prompts.jsonl")}
    model, tok = models.load_policy(run.policy(t - 1), run.cfg.policy.dtype, device="cpu")
    items = [training.PairBatchItem(
        training.encode(tok, prompts[p["id"]]["messages"], p["chosen"], p["chosen_finished"]),
        training.encode(tok, prompts[p["id"]]["messages"], p["rejected"], p["rejected_finished"]),
        p["target"], p.get("chosen_rate", 1.0), p.get("rejected_rate", 0.0)) for p in pairs]
    lr = cfg.lr * cfg.lr_decay ** (t - 1)

    ref_logps = None
    if cfg.reference == "initial" and t > 1 and items:  # a fixed π_0, computed unwrapped on each process
        ref_model = models.load_policy(run.policy(0), run.cfg.policy.dtype, device=str(acc.device))[0]
        ref_logps = reference_logps(acc, ref_model, items, tok.pad_token_id, cfg.batch_size, accum)
        del ref_model
    if cfg.gradient_checkpointing:
        model.config.use_cache = False
        if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.x's name
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if cfg.lora_r:
        model = add_lora(model, cfg)

    _configure_deepspeed(acc, cfg.batch_size // (world * accum), accum, cfg.max_grad_norm)
    if "DEEPSPEED" in kind:  # the engine needs the optimizer at prepare time
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=cfg.weight_decay)
        model, opt = acc.prepare(model, opt)
    else:  # FSDP (and the rest): optimizer over the prepared model's parameters
        model = acc.prepare(model)
        opt = acc.prepare(torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr,
                                            weight_decay=cfg.weight_decay))

    main = acc.is_main_process
    steps = math.ceil(len(items) / cfg.batch_size) * cfg.epochs
    bar = stages._bar(steps, f"iter {t} train (lr={lr:.2g}, {world} proc)", unit="step") if main else contextlib.nullcontext()
    tracker = tracking.open_tracker(run, t) if main else contextlib.nullcontext()
    with bar as progress, tracker as on_step:
        history = accelerate_train(acc, model, opt, tok, items, beta=cfg.beta, epochs=cfg.epochs,
                                   batch_size=cfg.batch_size, max_grad_norm=cfg.max_grad_norm, seed=cfg.seed + t,
                                   loss=cfg.loss, ref_logps=ref_logps, progress=progress, on_step=on_step)

    acc.wait_for_everyone()
    state_dict = acc.get_state_dict(model) if sharded else None  # every process takes part in the gather
    if main:
        io.write_jsonl(d / "train_log.jsonl", history)
        replayed = Counter(p["replay_from"] for p in pairs if "replay_from" in p)
        io.write_json(d / "train_summary.json", {
            "pairs": len(pairs), "replayed_from": {f"t-{k}": n for k, n in sorted(replayed.items())},
            "loss": cfg.loss, "lr": lr, "beta": cfg.beta, "reference": cfg.reference if t > 1 else "previous",
            "steps": len(history), "final_loss": history[-1]["loss"] if history else None,
            "backend": f"accelerate ({kind.lower()}, {world} process{'es' if world > 1 else ''})",
            "gradient_accumulation_steps": accum, "gradient_checkpointing": cfg.gradient_checkpointing,
            "lora_r": cfg.lora_r})
        save_policy(acc.unwrap_model(model), tok, d, state_dict=state_dict, lora=bool(cfg.lora_r))
    acc.wait_for_everyone()
    acc.free_memory()


def save_policy(model, tok, iter_dir, *, state_dict=None, lora: bool = False) -> None:
    """π_t as an ordinary checkpoint in iter_dir/policy (LoRA merged in; loads in transformers and vLLM)."""
    if lora:
        model = model.merge_and_unload()
    if hasattr(model, "activation_checkpointing_disable"):
        model.activation_checkpointing_disable()
    elif getattr(model, "is_gradient_checkpointing", False):
        model.gradient_checkpointing_disable()
    model.config.use_cache = True
    tmp = iter_dir / ".policy.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    if state_dict is not None:
        model.save_pretrained(str(tmp), state_dict=state_dict)
    else:
        model.save_pretrained(str(tmp))
    tok.save_pretrained(str(tmp))
    io.replace_dir(tmp, iter_dir / "policy")
