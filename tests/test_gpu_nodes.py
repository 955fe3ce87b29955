"""GPU nodes (issue 6): vLLM sampler settings, sharded sample/judge with a deterministic merge, stage
commands on a run directory, the accelerate training path, LoRA, launch configs and scripts.

The CPU tests run everywhere; tests marked `gpu` need CUDA (and vLLM for the sampler) and are skipped
without them: `pytest -m gpu tests/test_gpu_nodes.py` on a GPU node.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml

from dno import distributed, io, models, shards, training
from dno.cli import main
from dno.config import SampleConfig, load_config
from dno.errors import DnoError
from dno.vllm_sampler import (encode_prompts, prompt_seed, to_generations, vllm_engine_kwargs,
                              vllm_sampling_kwargs)

ROOT = Path(__file__).resolve().parents[1]
# The tiny config made smaller still: 12 prompts in batches of 4, 4 new tokens.
FAST = ["tiny", "threads=1", "iterations=1", "data.prompts_per_iteration=12", "data.test_prompts=4",
        "data.val_prompts=0", "sample.max_new_tokens=4", "sample.batch_size=4", "eval.max_new_tokens=4"]


# ---- vLLM sampler: settings mapping (pure functions, no vLLM needed) --------------------------------------

def test_vllm_sampling_kwargs_map_the_sample_settings_one_to_one():
    cfg = SampleConfig(temperature=0.7, top_p=0.95, max_new_tokens=32)
    kw = vllm_sampling_kwargs(cfg, 6, 1234, stop_token_ids=[2, 0, 2])
    assert kw["n"] == 6 and kw["temperature"] == 0.7 and kw["top_p"] == 0.95
    assert kw["max_tokens"] == 32 and kw["seed"] == 1234
    assert kw["top_k"] == -1, "top-k off, as in the HF sampler (top_k=0)"
    assert kw["stop_token_ids"] == [0, 2]
    assert kw["skip_special_tokens"] is True


def test_vllm_sampling_kwargs_temperature_zero_is_greedy():
    cfg = SampleConfig(temperature=0.0, top_p=0.9, max_new_tokens=8)
    kw = vllm_sampling_kwargs(cfg, 1, 99)
    assert kw["temperature"] == 0.0 and kw["top_p"] == 1.0 and kw["seed"] is None and kw["n"] == 1
    with pytest.raises(ValueError, match="greedy"):
        vllm_sampling_kwargs(cfg, 4, 99)


def test_vllm_engine_kwargs_take_parallelism_and_memory_from_the_config():
    cfg = SampleConfig(backend="vllm", tensor_parallel_size=4, gpu_memory_utilization=0.6, max_model_len=2048,
                       enforce_eager=True)
    kw = vllm_engine_kwargs(cfg, Path("/models/x"), "bfloat16", seed=3)
    assert kw["model"] == kw["tokenizer"] == "/models/x"
    assert (kw["tensor_parallel_size"], kw["gpu_memory_utilization"], kw["max_model_len"]) == (4, 0.6, 2048)
    assert kw["dtype"] == "bfloat16" and kw["enforce_eager"] is True and kw["seed"] == 3
    assert "max_model_len" not in vllm_engine_kwargs(SampleConfig(), "/m", "float32")


def test_new_sample_and_train_settings_are_checked():
    for bad, key in (("sample.tensor_parallel_size=0", "sample.tensor_parallel_size"),
                     ("sample.gpu_memory_utilization=1.5", "sample.gpu_memory_utilization"),
                     ("train.lora_r=-1", "train.lora_r"),
                     ("train.gradient_accumulation_steps=0", "train.gradient_accumulation_steps")):
        with pytest.raises(DnoError, match=key.replace(".", r"\.")):
            load_config(ROOT / "configs" / "tiny.yaml", [bad])


def test_prompt_seeds_depend_on_the_prompt_not_on_the_shard():
    seeds = [prompt_seed(7, i) for i in range(100)]
    assert len(set(seeds)) == 100 and all(0 <= s < 2**31 - 1 for s in seeds)
    assert prompt_seed(8, 0) != prompt_seed(7, 0)


def test_vllm_prompts_are_the_hf_samplers_tokens(tiny_model_dir):
    tok = models.load_tokenizer(tiny_model_dir)
    prompts = [{"messages": [{"role": "user", "content": "Say hi."}]},
               {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}]}]
    ids = encode_prompts(tok, prompts)
    tok.padding_side = "left"
    enc = tok([models.render_prompt(tok, p["messages"]) for p in prompts], padding=True, add_special_tokens=False)
    for mine, (row, mask) in zip(ids, zip(enc["input_ids"], enc["attention_mask"])):
        assert mine == [t for t, m in zip(row, mask) if m], "vLLM must condition on the HF sampler's tokens"


def test_vllm_outputs_become_generations_like_the_hf_samplers(tiny_model_dir):
    tok = models.load_tokenizer(tiny_model_dir)
    eos = tok.eos_token_id
    hello = tok("hello world", add_special_tokens=False)["input_ids"]
    outs = [SimpleNamespace(outputs=[
        SimpleNamespace(index=1, token_ids=hello, finish_reason="length"),
        SimpleNamespace(index=0, token_ids=hello + [eos], finish_reason="stop"),
    ])]
    (gens,) = to_generations(tok, outs, [eos])
    assert [g.text for g in gens] == ["hello world", "hello world"]
    assert [g.finished for g in gens] == [True, False], "ordered by sample index; finished = finish_reason stop"
    assert gens[0].tokens == len(hello)


def test_vllm_backend_without_vllm_is_a_clear_error(tiny_model_dir):
    pytest.importorskip("transformers")
    try:
        import vllm  # noqa: F401
        pytest.skip("vLLM is installed")
    except ImportError:
        pass
    from dno.vllm_sampler import VLLMSampler

    with pytest.raises(DnoError, match="vllm"):
        VLLMSampler(tiny_model_dir, SampleConfig(backend="vllm"))


# ---- shards -------------------------------------------------------------------------------------------

def test_parse_shard():
    assert shards.parse_shard("1/4") == (1, 4) and shards.parse_shard(None) is None
    for bad in ("4/4", "1", "-1/2", "a/b", "0/0"):
        with pytest.raises(DnoError, match="--shard"):
            shards.parse_shard(bad)


@pytest.mark.parametrize("num,n,align", [(16, 3, 8), (16, 4, 4), (10, 3, 4), (7, 8, 2), (0, 2, 4), (100, 7, 1)])
def test_shard_ranges_cover_everything_once_cut_at_batch_boundaries(num, n, align):
    ranges = [shards.shard_range(num, i, n, align) for i in range(n)]
    assert ranges[0][0] == 0 and ranges[-1][1] == num
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:])), "contiguous, no gap, no overlap"
    assert all(lo % align == 0 for lo, hi in ranges if hi > lo), "every shard starts on a batch boundary"
    sizes = [hi - lo for lo, hi in ranges]
    assert max(sizes) - min(sizes) <= align


def test_merge_rows_orders_by_prompt_and_refuses_gaps_and_duplicates():
    ids = ["a", "b", "c", "d"]
    rows = shards.merge_rows(ids, [[{"id": "c"}, {"id": "d"}], [{"id": "a"}, {"id": "b"}]], "x")
    assert [r["id"] for r in rows] == ids
    with pytest.raises(DnoError, match="missing"):
        shards.merge_rows(ids, [[{"id": "a"}], [{"id": "b"}, {"id": "c"}]], "x")
    with pytest.raises(DnoError, match="more than one shard"):
        shards.merge_rows(ids, [[{"id": "a"}, {"id": "b"}], [{"id": "b"}, {"id": "c"}, {"id": "d"}]], "x")


def test_merge_usage_adds_counts():
    u = shards.merge_usage([{"requests_sent": 3, "seconds": 5.0, "judge": "api:m", "cost_usd": None},
                            {"requests_sent": 4, "seconds": 7.0, "judge": "api:m", "cost_usd": 0.5}])
    assert u == {"requests_sent": 7, "seconds": 7.0, "judge": "api:m", "cost_usd": 0.5, "shards": 2}


@pytest.fixture(scope="module")
def sampled_run(tmp_path_factory):
    """A prepared tiny run whose iteration 1 was sampled and judged without shards."""
    root = tmp_path_factory.mktemp("gpu_nodes") / "plain"
    assert main(["prepare", *FAST, "--run-dir", str(root)]) == 0
    assert main(["sample", str(root), "--iter", "1"]) == 0
    assert main(["judge", str(root), "--iter", "1"]) == 0
    return root


def _copy_prepared(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("samples.jsonl", "judgments.jsonl", "shards", "timings.json"))
    return dst


def test_sharded_sampling_and_judging_merge_to_the_unsharded_bytes(sampled_run, tmp_path, capsys):
    run = _copy_prepared(sampled_run, tmp_path / "sharded")
    d = run / "iter_1"
    for i in (2, 0):  # out of order; no merge until every shard is there
        assert main(["sample", str(run), "--iter", "1", "--shard", f"{i}/3"]) == 0
    assert not (d / "samples.jsonl").exists()
    assert main(["merge", str(run), "--iter", "1", "--stage", "sample"]) == 2
    assert "no complete set" in capsys.readouterr().err
    assert main(["sample", str(run), "--iter", "1", "--shard", "1/3"]) == 0  # the last shard merges
    assert sorted(p.name for p in (d / "shards").iterdir()) == [f"samples.0000{i}-of-00003.jsonl" for i in range(3)]
    assert (d / "samples.jsonl").read_bytes() == (sampled_run / "iter_1" / "samples.jsonl").read_bytes()

    for i in range(2):
        assert main(["judge", str(run), "--iter", "1", "--shard", f"{i}/2"]) == 0
    assert (d / "judgments.jsonl").read_bytes() == (sampled_run / "iter_1" / "judgments.jsonl").read_bytes()
    # an explicit merge gives the same bytes again
    (d / "samples.jsonl").unlink()
    assert main(["merge", str(run), "--iter", "1", "--stage", "sample", "--shards", "3"]) == 0
    assert (d / "samples.jsonl").read_bytes() == (sampled_run / "iter_1" / "samples.jsonl").read_bytes()


def test_more_shards_than_batches_leaves_empty_shards(sampled_run, tmp_path):
    run = _copy_prepared(sampled_run, tmp_path / "many")
    for i in range(5):  # 12 prompts in batches of 4: 3 batches over 5 shards
        assert main(["sample", str(run), "--iter", "1", "--shard", f"{i}/5"]) == 0
    sizes = [len(io.read_jsonl(shards.shard_path(run / "iter_1", "sample", i, 5))) for i in range(5)]
    assert sum(sizes) == 12 and sizes.count(0) == 2
    assert (run / "iter_1" / "samples.jsonl").read_bytes() == (sampled_run / "iter_1" / "samples.jsonl").read_bytes()


def test_stage_commands_refuse_what_they_must_not_change(sampled_run, tmp_path, capsys):
    assert main(["sample", str(sampled_run), "--iter", "1", "train.beta=0.5"]) == 2
    assert "may only override" in capsys.readouterr().err
    assert main(["sample", str(sampled_run), "--iter", "2"]) == 2
    assert "iterations 1..1" in capsys.readouterr().err
    assert main(["sample", str(tmp_path / "nothing"), "--iter", "1"]) == 2
    assert "dno prepare" in capsys.readouterr().err
    assert main(["sample", str(sampled_run), "--iter", "1", "--shard", "3/3"]) == 2
    before = (sampled_run / "iter_1" / "samples.jsonl").read_bytes()
    assert main(["sample", str(sampled_run), "--iter", "1", "threads=2"]) == 0  # done: skipped
    assert (sampled_run / "iter_1" / "samples.jsonl").read_bytes() == before
    assert "done, skipping" in capsys.readouterr().err


def test_pair_train_eval_stage_commands_through_the_accelerate_path(sampled_run, tmp_path, tiny_model_dir):
    """pair → train (accelerate, gradient accumulation and checkpointing) → eval, each its own command."""
    run = tmp_path / "acc"
    assert main(["prepare", *FAST, "train.gradient_accumulation_steps=2", "train.gradient_checkpointing=true",
                 "--run-dir", str(run)]) == 0
    for name in ("samples.jsonl", "judgments.jsonl"):
        shutil.copy(sampled_run / "iter_1" / name, run / "iter_1" / name)
    assert main(["pair", str(run), "--iter", "1"]) == 0
    assert main(["train", str(run), "--iter", "1"]) == 0
    summary = io.read_json(run / "iter_1" / "train_summary.json")
    assert summary["backend"].startswith("accelerate") and summary["gradient_accumulation_steps"] == 2
    assert summary["steps"] >= 1 and summary["final_loss"] is not None
    from safetensors.torch import load_file

    before, after = load_file(str(tiny_model_dir / "model.safetensors")), load_file(str(run / "iter_1" / "policy" / "model.safetensors"))
    assert before.keys() == after.keys() and any(not torch.equal(before[k], after[k]) for k in before)
    assert main(["eval", str(run), "--iter", "1"]) == 0
    m = io.read_json(run / "iter_1" / "eval" / "metrics.json")
    assert m["n"] == 4 and (run / "baseline" / "responses.jsonl").is_file()


def test_two_process_ddp_training_gives_the_plain_loops_weights(sampled_run, tmp_path):
    """A real 2-process run (torchrun + gloo on CPU, as `accelerate launch` starts it on GPUs), with gradient
    accumulation: each step's 4 pairs are cut into 2 processes x 2 micro-batches."""
    from safetensors.torch import load_file

    plain, ddp = tmp_path / "plain", tmp_path / "ddp"
    for root, extra in ((plain, []), (ddp, ["train.gradient_accumulation_steps=2"])):
        assert main(["prepare", *FAST, *extra, "--run-dir", str(root)]) == 0
        for name in ("samples.jsonl", "judgments.jsonl"):
            shutil.copy(sampled_run / "iter_1" / name, root / "iter_1" / name)
        assert main(["pair", str(root), "--iter", "1"]) == 0
    assert main(["train", str(plain), "--iter", "1"]) == 0
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "ACCELERATE_MIXED_PRECISION": "no", "OMP_NUM_THREADS": "1"}
    import socket

    with socket.socket() as sock:  # a free port for the rendezvous
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr",
                        "127.0.0.1", "--master_port", str(port), "-m", "dno.cli", "train", str(ddp), "--iter", "1"],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "2 processes" in io.read_json(ddp / "iter_1" / "train_summary.json")["backend"]
    a, b = (io.read_jsonl(root / "iter_1" / "train_log.jsonl") for root in (plain, ddp))
    assert [x["loss"] for x in a] == pytest.approx([x["loss"] for x in b], abs=1e-5)
    wa, wb = (load_file(str(root / "iter_1" / "policy" / "model.safetensors")) for root in (plain, ddp))
    assert wa.keys() == wb.keys() and all(torch.allclose(wa[k], wb[k], atol=1e-5) for k in wa)


# ---- accelerate training path -------------------------------------------------------------------------

def _items(tok, n=10):
    msgs = lambda i: [{"role": "user", "content": f"Count to {i}."}]  # noqa: E731
    return [training.PairBatchItem(training.encode(tok, msgs(i), "one two three " * (i % 3 + 1), True),
                                   training.encode(tok, msgs(i), "no" * (i % 4 + 1), i % 2 == 0)) for i in range(n)]


def _accelerate_train(model, tok, items, accum=1, **kw):
    from accelerate import Accelerator

    acc = Accelerator(gradient_accumulation_steps=accum)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3, weight_decay=0.0)
    model, opt = acc.prepare(model, opt)
    return acc, model, distributed.accelerate_train(acc, model, opt, tok, items, **kw)


KW = dict(beta=0.1, epochs=2, batch_size=4, max_grad_norm=1.0, seed=3)


@pytest.mark.parametrize("accum", [1, 2])
def test_accelerate_path_gives_the_plain_loops_weights(tiny_model_dir, accum):
    torch.set_num_threads(1)
    model, tok = models.load_policy(tiny_model_dir, device="cpu")
    items = _items(tok)
    plain = copy.deepcopy(model)
    h1 = training.train(plain, tok, items, lr=1e-3, weight_decay=0.0, **KW)
    _, accel, h2 = _accelerate_train(copy.deepcopy(model), tok, items, accum=accum, **KW)
    assert len(h1) == len(h2) == 6  # 10 pairs in steps of 4 (the last has 2), 2 epochs
    for a, b in zip(h1, h2):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-5)
        assert a["reward_accuracy"] == pytest.approx(b["reward_accuracy"])
    for (k, a), b in zip(plain.state_dict().items(), accel.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-5), k
    assert any(not torch.equal(a, b) for a, b in zip(model.state_dict().values(), accel.state_dict().values()))


def test_wrapped_models_give_the_plain_loops_log_probabilities(tiny_model_dir):
    """DDP/DeepSpeed/FSDP/peft wrappers are called through their own forward (logits_to_keep)."""
    model, tok = models.load_policy(tiny_model_dir, device="cpu")

    class Wrapper(torch.nn.Module):  # stands in for DistributedDataParallel
        def __init__(self, m):
            super().__init__()
            self.module = m

        def forward(self, **kw):
            return self.module(**kw)

    seqs = [it.chosen for it in _items(tok, 3)] + [it.rejected for it in _items(tok, 3)]
    with torch.no_grad():
        a = training.sequence_logps(model, seqs, tok.pad_token_id)
        b = distributed._logps(Wrapper(model), seqs, tok.pad_token_id, torch.device("cpu"))
    assert torch.allclose(a, b, atol=1e-4)


def test_micro_batches_split_a_step_over_processes_and_accumulation():
    parts = distributed.micro_batches([5, 1, 7, 3, 2, 9], world=2, accum=2)
    assert len(parts) == 4 and sorted(sum(parts, [])) == [1, 2, 3, 5, 7, 9]
    assert distributed.micro_batches([4], world=2, accum=2).count([]) == 3  # short last step: empty parts
    with pytest.raises(DnoError, match="multiple"):
        distributed.check_batch(6, world=4, accum=1)
    assert distributed.epoch_batches(5, 2, 1, seed=0)[-1][1].__len__() == 1


def test_lora_trains_and_the_merged_checkpoint_loads_in_transformers(tiny_model_dir, tmp_path):
    pytest.importorskip("peft")
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(1)
    model, tok = models.load_policy(tiny_model_dir, device="cpu")
    base = {k: v.clone() for k, v in model.state_dict().items()}
    lora = distributed.add_lora(model, SimpleNamespace(lora_r=4, lora_alpha=0.0, lora_dropout=0.0))
    trainable = [n for n, p in lora.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    acc, lora, history = _accelerate_train(lora, tok, _items(tok), **{**KW, "epochs": 3})
    assert history[-1]["loss"] < history[0]["loss"], "LoRA training lowers the loss"
    distributed.save_policy(acc.unwrap_model(lora), tok, tmp_path, lora=True)
    saved = AutoModelForCausalLM.from_pretrained(str(tmp_path / "policy"))
    sd = saved.state_dict()
    assert not any("lora" in k for k in sd) and set(sd) == set(base)
    changed = [k for k in base if not torch.equal(base[k], sd[k])]
    assert changed and all("proj" in k for k in changed), "only the adapted linear layers change"
    assert models.load_policy(tmp_path / "policy", device="cpu")[0] is not None


# ---- launch configs and scripts ---------------------------------------------------------------------

def test_accelerate_configs_are_shipped_and_valid():
    cfgs = {p.stem: yaml.safe_load(p.read_text()) for p in (ROOT / "configs" / "accelerate").glob("*.yaml")}
    assert set(cfgs) >= {"single_gpu", "ddp", "zero3", "fsdp"}
    assert cfgs["single_gpu"]["num_processes"] == 1
    assert cfgs["ddp"]["distributed_type"] == "MULTI_GPU"
    assert cfgs["zero3"]["distributed_type"] == "DEEPSPEED" and cfgs["zero3"]["deepspeed_config"]["zero_stage"] == 3
    assert cfgs["fsdp"]["distributed_type"] == "FSDP"
    assert all(c["mixed_precision"] == "bf16" for c in cfgs.values())
    from accelerate.commands.config.config_args import load_config_from_file

    for name in cfgs:  # accelerate's own parser accepts them
        assert load_config_from_file(str(ROOT / "configs" / "accelerate" / f"{name}.yaml")).mixed_precision == "bf16"


@pytest.mark.parametrize("script", ["scripts/run_node.sh", "scripts/iteration.sh", "scripts/slurm/dno.sbatch"])
def test_launch_scripts_are_valid_bash(script):
    path = ROOT / script
    assert path.is_file()
    r = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_iteration_script_dry_run_prints_the_stage_commands(tmp_path):
    r = subprocess.run(["bash", str(ROOT / "scripts" / "iteration.sh"), str(tmp_path / "run"), "2"],
                       capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "DRY_RUN": "1", "NUM_GPUS": "4"})
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for i in range(4):
        assert f"sample {tmp_path / 'run'} --iter 2 --shard {i}/4" in out
    assert "accelerate launch" in out and "train" in out and "eval" in out


# ---- GPU (skipped without CUDA) ----------------------------------------------------------------------

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.gpu
@needs_cuda
def test_gpu_vllm_sampler_matches_the_hf_samplers_interface(tiny_model_dir):
    pytest.importorskip("vllm")
    from dno.sampling import HFSampler
    from dno.vllm_sampler import VLLMSampler

    prompts = [{"messages": [{"role": "user", "content": f"Count to {i}."}]} for i in range(5)]
    cfg = SampleConfig(backend="vllm", gpu_memory_utilization=0.3, enforce_eager=True, max_model_len=512)
    v = VLLMSampler(tiny_model_dir, cfg, "bfloat16").generate(prompts, 3, temperature=0.7, top_p=0.95,
                                                                  max_new_tokens=8, seed=1)
    model, tok = models.load_policy(tiny_model_dir, "bfloat16", device="cuda")
    h = HFSampler(model, tok, 4).generate(prompts, 3, temperature=0.7, top_p=0.95, max_new_tokens=8, seed=1)
    assert len(v) == len(h) == 5 and all(len(g) == 3 for g in v)
    assert all(isinstance(g.text, str) and g.tokens <= 8 for gs in v for g in gs)
    assert all(g.tokens < 8 for gs in v for g in gs if g.finished), "finished = ended before the budget"


@pytest.mark.gpu
@needs_cuda
def test_gpu_sharded_vllm_sampling_merges_to_the_unsharded_bytes(tmp_path):
    pytest.importorskip("vllm")
    flags = ["sample.backend=vllm", "sample.gpu_memory_utilization=0.3", "sample.enforce_eager=true",
             "sample.max_model_len=512", "policy.dtype=bfloat16"]
    a, b = tmp_path / "a", tmp_path / "b"
    env = {**__import__("os").environ}
    for root in (a, b):
        assert main(["prepare", *FAST, *flags, "--run-dir", str(root)]) == 0
    # a process per engine, as on a node: the engine's memory is freed when its process exits
    dno = [sys.executable, "-m", "dno.cli"]
    subprocess.run([*dno, "sample", str(a), "--iter", "1"], check=True, env=env)
    for i in range(2):
        subprocess.run([*dno, "sample", str(b), "--iter", "1", "--shard", f"{i}/2"], check=True, env=env)
    assert (a / "iter_1" / "samples.jsonl").read_bytes() == (b / "iter_1" / "samples.jsonl").read_bytes()


@pytest.mark.gpu
@needs_cuda
def test_gpu_bf16_accelerate_training(tiny_model_dir):
    from accelerate import Accelerator

    model, tok = models.load_policy(tiny_model_dir, "float32", device="cpu")
    acc = Accelerator(mixed_precision="bf16")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model, opt = acc.prepare(model, opt)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    history = distributed.accelerate_train(acc, model, opt, tok, _items(tok), **{**KW, "epochs": 3})
    assert history[-1]["loss"] < history[0]["loss"]


@pytest.mark.gpu
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 GPUs")
@pytest.mark.parametrize("config", ["ddp", "zero3", "fsdp"])
def test_gpu_multi_gpu_train_stage(sampled_run, tmp_path, config):
    if config == "zero3":
        pytest.importorskip("deepspeed")
    run = tmp_path / config
    assert main(["prepare", *FAST, "policy.dtype=float32", "--run-dir", str(run)]) == 0
    for name in ("samples.jsonl", "judgments.jsonl"):
        shutil.copy(sampled_run / "iter_1" / name, run / "iter_1" / name)
    assert main(["pair", str(run), "--iter", "1"]) == 0
    subprocess.run(["accelerate", "launch", "--config_file", str(ROOT / "configs" / "accelerate" / f"{config}.yaml"),
                    "--num_processes", "2", "-m", "dno.cli", "train", str(run), "--iter", "1"], check=True)
    assert "2 processes" in io.read_json(run / "iter_1" / "train_summary.json")["backend"]
    assert models.load_policy(run / "iter_1" / "policy", device="cpu")[0] is not None
