"""`nucleus.draw` draws from exactly the distribution transformers' temperature + top-p warpers leave, ranking only
the top tokens, and a row's token depends on its own logits and uniform number alone."""

import pytest
import torch
from transformers.generation.logits_process import TemperatureLogitsWarper, TopPLogitsWarper

from dno.generation.nucleus import draw, nucleus


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
    for row in (peaked, flat):
        theirs = transformers_probs(row, 0.7, 0.9)[0]
        drawn = draw(row.repeat(n, 1), 0.7, 0.9, torch.rand(n), cap=8)
        counts = torch.bincount(drawn, minlength=vocab).float()
        assert (theirs[drawn] > 0).all()
        expected = theirs * n
        kept = expected > 0
        chi2 = (((counts - expected)[kept] ** 2) / expected[kept]).sum()
        assert chi2 < 2 * kept.sum() + 60, f"chi2 {chi2:.0f} over {kept.sum()} tokens"


def test_a_rows_token_depends_on_its_own_logits_and_number_alone():
    """What lets the decoding loop drop finished rows: the same row and number give the same token in any batch,
    and the token is the one at that quantile of the row's distribution."""
    scores, u = mixed_rows(vocab=300), torch.rand(80)
    whole = draw(scores, 0.7, 0.95, u)
    alone = torch.cat([draw(scores[i : i + 1], 0.7, 0.95, u[i : i + 1]) for i in range(80)])
    assert torch.equal(whole, alone)
    row = torch.tensor([[3.0, 2.0, 1.0, -9.0]])
    probs = transformers_probs(row, 1.0, 0.95)[0]  # three tokens in the nucleus
    edges = probs.cumsum(0)
    for q, token in [(0.0, 0), (edges[0] - 1e-4, 0), (edges[0] + 1e-4, 1), (edges[1] + 1e-4, 2), (1 - 1e-7, 2)]:
        assert draw(row, 1.0, 0.95, torch.tensor([float(q)])).item() == token


def test_temperature_zero_is_the_argmax():
    scores = mixed_rows(vocab=300)
    assert torch.equal(draw(scores, 0.0, 1.0, None), scores.argmax(-1))


def test_top_p_one_draws_from_the_whole_tempered_vocabulary():
    torch.manual_seed(0)
    row = torch.tensor([[2.0, 1.0, 0.0, -1.0]])
    drawn = draw(row.repeat(20000, 1), 0.5, 1.0, torch.rand(20000))
    freq = torch.bincount(drawn, minlength=4).float() / 20000
    torch.testing.assert_close(freq, (row[0] / 0.5).softmax(-1), atol=0.01, rtol=0)
