"""The one training loop, on Hugging Face `accelerate`: one CPU process, one GPU, DDP, DeepSpeed ZeRO-3 or FSDP.

    dno run ...                                                     # one process
    accelerate launch --config_file configs/accelerate/ddp.yaml -m dno.cli train RUN --iter T

- `batch_size` pairs per optimizer step, whatever the number of processes: each step's pairs are cut into
  processes x `gradient_accumulation_steps` micro-batches, and every micro-batch's loss is scaled so that
  the gradient is the mean over the step's pairs. (A micro-batch left empty by a short last step runs one
  pair with weight 0, so every process takes part in every collective.)
- One `random.Random(seed)` shuffle per epoch, AdamW, gradient clipping.
- The reference log-probabilities are computed once, before the first update, with the very model about
  to be trained (DNO's π_t) or with a given fixed reference (π_0), each process its share, then summed.
  A fixed π_0 is loaded only for that pass, in the precision the prepared model computes in, and freed
  before the policy is prepared: its full copy per process never sits beside training's memory.
- Precision: float32 master weights always (AdamW on bf16 weights rounds most updates away); bf16 or
  fp16 compute by autocast (`train.mixed_precision`, or `mixed_precision` in the accelerate config; `auto`
  is accelerate launch's setting, else bf16 on a GPU that has it and float32 on a CPU, dno/precision.py).
- `lora_r > 0`: peft LoRA adapters on every linear layer, merged into the weights before saving.
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import random
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from dno import faults, io
from dno.errors import DnoError
from dno.training.lean import lean_activations
from dno.training.logprobs import Encoded, pair_logps, shared_prefix_len
from dno.training.losses import PairBatch, implicit_rewards, loss_fn, sft_loss


@dataclass
class PairBatchItem:
    chosen: Encoded
    rejected: Encoded
    target: float = 1.0
    """P(chosen ≻ rejected): 1 for DPO's hard labels, σ(r1 − r2) for DNO's soft labels."""
    chosen_rate: float = 1.0
    rejected_rate: float = 0.0
    """r_t estimates (win rate against the policy's own samples), for the SPPO loss."""


def micro_batches(idx: Sequence[int], world: int, accum: int) -> list[list[int]]:
    """One optimizer step's pairs cut into world x accum contiguous parts, as evenly as possible;
    part `a * world + r` is process r's a-th micro-batch. Parts may be empty (fewer pairs than parts)."""
    parts, m = world * accum, len(idx)
    return [list(idx[j * m // parts : (j + 1) * m // parts]) for j in range(parts)]


def check_batch(batch_size: int, world: int, accum: int, deepspeed: bool) -> None:
    """DeepSpeed fixes a micro-batch size per GPU, so the pairs per step must split evenly over processes x
    accumulation steps. Elsewhere uneven micro-batches are exact (each part's loss is weighted by its share)."""
    if deepspeed and batch_size % (world * accum):
        raise DnoError(
            f"train.batch_size={batch_size} must be a multiple of processes ({world}) x "
            f"train.gradient_accumulation_steps ({accum}) = {world * accum} under DeepSpeed: "
            "it is the pairs per optimizer step (a run that has not trained yet may change it)"
        )


def epoch_batches(n: int, batch_size: int, epochs: int, seed: int) -> list[tuple[int, list[int]]]:
    """(epoch, pair indices) per optimizer step: one shuffle of the running order per epoch."""
    order = list(range(n))
    rng = random.Random(seed)
    out = []
    for epoch in range(epochs):
        rng.shuffle(order)
        out += [(epoch, order[s : s + batch_size]) for s in range(0, n, batch_size)]
    return out


def _logps(model, items, idx, pad_id, device, prefix):
    return pair_logps(model, [items[i].chosen for i in idx], [items[i].rejected for i in idx], pad_id, device, prefix)


def _prefix(items) -> int:
    """The opening all the pairs' prompts share, run once per batch (`dno.training.logprobs.packed_pair_logps`)."""
    return shared_prefix_len(s for i in items for s in (i.chosen, i.rejected))


def reference_logps(
    acc, model, items, pad_id: int, batch_size: int, accum: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference log-probabilities of every pair: each process its micro-batches, summed across processes.
    Every process runs the same number of forwards (an empty micro-batch runs a dummy pair). The batches are
    the first epoch's, so that each pair shares its packed row with the same pairs as in its first training
    step, whose log-ratios are then exactly 0."""
    world, rank = acc.num_processes, acc.process_index
    ref_c = torch.zeros(len(items), device=acc.device)
    ref_r = torch.zeros(len(items), device=acc.device)
    prefix = _prefix(items)
    model.eval()
    with torch.no_grad():
        for _, idx in epoch_batches(len(items), batch_size, 1, seed):
            parts = micro_batches(idx, world, accum)
            for a in range(accum):
                part = parts[a * world + rank]
                with acc.autocast():
                    c, r = _logps(model, items, part or idx[:1], pad_id, acc.device, prefix)
                if part:
                    ref_c[part], ref_r[part] = c.float(), r.float()
    return acc.reduce(ref_c, "sum").cpu(), acc.reduce(ref_r, "sum").cpu()


def engine_weight_dtype(acc) -> torch.dtype:
    """The dtype the prepared model's weights compute in. DeepSpeed casts its engine's weights to bf16/fp16
    (accelerate's autocast does nothing there) and FSDP's mixed precision gathers bf16/fp16 copies of them
    (param_dtype); elsewhere the weights stay float32 and autocast lowers the compute."""
    kind = distributed_type(acc)
    if "DEEPSPEED" in kind or "FSDP" in kind:
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(acc.mixed_precision, torch.float32)
    return torch.float32


def fixed_reference_logps(acc, load_reference: Callable, items, pad_id: int, batch_size: int, accum: int, seed: int):
    """A fixed reference's (π_0's) log-probabilities: loaded for this one pass, computed in the precision the
    policy will be trained in (so step 0's log-ratios start at 0 as DNO's π_t reference does), then freed."""
    ref = load_reference().to(acc.device, dtype=engine_weight_dtype(acc))
    logps = reference_logps(acc, ref, items, pad_id, batch_size, accum, seed)
    del ref
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return logps


def _batch(items, idx, pc, pr, rc, rr) -> PairBatch:
    sel = [items[i] for i in idx]
    return PairBatch(
        pc,
        pr,
        rc,
        rr,
        torch.tensor([i.target for i in sel], device=pc.device),
        [i.chosen_rate for i in sel],
        [i.rejected_rate for i in sel],
        [len(i.chosen.ids) - i.chosen.prompt_len for i in sel],
    )


def fit(
    acc,
    model,
    optimizer,
    items: Sequence[PairBatchItem],
    *,
    pad_id: int,
    beta: float,
    epochs: int,
    batch_size: int,
    max_grad_norm: float,
    seed: int,
    loss: str = "dpo",
    nll_weight: float = 0.0,
    ref_logps: tuple[torch.Tensor, torch.Tensor] | None = None,
    progress=None,
    on_step=None,
) -> list[dict]:
    """Train a model and optimizer prepared by `acc` in place; returns one metrics dict per optimizer step."""
    if not items:
        return []
    world, rank, accum = acc.num_processes, acc.process_index, acc.gradient_accumulation_steps
    compute_loss = loss_fn(loss)
    if ref_logps is None:
        ref_logps = reference_logps(acc, model, items, pad_id, batch_size, accum, seed)
    ref_c, ref_r = ref_logps
    prefix = _prefix(items)
    model.train()
    history: list[dict] = []
    for step, (epoch, idx) in enumerate(epoch_batches(len(items), batch_size, epochs, seed), 1):
        parts, m = micro_batches(idx, world, accum), len(idx)
        sums = torch.zeros(4, device=acc.device)  # loss, reward margin, reward accuracy (sums over pairs), pairs
        grad_norm = None
        for a in range(accum):
            part = parts[a * world + rank]
            use, weight = (part, 1.0) if part else (idx[:1], 0.0)
            with acc.accumulate(model):
                with acc.autocast():  # bf16 under `mixed_precision: bf16`
                    pc, pr = _logps(model, items, use, pad_id, acc.device, prefix)
                pc, pr = pc.float(), pr.float()
                rc, rr = ref_c[use].to(pc.device), ref_r[use].to(pc.device)
                batch = _batch(items, use, pc, pr, rc, rr)
                per_pair = compute_loss(batch, beta)
                if nll_weight:  # RPO: keep the chosen answers likely
                    per_pair = per_pair + nll_weight * sft_loss(pc, batch.chosen_tokens)
                # the mean over this part, times its share of the step's m pairs, times what DDP's mean over
                # processes and accumulation divides by: the gradient is the mean over the step's pairs
                acc.backward(per_pair.mean() * (weight * world * accum * len(use) / m))
                if acc.sync_gradients:
                    grad_norm = acc.clip_grad_norm_(model.parameters(), max_grad_norm)
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
            with torch.no_grad():
                cr, rj = implicit_rewards(pc, pr, rc, rr, beta)
                sums += weight * torch.stack(
                    [
                        per_pair.detach().float().sum(),
                        (cr - rj).sum(),
                        (cr > rj).float().sum(),
                        torch.tensor(float(len(use)), device=acc.device),
                    ]
                )
        sums = acc.reduce(sums, "sum")
        metrics = {
            "step": step,
            "epoch": epoch,
            "loss": (sums[0] / sums[3]).item(),
            "reward_margin": (sums[1] / sums[3]).item(),
            "reward_accuracy": (sums[2] / sums[3]).item(),
            "grad_norm": float(grad_norm) if grad_norm is not None else math.nan,
        }
        _record_step(metrics, history, progress, on_step)
        faults.point("step")
    model.eval()
    return history


def _record_step(metrics: dict, history: list, progress=None, on_step=None) -> None:
    """Stop on a non-finite loss, keep the step's metrics, and report them to the tracker and progress bar."""
    if not math.isfinite(metrics["loss"]):
        raise FloatingPointError(f"training loss became {metrics['loss']} at step {metrics['step']}")
    history.append(metrics)
    if on_step is not None:
        on_step(metrics)
    if progress is not None:
        progress.update(1)
        progress.set_postfix(loss=f"{metrics['loss']:.3f}", margin=f"{metrics['reward_margin']:.3f}")


def add_lora(model, r: int, alpha: float = 0.0, dropout: float = 0.0):
    """peft LoRA adapters of rank r on every linear layer but the output head (alpha 0 = 2r)."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        raise DnoError("train.lora_r > 0 needs peft: pip install 'dno[peft]'") from None
    lcfg = LoraConfig(
        r=r, lora_alpha=alpha or 2 * r, lora_dropout=dropout, target_modules="all-linear", task_type="CAUSAL_LM"
    )
    return get_peft_model(model, lcfg)


def is_main_process() -> bool:
    """True in a plain process and on the main process of `accelerate launch` / torchrun (RANK 0). Read from
    the environment: building accelerate's state here, before the Accelerator, would miss its CPU settings."""
    return os.environ.get("RANK", "0") == "0"


def distributed_type(acc) -> str:
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


@dataclass
class Trained:
    """What `train` returns: the metrics per step, and what `save_policy` needs on the main process."""

    history: list[dict]
    mixed_precision: str
    """The compute precision training ran in (accelerate's: no, bf16, fp16)."""
    model: object
    state_dict: dict | None
    lora: bool
    is_main: bool
    backend: str


def train(
    model,
    items: Sequence[PairBatchItem],
    cfg,
    *,
    pad_id: int,
    lr: float,
    seed: int,
    load_reference: Callable | None = None,
    progress=None,
    on_step=None,
) -> Trained:
    """Train `model` (a plain transformers model) on `items` with the settings of `cfg` (a TrainConfig).

    The reference is π_t, the model itself before its first update, unless `load_reference` is given: it
    returns a fixed π_0 (a plain float32 transformers model), loaded and freed by `fixed_reference_logps`.
    Works in one plain process and under `accelerate launch` alike; every process must call it.
    """
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state()  # each call sets its own precision (one process may train several times)
    from dno.models import default_device
    from dno.precision import train_mixed_precision

    mixed = train_mixed_precision(cfg.mixed_precision, default_device())  # None: accelerate launch's setting
    try:
        acc = Accelerator(gradient_accumulation_steps=cfg.gradient_accumulation_steps, mixed_precision=mixed)
    except (RuntimeError, ValueError) as e:  # e.g. FSDP or DeepSpeed asked for on a machine without GPUs
        raise DnoError(f"accelerate cannot start this training layout here: {e}") from None
    if any(p.dtype != torch.float32 for p in model.parameters() if p.is_floating_point()):
        raise DnoError(
            "training needs float32 master weights (load the policy in float32; use "
            "train.mixed_precision=bf16 for bf16 compute)"
        )
    world, accum = acc.num_processes, cfg.gradient_accumulation_steps
    kind = distributed_type(acc)
    check_batch(cfg.batch_size, world, accum, deepspeed="DEEPSPEED" in kind)
    sharded = "DEEPSPEED" in kind or "FSDP" in kind
    if cfg.lora_r and sharded:
        raise DnoError(
            "train.lora_r > 0 is supported on one device and with DDP (configs/accelerate/single_gpu.yaml, "
            "ddp.yaml), not with ZeRO-3 or FSDP: LoRA leaves little for them to shard"
        )
    ref_logps = None
    if load_reference is not None and items:  # a fixed π_0, unwrapped on each process, before prepare
        ref_logps = fixed_reference_logps(acc, load_reference, items, pad_id, cfg.batch_size, accum, seed)
    if cfg.gradient_checkpointing:
        model.config.use_cache = False
        if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.x's name
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if cfg.lora_r:
        model = add_lora(model, cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout)

    _configure_deepspeed(acc, cfg.batch_size // (world * accum), accum, cfg.max_grad_norm)

    # the fused kernel (one pass over parameters, gradients and moments: ~3x faster than foreach on a CPU) wherever
    # the parameters are plain tensors; DeepSpeed and FSDP hold their own flattened ones
    fused = not sharded and acc.device.type in ("cpu", "cuda")

    def adamw(m):
        params = [p for p in m.parameters() if p.requires_grad]
        return torch.optim.AdamW(params, lr=lr, weight_decay=cfg.weight_decay, fused=fused)

    # two activations less per MLP token for the backward pass, bit for bit the same numbers (dno/training/lean.py);
    # left out where ZeRO-3 or FSDP rewrap the modules, which no machine here can run, and where checkpointing
    # keeps no activations anyway
    lean = contextlib.nullcontext() if sharded or cfg.gradient_checkpointing else lean_activations(model)
    if "DEEPSPEED" in kind:  # the engine needs the optimizer at prepare time
        model, opt = acc.prepare(model, adamw(model))
    else:  # FSDP (and the rest): the optimizer over the prepared model's parameters
        model = acc.prepare(model)
        opt = acc.prepare(adamw(model))
    with lean:
        history = fit(
            acc,
            model,
            opt,
            items,
            pad_id=pad_id,
            beta=cfg.beta,
            epochs=cfg.epochs,
            batch_size=cfg.batch_size,
            max_grad_norm=cfg.max_grad_norm,
            seed=seed,
            loss=cfg.loss,
            nll_weight=cfg.nll_weight,
            ref_logps=ref_logps,
            progress=progress,
            on_step=on_step,
        )
    acc.wait_for_everyone()
    state_dict = acc.get_state_dict(model) if sharded else None  # every process takes part in the gather
    backend = f"accelerate ({kind.lower()}, {world} process{'es' if world > 1 else ''})"
    return Trained(
        history,
        acc.mixed_precision,
        acc.unwrap_model(model),
        state_dict,
        bool(cfg.lora_r),
        acc.is_main_process,
        backend,
    )


def save_policy(trained: Trained, tok, iter_dir: Path) -> None:
    """π_t as an ordinary checkpoint in iter_dir/policy (LoRA merged in; loads in transformers and vLLM)."""
    model = trained.model.merge_and_unload() if trained.lora else trained.model
    # transformers >= 5.x's name first; disabling when it was never enabled is harmless
    disable = getattr(model, "activation_checkpointing_disable", None) or model.gradient_checkpointing_disable
    disable()
    model.config.use_cache = True
    tmp = Path(iter_dir) / ".policy.tmp"
    shutil.rmtree(tmp, ignore_errors=True)  # a crashed attempt's leftovers: never mix them into this save
    if trained.state_dict is not None:
        model.save_pretrained(str(tmp), state_dict=trained.state_dict)
    else:
        model.save_pretrained(str(tmp))
    tok.save_pretrained(str(tmp))
    faults.point("saved")
    io.replace_dir(tmp, Path(iter_dir) / "policy")
