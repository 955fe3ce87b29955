"""NucleusSampler draws from exactly the distribution transformers' temperature + top-p warpers leave, ranking only
the top tokens."""

import pytest
import torch
from transformers.generation.logits_process import TemperatureLogitsWarper, TopPLogitsWarper

from dno.generation.nucleus import NucleusSampler, nucleus


def transformers_probs(scores, temperature, top_p):
    return TopPLogitsWarper(top_p)(None, TemperatureLogitsWarper(temperature)(None, scores)).softmax(-1)


def mixed_rows(vocab=5000, seed=0):
    g = torch.Generator().manual_seed(seed)
    peaked = torch.randn(64, vocab, generator=g) * 6  # nucleus of a few tokens: the top-k path
    flat = torch.randn(16, vocab, generator=g) * 0.1  # nucleus of thousands: the whole-vocabulary fallback
    return torch.cat([peaked, flat])[torch.randperm(80, generator=g)]  # the two kinds mixed in one batch


@pytest.mark.parametrize("temperature,top_p", [(0.7, 0.95), (1.0, 0.9), (1.3, 0.5)])
def test_the_nucleus_and_its_probabilities_are_transformers_own(temperature, top_p):
    scores = mixed_rows()
    idx, probs, short = nucleus(scores, temperature, top_p, cap=128)
    theirs = transformers_probs(scores, temperature, top_p)
    ours = torch.zeros_like(scores).scatter_(-1, idx, probs)
    ours = ours / ours.sum(-1, keepdim=True)  # renormalised over the nucleus, as the draw does
    assert 0 < short.sum() < len(scores)  # both paths are exercised
    assert torch.equal(ours[~short] > 0, theirs[~short] > 0)  # the same kept set
    torch.testing.assert_close(ours[~short], theirs[~short], atol=1e-6, rtol=1e-5)


def test_draws_follow_the_nucleus_probabilities_on_both_paths():
    """Each row drawn 4,000 times: every drawn token is in transformers' nucleus, and the frequencies match
    its probabilities (a chi-square bound far above chance at this size; a draw that ignored the temperature
    or the renormalisation would exceed it many times over)."""
    torch.manual_seed(0)
    vocab, n = 400, 4000
    peaked = torch.tensor([[4.0, 3.5, 3.0, 1.0] + [-5.0] * (vocab - 4)])
    flat = torch.randn(1, vocab) * 0.05  # its nucleus is most of the vocabulary: past a cap of 8
    sampler = NucleusSampler(0.7, 0.9, cap=8)
    for row in (peaked, flat):
        theirs = transformers_probs(row, 0.7, 0.9)[0]
        drawn = sampler.draw(row.repeat(n, 1))
        counts = torch.bincount(drawn, minlength=vocab).float()
        assert (theirs[drawn] > 0).all()
        expected = theirs * n
        kept = expected > 0
        chi2 = (((counts - expected)[kept] ** 2) / expected[kept]).sum()
        assert chi2 < 2 * kept.sum() + 60, f"chi2 {chi2:.0f} over {kept.sum()} tokens"


def test_generate_takes_the_drawn_token():
    """The logits handed back to `generate` have one finite entry per row: greedy picks the drawn token."""
    torch.manual_seed(1)
    scores = mixed_rows(vocab=300)
    out = NucleusSampler(0.7, 0.95)(None, scores)
    assert torch.equal(torch.isfinite(out).sum(-1), torch.ones(len(scores), dtype=torch.long))
    torch.manual_seed(1)
    assert torch.equal(out.argmax(-1), NucleusSampler(0.7, 0.95).draw(scores))


def test_top_p_one_draws_from_the_whole_tempered_vocabulary():
    torch.manual_seed(0)
    row = torch.tensor([[2.0, 1.0, 0.0, -1.0]])
    drawn = NucleusSampler(0.5, 1.0).draw(row.repeat(20000, 1))
    freq = torch.bincount(drawn, minlength=4).float() / 20000
    torch.testing.assert_close(freq, (row[0] / 0.5).softmax(-1), atol=0.01, rtol=0)
