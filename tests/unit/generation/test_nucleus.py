"""NucleusWarper keeps exactly the tokens transformers' temperature + top-p warpers keep, ranking only the top."""

import pytest
import torch
from transformers.generation.logits_process import TemperatureLogitsWarper, TopPLogitsWarper

from dno.generation.nucleus import NucleusWarper


def transformers_warpers(scores, temperature, top_p):
    return TopPLogitsWarper(top_p)(None, TemperatureLogitsWarper(temperature)(None, scores))


@pytest.mark.parametrize("temperature,top_p", [(0.7, 0.95), (1.0, 0.9), (1.3, 0.5)])
def test_the_mask_and_scores_are_transformers_own_on_peaked_and_flat_rows(temperature, top_p):
    g = torch.Generator().manual_seed(0)
    vocab = 5000
    peaked = torch.randn(64, vocab, generator=g) * 6  # nucleus of a few tokens: the top-k path
    flat = torch.randn(16, vocab, generator=g) * 0.1  # nucleus of thousands: the full-sort fallback
    scores = torch.cat([peaked, flat])[torch.randperm(80, generator=g)]  # the two kinds mixed in one batch
    ours = NucleusWarper(temperature, top_p, cap=128)(None, scores)
    theirs = transformers_warpers(scores, temperature, top_p)
    assert torch.equal(torch.isinf(ours), torch.isinf(theirs))
    assert torch.equal(ours, theirs)
    kept = (~torch.isinf(ours)).sum(-1)
    assert kept.min() >= 1 and kept.max() > 128  # both paths were taken


def test_top_p_one_only_applies_the_temperature():
    scores = torch.randn(4, 100)
    assert torch.equal(NucleusWarper(0.5, 1.0)(None, scores), scores / 0.5)
