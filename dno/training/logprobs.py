"""Σ log π(response | prompt) of tokenized pairs: the only numbers the preference losses need.

Plain models compute only the response positions' logits, run each pair's shared prompt once
(`packed_pair_logps`), and the opening every prompt shares (a chat template's system prompt) once per batch;
wrapped models (DDP, DeepSpeed, FSDP, peft) go through their own forward.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch

from dno.models import end_of_turn_id, opening_cache, render_prompt, shared_opening


@dataclass
class Encoded:
    ids: list[int]
    prompt_len: int


def encode(tokenizer, messages: list[dict], response: str, finished: bool) -> Encoded:
    prompt_ids = tokenizer(render_prompt(tokenizer, messages), add_special_tokens=False)["input_ids"]
    resp_ids = tokenizer(response, add_special_tokens=False)["input_ids"]
    # Only a response that really ended is taught to end, with the template's end-of-turn token (which the
    # samplers stop on); a truncated one gets no ending.
    tail = [end_of_turn_id(tokenizer)] if finished else []
    return Encoded(prompt_ids + resp_ids + tail, len(prompt_ids))


def collate(seqs: Sequence[Encoded], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    width = max(len(s.ids) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    attn = torch.zeros((len(seqs), width), dtype=torch.long)
    resp = torch.zeros((len(seqs), width), dtype=torch.float32)
    for i, s in enumerate(seqs):
        ids[i, : len(s.ids)] = torch.tensor(s.ids)
        attn[i, : len(s.ids)] = 1
        resp[i, s.prompt_len : len(s.ids)] = 1
    return ids.to(device), attn.to(device), resp.to(device)


# Architectures whose causal-LM logits are exactly `lm_head(base_model(...).last_hidden_state)`: no soft-capping,
# no logit scaling. Others take the generic `logits_to_keep` path, which lets the model apply its own head.
_PLAIN_HEAD = {"llama", "mistral", "qwen2", "qwen3"}


def _plain_head(model):
    """The vocabulary projection, when logits are exactly `head(base_model(...).last_hidden_state)`; else None
    (also for wrapped models, which must go through their own forward)."""
    from transformers import PreTrainedModel

    if (
        isinstance(model, PreTrainedModel)
        and getattr(model.config, "model_type", None) in _PLAIN_HEAD
        and model.base_model is not model
    ):
        return model.get_output_embeddings()
    return None


def sequence_logps(model, seqs: Sequence[Encoded], pad_id: int, device=None) -> torch.Tensor:
    """Σ log π(response tokens | prompt) per sequence, shape (B,).

    Only the positions that predict a response token go through the vocabulary projection: an (n, V)
    logit matrix for the n response tokens instead of (B, T, V) for every prompt and padding position,
    which saves the LM head's share of the forward and backward there and most of the step's memory.
    """
    ids, attn, resp = collate(seqs, pad_id, device if device is not None else model.device)
    mask = resp[:, 1:] > 0  # position t predicts token t + 1
    rows = mask.nonzero(as_tuple=True)[0]
    targets = ids[:, 1:][mask]  # (n,)
    head = _plain_head(model)
    if head is not None:
        hidden = model.base_model(input_ids=ids, attention_mask=attn, use_cache=False).last_hidden_state
        logits = head(hidden[:, :-1][mask])  # (n, V)
    else:  # any other causal LM, or a wrapped one: its own forward, logits only from the first response position on
        keep = ids.shape[1] - min(s.prompt_len for s in seqs) + 1
        logits = model(input_ids=ids, attention_mask=attn, use_cache=False, logits_to_keep=keep).logits
        logits = logits[:, :-1][mask[:, mask.shape[1] - logits.shape[1] + 1 :]]
    token_logps = -torch.nn.functional.cross_entropy(logits.float(), targets, reduction="none")  # (n,)
    return torch.zeros(len(seqs), dtype=token_logps.dtype, device=token_logps.device).index_add(0, rows, token_logps)


def shared_prefix_len(seqs: Iterable[Encoded]) -> int:
    """The opening all the prompts of `seqs` share (`models.shared_opening`). Computed once over a whole training
    set, so that a pair's numbers do not depend on which pairs share its batch."""
    return shared_opening([s.ids[: s.prompt_len] for s in seqs])


def packable(model, chosen: Sequence[Encoded], rejected: Sequence[Encoded]) -> bool:
    """Shared-prompt packing needs the plain head, an attention that takes an arbitrary 4D mask (not
    flash-attention), and chosen and rejected that really share their prompt tokens."""
    attn = getattr(getattr(model, "config", None), "_attn_implementation", None)
    return (
        _plain_head(model) is not None
        and attn in ("sdpa", "eager")
        and all(
            c.prompt_len == r.prompt_len and c.ids[: c.prompt_len] == r.ids[: r.prompt_len]
            for c, r in zip(chosen, rejected)
        )
    )


# Pairs are packed into rows of up to this many tokens (or the longest pair): long enough that a batch of
# short pairs is one row with no padding, short enough that the dense (T, T) mask and attention stay small.
ROW_TOKENS = 1024


def pack_rows(lengths: Sequence[int], row_tokens: int) -> list[list[int]]:
    """Item indices grouped into rows of at most max(row_tokens, longest) tokens: first fit, longest first."""
    cap = max([row_tokens, *lengths])
    rows: list[list[int]] = []
    room: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        j = next((j for j, r in enumerate(room) if r >= lengths[i]), None)
        if j is None:
            rows.append([])
            room.append(cap)
            j = len(rows) - 1
        rows[j].append(i)
        room[j] -= lengths[i]
    return rows


def packed_pair_logps(
    model,
    chosen: Sequence[Encoded],
    rejected: Sequence[Encoded],
    pad_id: int,
    prefix: int = 0,
    row_tokens: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Σ log π(response | prompt) of each chosen and rejected response, with their shared prompt run once.

    Each pair is a block `prompt | chosen | rejected`, and blocks are packed side by side into rows
    (`pack_rows`). A 4D mask lets chosen tokens see their prompt and the earlier chosen tokens, and rejected
    tokens their prompt and the earlier rejected tokens (never chosen, never another pair); position ids restart
    with each block, and again for the rejected response where the prompt ends. Every token therefore sees
    exactly what it would in its own sequence, while the prompt is computed once instead of twice and the
    batch carries almost no padding (pairs differ in length by several times).

    With `prefix` > 0 the first `prefix` tokens, the same in every prompt (`shared_prefix_len`), run once for
    the whole batch: their keys and values are broadcast to every row as a cache that gradients flow back
    through, and the blocks hold only what follows them.
    """
    device, n = model.device, len(chosen)
    blocks = [
        (c.ids[prefix:], r.ids[r.prompt_len :], c.prompt_len - prefix, c.prompt_len) for c, r in zip(chosen, rejected)
    ]
    rows = pack_rows([len(a) + len(b) for a, b, _, _ in blocks], ROW_TOKENS if row_tokens is None else row_tokens)
    width = max(sum(len(blocks[i][0]) + len(blocks[i][1]) for i in row) for row in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    pos = torch.zeros((len(rows), width), dtype=torch.long)
    seg = torch.full((len(rows), width), -1, dtype=torch.long)  # 0 prompt, 1 chosen, 2 rejected, -1 padding
    blk = torch.full((len(rows), width), -1, dtype=torch.long)  # the pair each token belongs to
    pred_row, pred_pos, targets, owner = [], [], [], []
    for r, row in enumerate(rows):
        at = 0
        for i in row:
            body, rej, lp, p = blocks[i]  # lp prompt tokens in the block, p in the whole prompt
            nc, nr = len(body) - lp, len(rej)
            ids[r, at : at + lp + nc + nr] = torch.tensor(body + rej)
            pos[r, at : at + lp + nc] = torch.arange(prefix, p + nc)
            pos[r, at + lp + nc : at + lp + nc + nr] = torch.arange(p, p + nr)
            seg[r, at : at + lp], seg[r, at + lp : at + lp + nc], seg[r, at + lp + nc : at + lp + nc + nr] = 0, 1, 2
            blk[r, at : at + lp + nc + nr] = i
            # the token at packed index j is predicted from index j − 1, except each response's first token,
            # which is predicted from the prompt's last position
            last = at + lp - 1
            pred_pos += [last + j for j in range(nc)] + (
                [last] + [last + nc + 1 + j for j in range(nr - 1)] if nr else []
            )
            targets += body[lp:] + rej
            pred_row += [r] * (nc + nr)
            owner += [i] * nc + [n + i] * nr
            at += lp + nc + nr
    q, k = seg.unsqueeze(2), seg.unsqueeze(1)  # (rows, W, 1), (rows, 1, W)
    causal = torch.ones(width, width, dtype=torch.bool).tril()
    allowed = causal & (blk.unsqueeze(1) == blk.unsqueeze(2)) & (k >= 0) & ((k == 0) | (k == q))
    allowed |= torch.eye(width, dtype=torch.bool)  # padding sees itself: no all-masked row, no NaN to backpropagate
    dtype = next(model.parameters()).dtype
    mask = torch.zeros(allowed.shape, dtype=dtype).masked_fill_(~allowed, torch.finfo(dtype).min).unsqueeze(1)
    if prefix:  # every query sees the prefix's keys too, from the cache
        key, cache = opening_cache(model, torch.tensor([chosen[0].ids[:prefix]], device=device), len(rows))
        mask = torch.cat([torch.zeros(*mask.shape[:3], prefix, dtype=dtype), mask], dim=3)
        extra = {key: cache, "use_cache": True}
    else:
        extra = {"use_cache": False}
    hidden = model.base_model(
        input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=pos.to(device), **extra
    ).last_hidden_state
    picked = hidden[torch.tensor(pred_row, device=device), torch.tensor(pred_pos, device=device)]  # (n_tokens, H)
    logits = _plain_head(model)(picked)
    token_logps = -torch.nn.functional.cross_entropy(
        logits.float(), torch.tensor(targets, device=device), reduction="none"
    )
    out = torch.zeros(2 * n, dtype=token_logps.dtype, device=device).index_add(
        0, torch.tensor(owner, device=device), token_logps
    )
    return out[:n], out[n:]


def _checkpointing(model) -> bool:
    new = hasattr(type(model), "is_activation_checkpointing")  # transformers 5.x's name; the old one warns
    return bool(getattr(model, "is_activation_checkpointing" if new else "is_gradient_checkpointing", False))


def pair_logps(
    model, chosen: Sequence[Encoded], rejected: Sequence[Encoded], pad_id: int, device=None, prefix: int = 0
):
    """(chosen, rejected) log-probabilities of a batch of pairs in one forward: prompt-shared where the model
    allows it, with the first `prefix` tokens of every prompt run once for the batch, else chosen and rejected as
    separate rows. Gradient checkpointing, which runs each layer twice, takes no prefix cache."""
    if packable(model, chosen, rejected):
        if _checkpointing(model) or not all(c.ids[:prefix] == chosen[0].ids[:prefix] for c in chosen):
            prefix = 0
        return packed_pair_logps(model, chosen, rejected, pad_id, prefix)
    return separate_pair_logps(model, chosen, rejected, pad_id, device)


def separate_pair_logps(model, chosen: Sequence[Encoded], rejected: Sequence[Encoded], pad_id: int, device=None):
    """Chosen and rejected as separate rows of one batch (each runs the prompt)."""
    logps = sequence_logps(model, list(chosen) + list(rejected), pad_id, device)
    return logps[: len(chosen)], logps[len(chosen) :]
