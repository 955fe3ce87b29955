"""A `generate` logits processor that takes the token `dno.generation.decode` would: the reference its tests
compare dno's decoding loop against."""

import torch
from transformers import LogitsProcessor

from dno.generation.nucleus import draw


class SameDraw(LogitsProcessor):
    """`generate`'s greedy step made to take decode's token: one uniform number per row per step, `nucleus.draw`."""

    def __init__(self, temperature, top_p, min_p=0.0):
        self.temperature, self.top_p, self.min_p = temperature, top_p, min_p

    def __call__(self, input_ids, scores):
        u = torch.rand(len(scores)).to(scores.device) if self.temperature > 0 else None  # the CPU generator, as decode
        tokens = draw(scores, self.temperature, self.top_p, u, min_p=self.min_p)
        return torch.full_like(scores, -float("inf")).scatter_(-1, tokens.unsqueeze(-1), 0.0)
