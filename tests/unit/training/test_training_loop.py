"""The one training loop (`dno.training.loop`, on accelerate): how a step's pairs are cut, that gradient
accumulation does not change the result, that training changes the model, LoRA. The same loop in 2 DDP
processes is tests/integration/test_ddp_training.py."""

from __future__ import annotations

import copy
import weakref

import pytest
import torch

from dno import models
from dno.config import TrainConfig
from dno.errors import DnoError
from dno.training.logprobs import encode, pair_logps
from dno.training.loop import PairBatchItem, check_batch, epoch_batches, micro_batches, save_policy, train


def pair_items(tok, n=10):
    msgs = lambda i: [{"role": "user", "content": f"Count to {i}."}]  # noqa: E731
    return [
        PairBatchItem(
            encode(tok, msgs(i), "one two three " * (i % 3 + 1), True),
            encode(tok, msgs(i), "no" * (i % 4 + 1), i % 2 == 0),
        )
        for i in range(n)
    ]


CFG = dict(beta=0.1, epochs=2, batch_size=4, max_grad_norm=1.0, weight_decay=0.0, nll_weight=0.0)  # the DPO loss alone


def test_micro_batches_split_a_step_over_processes_and_accumulation():
    parts = micro_batches([5, 1, 7, 3, 2, 9], world=2, accum=2)
    assert parts == [[5], [1, 7], [3], [2, 9]] and sorted(sum(parts, [])) == [1, 2, 3, 5, 7, 9]
    assert micro_batches([4], world=2, accum=2).count([]) == 3  # short last step: empty parts
    assert micro_batches([1, 2, 3, 4], world=1, accum=3) == [[1], [2], [3, 4]], "uneven parts are allowed"
    check_batch(8, world=2, accum=2, deepspeed=True)
    check_batch(6, world=4, accum=1, deepspeed=False)  # uneven micro-batches are exact outside DeepSpeed
    with pytest.raises(DnoError, match="train.batch_size=6 must be a multiple of processes"):
        check_batch(6, world=4, accum=1, deepspeed=True)


def test_epoch_batches_reshuffle_every_epoch_and_cover_every_pair():
    steps = epoch_batches(5, 2, 2, seed=0)
    assert [e for e, _ in steps] == [0, 0, 0, 1, 1, 1] and [len(b) for _, b in steps] == [2, 2, 1] * 2
    for epoch in (0, 1):
        assert sorted(i for e, b in steps if e == epoch for i in b) == list(range(5))
    assert steps == epoch_batches(5, 2, 2, seed=0) and steps != epoch_batches(5, 2, 2, seed=1)


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    torch.set_num_threads(1)
    model, tok = models.load_policy(tiny_model_dir, device="cpu")
    return model, tok, pair_items(tok)


def _train(model, tok, items, **over):
    cfg = TrainConfig(**{**CFG, **over})
    return train(copy.deepcopy(model), items, cfg, pad_id=tok.pad_token_id, lr=1e-3, seed=3)


@pytest.fixture(scope="module")
def one_step_per_batch(tiny):
    model, tok, items = tiny
    return _train(model, tok, items)


def test_training_changes_the_model_and_logs_every_step(tiny, one_step_per_batch):
    model, _, _ = tiny
    trained = one_step_per_batch
    assert len(trained.history) == 6  # 10 pairs in steps of 4 (the last has 2), 2 epochs
    assert [h["step"] for h in trained.history] == list(range(1, 7))
    assert all({"loss", "reward_margin", "reward_accuracy", "grad_norm"} <= set(h) for h in trained.history)
    assert trained.is_main and trained.backend.startswith("accelerate") and "1 process)" in trained.backend
    before, after = model.state_dict(), trained.model.state_dict()
    assert before.keys() == after.keys()
    unchanged = [k for k in before if torch.equal(before[k], after[k])]
    assert not unchanged, f"parameters not updated: {unchanged}"
    assert trained.history[-1]["loss"] < trained.history[0]["loss"]


def test_the_prompts_shared_opening_once_per_batch_gives_the_same_training(tiny, one_step_per_batch, monkeypatch):
    """Training runs the chat template's system prompt once per batch; every row running it trains the same."""
    from dno.training import loop

    model, tok, items = tiny
    assert loop._prefix(items) > 20
    assert one_step_per_batch.history[0]["reward_margin"] == 0.0, "step 1's log-ratios are exactly 0"
    monkeypatch.setattr(loop, "_prefix", lambda items: 0)
    every_row = _train(model, tok, items)
    for a, b in zip(one_step_per_batch.history, every_row.history):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-5)
    wa, wb = one_step_per_batch.model.state_dict(), every_row.model.state_dict()
    assert not [k for k in wa if not torch.allclose(wa[k], wb[k], atol=1e-5)]


def test_gradient_accumulation_gives_the_same_weights(tiny, one_step_per_batch):
    model, tok, items = tiny
    accumulated = _train(model, tok, items, gradient_accumulation_steps=2)
    for a, b in zip(one_step_per_batch.history, accumulated.history):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-5)
        assert a["reward_accuracy"] == pytest.approx(b["reward_accuracy"])
    assert len(accumulated.history) == len(one_step_per_batch.history)
    wa, wb = one_step_per_batch.model.state_dict(), accumulated.model.state_dict()
    bad = [k for k in wa if not torch.allclose(wa[k], wb[k], atol=1e-5)]
    assert not bad, bad


def test_a_fixed_reference_equal_to_the_start_gives_the_same_weights_and_is_freed_before_training(
    tiny, one_step_per_batch
):
    """The reference is the model before its first update unless a fixed one is given: giving that same model
    (iterative DPO's π_0 at iteration 1) must change nothing. The fixed reference is needed for one pass
    only; it must be gone before the first update, not held beside training's memory (ZeRO-3: a copy per GPU)."""
    model, tok, items = tiny
    loaded = []

    def load_reference():
        ref = copy.deepcopy(model)
        loaded.append(weakref.ref(ref))
        return ref

    alive_at_step = []
    with_ref = train(
        copy.deepcopy(model),
        items,
        TrainConfig(**CFG),
        pad_id=tok.pad_token_id,
        lr=1e-3,
        seed=3,
        load_reference=load_reference,
        on_step=lambda m: alive_at_step.append(loaded[0]() is not None),
    )
    wa, wb = one_step_per_batch.model.state_dict(), with_ref.model.state_dict()
    assert all(torch.allclose(wa[k], wb[k], atol=1e-6) for k in wa)
    assert len(loaded) == 1 and alive_at_step and not any(alive_at_step), "π_0 still in memory while training"


def test_a_fixed_reference_computes_in_the_precision_the_engine_trains_in(tiny, monkeypatch):
    """DeepSpeed casts its engine's weights to bf16 (accelerate's autocast does nothing there), FSDP computes
    with bf16 copies of them: π_0's reference pass must run in bf16 too, or step 0's log-ratios are precision
    noise instead of 0 (DNO's own reference, the prepared model, already is)."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    from dno.training import loop

    model, tok, items = tiny
    AcceleratorState._reset_state()
    acc = Accelerator(mixed_precision="bf16")  # on CPU: float32 weights, bf16 autocast
    assert loop.engine_weight_dtype(acc) == torch.float32
    plain = loop.fixed_reference_logps(acc, lambda: copy.deepcopy(model), items, tok.pad_token_id, 4, 1, 3)
    monkeypatch.setattr(loop, "distributed_type", lambda acc: "DEEPSPEED")
    assert loop.engine_weight_dtype(acc) == torch.bfloat16
    engine = loop.fixed_reference_logps(acc, lambda: copy.deepcopy(model), items, tok.pad_token_id, 4, 1, 3)
    bf16 = loop.reference_logps(acc, copy.deepcopy(model).to(torch.bfloat16), items, tok.pad_token_id, 4, 1, 3)
    assert torch.equal(engine[0], bf16[0]) and torch.equal(engine[1], bf16[1])
    assert not torch.equal(engine[0], plain[0]), "bf16 weights and fp32 weights under autocast should differ"
    monkeypatch.setattr(loop, "distributed_type", lambda acc: "FSDP")
    assert loop.engine_weight_dtype(acc) == torch.bfloat16
    AcceleratorState._reset_state()


def test_uneven_accumulation_gives_the_same_weights(tiny, one_step_per_batch):
    """4 pairs per step in 3 micro-batches (1, 1, 2 pairs; the last step's 2 pairs in 0, 1, 1): each part's loss
    is weighted by its share of the step, so the gradient is still the mean over the step's pairs."""
    model, tok, items = tiny
    uneven = _train(model, tok, items, gradient_accumulation_steps=3)
    assert [h["loss"] for h in uneven.history] == pytest.approx(
        [h["loss"] for h in one_step_per_batch.history], abs=1e-5
    )
    wa, wb = one_step_per_batch.model.state_dict(), uneven.model.state_dict()
    assert all(torch.allclose(wa[k], wb[k], atol=1e-5) for k in wa)


def test_saved_policy_reloads_as_an_ordinary_checkpoint(tiny, one_step_per_batch, tmp_path):
    _, tok, _ = tiny
    save_policy(one_step_per_batch, tok, tmp_path)
    assert not (tmp_path / ".policy.tmp").exists()
    reloaded, _ = models.load_policy(tmp_path / "policy", device="cpu")
    sd = one_step_per_batch.model.state_dict()
    assert all(torch.equal(v, sd[k]) for k, v in reloaded.state_dict().items())


def test_lora_trains_and_the_merged_checkpoint_loads_in_transformers(tiny, tmp_path):
    pytest.importorskip("peft")
    from transformers import AutoModelForCausalLM

    model, tok, items = tiny
    base = {k: v.clone() for k, v in model.state_dict().items()}
    trained = _train(model, tok, items, lora_r=4, epochs=3)
    trainable = [n for n, p in trained.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert trained.history[-1]["loss"] < trained.history[0]["loss"], "LoRA training lowers the loss"
    save_policy(trained, tok, tmp_path)
    sd = AutoModelForCausalLM.from_pretrained(str(tmp_path / "policy")).state_dict()
    assert not any("lora" in k for k in sd) and set(sd) == set(base)
    changed = [k for k in base if not torch.equal(base[k], sd[k])]
    assert changed and all("proj" in k for k in changed), "only the adapted linear layers change"


def test_nll_weight_adds_the_chosen_answers_per_token_nll_and_keeps_them_likely(tiny, one_step_per_batch):
    """RPO: loss = preference loss + α × the chosen response's per-token NLL. The first step's loss grows by
    exactly α × that NLL (the model has not moved yet), and training keeps the chosen answers more likely."""
    model, tok, items = tiny
    rpo = _train(model, tok, items, nll_weight=2.0)

    def chosen_logps(m, idx):
        with torch.no_grad():
            c, _ = pair_logps(
                m, [items[i].chosen for i in idx], [items[i].rejected for i in idx], tok.pad_token_id, "cpu"
            )
        return c

    _, step_1 = epoch_batches(len(items), CFG["batch_size"], CFG["epochs"], seed=3)[0]  # as `_train` shuffles
    n_tokens = torch.tensor([len(items[i].chosen.ids) - items[i].chosen.prompt_len for i in step_1])
    nll = (-chosen_logps(model, step_1) / n_tokens).mean().item()
    assert rpo.history[0]["loss"] - one_step_per_batch.history[0]["loss"] == pytest.approx(2.0 * nll, rel=1e-4)
    every = range(len(items))
    assert chosen_logps(rpo.model, every).mean() > chosen_logps(one_step_per_batch.model, every).mean()
