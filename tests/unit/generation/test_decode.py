"""dno's decoding loop (`dno.generation.decode`): its answers are `generate`'s, token for token, with the prompts'
shared work run once and finished rows dropped from the batch along the way."""

import pytest
import torch
from same_draw import SameDraw
from transformers import DynamicCache, LogitsProcessorList
from transformers.cache_utils import DynamicLayer

from dno import models
from dno.generation import decode as decoding
from dno.generation.hf import HFSampler, shared_prompt_inputs


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    model, tok = models.load_policy(tiny_model_dir)
    tok.padding_side = "left"
    prompts = [
        [{"role": "user", "content": text}]
        for text in ("Add 2 and 3.", "Name a colour that is not red or blue.", "Hi", "Write a word ending in -ing.")
    ]
    enc = tok([models.render_prompt(tok, m) for m in prompts], return_tensors="pt", padding=True)
    # A random model seldom ends an answer: a quarter of the vocabulary counts as end-of-sequence here, so
    # rows finish at uneven steps, as a trained policy's answers do.
    eos = set(range(3, len(tok), 4))
    return model, tok, enc, eos


def ours(tiny, n, temperature, new=24):
    model, tok, enc, eos = tiny
    torch.manual_seed(7)
    inputs = shared_prompt_inputs(model, enc, n, tok.pad_token_id)
    return decoding.decode(model, inputs, max_new_tokens=new, eos=eos, temperature=temperature, top_p=0.9)


def cut(ids, eos):
    return ids[: next((i + 1 for i, t in enumerate(ids) if t in eos), len(ids))]


@pytest.mark.parametrize("n,temperature", [(1, 0.0), (3, 0.8)])
def test_decode_answers_are_generates_own_with_the_same_draw(tiny, n, temperature):
    model, tok, enc, eos = tiny
    torch.manual_seed(7)
    gen = model.generate(
        **{k: v.repeat_interleave(n, 0) for k, v in enc.items()},
        max_new_tokens=24,
        do_sample=False,
        logits_processor=LogitsProcessorList([SameDraw(temperature, 0.9)]),
        pad_token_id=tok.pad_token_id,
        eos_token_id=sorted(eos),
    )
    theirs = [cut(row, eos) for row in gen[:, enc["input_ids"].shape[1] :].tolist()]
    mine = [cut(row, eos) for row in ours(tiny, n, temperature)]
    assert mine == theirs
    if temperature:  # (a random model's greedy answer repeats one token: the real model's test covers greedy)
        assert len({len(r) for r in mine}) > 2  # rows finished at different steps


def test_dropping_finished_rows_changes_no_answer(tiny, monkeypatch):
    dropped = []
    select = DynamicCache.batch_select_indices

    def spy(cache, indices):
        dropped.append(len(indices))
        return select(cache, indices)

    monkeypatch.setattr(DynamicCache, "batch_select_indices", spy)
    pruned = ours(tiny, 4, 0.8)
    assert dropped, "no row was dropped"
    monkeypatch.setattr(decoding, "PRUNE_SHARE", 2.0)  # never
    dropped.clear()
    kept = ours(tiny, 4, 0.8)
    _, _, _, eos = tiny
    assert not dropped and [cut(r, eos) for r in pruned] == [cut(r, eos) for r in kept]
    assert all(r == cut(r, eos) for r in pruned), "nothing after a row's end-of-sequence token"


def test_a_cache_that_cannot_drop_rows_keeps_them(tiny, monkeypatch):
    """Linear-attention and state-space layers have no `batch_select_indices`: their rows stay to the end."""
    _, _, _, eos = tiny
    dropping = ours(tiny, 4, 0.8)
    monkeypatch.delattr(DynamicLayer, "batch_select_indices")
    assert [cut(r, eos) for r in ours(tiny, 4, 0.8)] == [cut(r, eos) for r in dropping]


def test_the_models_repetition_penalty_and_min_p_apply_as_in_generate(tiny, monkeypatch):
    """A model's generation config (Qwen2.5's repetition_penalty 1.05, say) shapes its samples in `generate` and
    in the vLLM sampler; the loop applies it too."""
    model, tok, enc, eos = tiny
    plain = ours(tiny, 3, 0.8)
    monkeypatch.setattr(model.generation_config, "repetition_penalty", 1.5)
    monkeypatch.setattr(model.generation_config, "min_p", 0.9)  # it bites on a random model's flat distribution
    mine = ours(tiny, 3, 0.8)
    torch.manual_seed(7)
    gen = model.generate(
        **{k: v.repeat_interleave(3, 0) for k, v in enc.items()},
        max_new_tokens=24,
        do_sample=False,
        logits_processor=LogitsProcessorList([SameDraw(0.8, 0.9, min_p=0.9)]),
        pad_token_id=tok.pad_token_id,
        eos_token_id=sorted(eos),
    )
    assert [cut(r, eos) for r in mine] == [cut(r, eos) for r in gen[:, enc["input_ids"].shape[1] :].tolist()]
    assert mine != plain


def test_the_seed_fixes_a_batchs_samples(tiny_model_dir):
    """A stage re-run after a crash draws the same samples: each batch reseeds from (seed, batch index)."""
    model, tok = models.load_policy(tiny_model_dir)
    prompts = [{"messages": [{"role": "user", "content": f"Count to {i}."}]} for i in range(5)]
    run = lambda seed: HFSampler(model, tok, 3).generate(  # noqa: E731
        prompts, 2, temperature=0.8, top_p=0.9, max_new_tokens=8, seed=seed
    )
    first = run(5)
    assert run(5) == first and run(6) != first


def test_each_rows_step_logits_reach_on_step_under_its_own_index(tiny, monkeypatch):
    """The local judge reads log-probabilities of every step of every answer through `on_step`: a row's logits
    are its own whichever rows have left the batch."""

    def logits_by_row():
        seen = {}
        model, tok, enc, eos = tiny
        torch.manual_seed(7)
        decoding.decode(
            model,
            shared_prompt_inputs(model, enc, 3, tok.pad_token_id),
            max_new_tokens=16,
            eos=eos,
            temperature=0.8,
            top_p=0.9,
            on_step=lambda rows, logits: [seen.setdefault(r, []).append(x) for r, x in zip(rows, logits)],
        )
        return seen

    pruned = logits_by_row()
    monkeypatch.setattr(decoding, "PRUNE_SHARE", 2.0)  # never
    kept = logits_by_row()
    assert len({len(v) for v in pruned.values()}) > 2  # rows left at different steps
    for r, steps in pruned.items():
        torch.testing.assert_close(torch.stack(steps), torch.stack(kept[r][: len(steps)]), atol=1e-5, rtol=1e-5)


ARCHITECTURES = {  # tiny random models of other families than the llama the other tests use
    "gpt2": lambda T, v: T.GPT2Config(n_layer=2, n_embd=64, n_head=2, vocab_size=v),
    "gemma2 (sliding window shorter than the answer)": lambda T, v: T.Gemma2Config(
        num_hidden_layers=2,
        hidden_size=64,
        intermediate_size=128,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=32,
        vocab_size=v,
        sliding_window=8,
    ),
    "phi3": lambda T, v: T.Phi3Config(
        num_hidden_layers=2, hidden_size=64, intermediate_size=128, num_attention_heads=2, vocab_size=v, pad_token_id=0
    ),
    "qwen2": lambda T, v: T.Qwen2Config(
        num_hidden_layers=2,
        hidden_size=64,
        intermediate_size=128,
        num_attention_heads=2,
        num_key_value_heads=1,
        vocab_size=v,
    ),
    "gpt_neox": lambda T, v: T.GPTNeoXConfig(
        num_hidden_layers=2, hidden_size=64, intermediate_size=128, num_attention_heads=2, vocab_size=v
    ),
}


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("n,temperature", [(1, 0.0), (2, 0.9)])
def test_other_architectures_decode_as_generate_does(arch, n, temperature):
    """The loop replaced `generate` for every model: other families' caches (a sliding window, fused attention
    layouts) decode to `generate`'s tokens too, padded prompts and dropped rows included."""
    import transformers

    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(ARCHITECTURES[arch](transformers, 300)).eval()
    ids = torch.tensor([[0, 0, 5, 6, 7, 8, 9], [3, 4, 5, 6, 7, 8, 9], [0, 0, 0, 5, 6, 9, 9]])
    enc = {"input_ids": ids, "attention_mask": (torch.arange(7) >= torch.tensor([[2], [0], [3]])).long()}
    eos = set(range(1, 300, 5))
    torch.manual_seed(3)
    mine = decoding.decode(
        model, shared_prompt_inputs(model, enc, n, 0), max_new_tokens=12, eos=eos, temperature=temperature, top_p=0.9
    )
    torch.manual_seed(3)
    gen = model.generate(
        **{k: v.repeat_interleave(n, 0) for k, v in enc.items()},
        max_new_tokens=12,
        do_sample=False,
        logits_processor=LogitsProcessorList([SameDraw(temperature, 0.9)]),
        pad_token_id=0,
        eos_token_id=sorted(eos),
    )
    assert [cut(r, eos) for r in mine] == [cut(r, eos) for r in gen[:, ids.shape[1] :].tolist()]
