"""dno's own decoding loop: `generate`'s greedy and sampling steps, with finished rows dropped from the batch.

`generate` runs every row to the end of the longest answer of its batch: a row that has emitted its
end-of-sequence token still costs a full forward per step. A trained policy's answers are short and their
lengths uneven (a default π_3: a mean of 11 tokens a sample against a 32-token budget), so most of the
rows' steps were padding. Here a row leaves the batch, KV cache included, once it has finished (in bulk, when
enough have, since taking rows out of the cache copies it).

The token chosen for a row does not depend on the batch it sits in: greedy takes the argmax, and sampling
turns one uniform number per row and step (drawn for every row the batch began with, finished or not) into a
token by inverting the nucleus's cumulative distribution (`nucleus.draw`). So dropping rows changes no answer
(tested), and the answers of a batch are a function of its seed alone. The model's own `repetition_penalty`
and `min_p` (its generation config) apply, as `generate` and the vLLM sampler apply them; models whose cache
cannot drop rows (linear-attention or state-space layers) keep them to the end.
"""

from __future__ import annotations

import torch
from transformers.generation.logits_process import RepetitionPenaltyLogitsProcessor

from dno.generation.nucleus import draw

# Take finished rows out of the batch once they are this share of it: taking rows out copies the whole cache,
# as one step's concatenation does.
PRUNE_SHARE = 1 / 8


@torch.no_grad()
def decode(
    model,
    inputs: dict,
    *,
    max_new_tokens: int,
    eos: set[int],
    temperature: float,
    top_p: float,
    on_step=None,
) -> list[list[int]]:
    """New token ids of each row of `inputs` (`hf.shared_prompt_inputs`: left- or middle-padded ids, their mask,
    and a KV cache of a leading part of them), up to and including its end-of-sequence token. Temperature 0 is
    greedy; random numbers come from torch's global generator (the caller seeds it). `on_step(rows, logits)`, if
    given, sees each step's next-token logits (the repetition penalty applied) of the rows (original indices)
    still in the batch."""
    key = next(k for k in ("cache", "past_key_values") if k in inputs)
    cache, ids, mask = inputs[key], inputs["input_ids"], inputs["attention_mask"]
    rows = len(ids)
    penalty = float(getattr(model.generation_config, "repetition_penalty", None) or 1.0)
    penalise = RepetitionPenaltyLogitsProcessor(penalty) if penalty != 1.0 else None
    min_p = float(getattr(model.generation_config, "min_p", None) or 0.0)
    seen = ids if penalise else None  # every row's tokens so far, for the repetition penalty
    can_drop = all(hasattr(layer, "batch_select_indices") for layer in getattr(cache, "layers", [None]))
    out: list[list[int]] = [[] for _ in range(rows)]
    live = torch.arange(rows)  # the original row of each row still in the batch
    done = torch.zeros(rows, dtype=torch.bool)
    pos = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)  # `generate`'s position ids
    step_ids, step_pos = ids[:, cache.get_seq_length() :], pos[:, cache.get_seq_length() :]
    for _ in range(max_new_tokens):
        logits = model(
            input_ids=step_ids, attention_mask=mask, position_ids=step_pos, logits_to_keep=1, **{key: cache}
        ).logits[:, -1]
        if penalise:
            logits = penalise(seen, logits.float())
        if on_step is not None:
            on_step(live.tolist(), logits)
        # Every original row's number, used or not, from the CPU generator (the same on every device).
        u = torch.rand(rows)[live].to(logits.device) if temperature > 0 else None
        tokens = draw(logits, temperature, top_p, u, min_p=min_p)
        chosen = tokens.tolist()
        for r, t, ended in zip(live.tolist(), chosen, done.tolist()):
            if not ended:
                out[r].append(t)
        done = torch.tensor([t in eos for t in chosen]) | done
        if bool(done.all()):
            break
        step_ids, step_pos = tokens.unsqueeze(-1), step_pos[:, -1:] + 1
        mask = torch.cat([mask, mask.new_ones(len(mask), 1)], dim=-1)
        seen = torch.cat([seen, step_ids], dim=-1) if seen is not None else None
        if can_drop and done.sum() >= max(1, len(done) * PRUNE_SHARE):
            keep = (~done).nonzero().squeeze(-1)
            live, done = live[keep], done[keep]
            keep = keep.to(mask.device)
            cache.batch_select_indices(keep)
            step_ids, step_pos, mask = step_ids[keep], step_pos[keep], mask[keep]
            seen = seen[keep] if seen is not None else None
    return out
