"""`dno export` (AlpacaEval model outputs, TRL preference datasets) and the way back in: TRL's DPOTrainer trains
on an export, an export seeds another run's iteration 1 (pair.warm_start), an AlpacaEval file is a baseline."""

from __future__ import annotations

import json
import shutil
import sys

import pytest
from tiny_runs import FAST, prepared_with_samples

from dno import io
from dno.cli import main


@pytest.fixture(scope="module")
def source_run(sampled_run, tmp_path_factory):
    """A tiny run (tiny_runs.FAST) with iteration 1 paired and π_0's greedy held-out answers (no training)."""
    root = prepared_with_samples(sampled_run, tmp_path_factory.mktemp("export") / "src")
    assert main(["pair", str(root), "--iter", "1"]) == 0
    assert main(["baseline", str(root)]) == 0
    assert io.read_jsonl(root / "iter_1" / "pairs.jsonl"), "the fixture needs pairs to export"
    return root


def _one_line_error(capsys, *text: str) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("dno: error: "), err
    for t in text:
        assert t in err, err
    return err


def test_alpaca_eval_export_has_the_model_outputs_shape(source_run, tmp_path, capsys):
    out = source_run / "exports" / "iter_0.test.model_outputs.json"
    assert main(["export", str(source_run), "--iter", "0", "--format", "alpaca_eval"]) == 0
    assert capsys.readouterr().out == f"{out} (4 answers)\n"
    rows = json.loads(out.read_text())
    prompts = io.read_jsonl(source_run / "test_prompts.jsonl")
    answers = io.read_jsonl(source_run / "baseline" / "responses.jsonl")
    assert rows == [
        {
            "instruction": p["messages"][-1]["content"],
            "output": a["response"],
            "generator": "src-iter0",
            "dataset": p["task"],
        }
        for p, a in zip(prompts, answers)
    ]
    # AlpacaEval's documented model_outputs.json: a list of objects with string instruction/output/generator
    assert all(isinstance(r[k], str) for r in rows for k in ("instruction", "output", "generator", "dataset"))

    ood = tmp_path / "ood.json"
    assert (
        main(["export", str(source_run), "--iter", "0", "--format", "alpaca_eval", "--split", "ood", "--out", str(ood)])
        == 0
    )
    ood_prompts = io.read_jsonl(source_run / "ood_prompts.jsonl")
    assert [r["instruction"] for r in json.loads(ood.read_text())] == [
        p["messages"][-1]["content"] for p in ood_prompts
    ]

    # the same export again: left as it is; a different file in the way: refused, unless --force
    stamp = out.stat().st_mtime_ns
    assert main(["export", str(source_run), "--iter", "0", "--format", "alpaca_eval"]) == 0
    assert "already there, unchanged" in capsys.readouterr().out and out.stat().st_mtime_ns == stamp
    assert main(["export", str(source_run), "--iter", "0", "--format", "alpaca_eval", "--out", str(ood)]) == 2
    _one_line_error(capsys, f"{ood}: exists and differs from this export; pass --force")
    assert [r["instruction"] for r in json.loads(ood.read_text())] == [
        p["messages"][-1]["content"] for p in ood_prompts
    ]
    assert (
        main(["export", str(source_run), "--iter", "0", "--format", "alpaca_eval", "--out", str(ood), "--force"]) == 0
    )
    assert ood.read_text() == out.read_text()
    assert not list(tmp_path.glob(".*.dno.tmp")), "no temporary file left behind"


def test_export_of_what_a_run_does_not_have_is_one_line(source_run, capsys):
    run = str(source_run)
    assert main(["export", run, "--iter", "1", "--format", "alpaca_eval"]) == 2
    _one_line_error(
        capsys, "iter_1/eval/responses.jsonl: iteration 1 has no greedy test answers yet", f"dno eval {run} --iter 1"
    )
    assert main(["export", run, "--iter", "0", "--format", "alpaca_eval", "--split", "val"]) == 2
    _one_line_error(capsys, "no val prompts (the run has no validation split")
    assert main(["export", run, "--iter", "2", "--format", "trl"]) == 2
    _one_line_error(capsys, "--iter 2: this run has iterations 0..1")
    assert main(["export", run, "--iter", "0", "--format", "trl"]) == 2
    _one_line_error(capsys, "iteration 0 has no pairs")
    assert main(["export", run, "--iter", "1", "--format", "trl", "--split", "ood"]) == 2
    _one_line_error(capsys, "--split: only for --format alpaca_eval")
    assert not (source_run / "exports" / "iter_1.pairs_trl").exists()


def _alpaca_eval(monkeypatch):
    """The alpaca_eval package, or a skip. Its 0.6.6 imports `pkg_resources` for two version helpers, and
    setuptools >= 81 no longer ships that module: where it is missing, those two helpers stand in for it."""
    try:
        import pkg_resources  # noqa: F401
    except ImportError:
        import importlib.metadata
        import types

        from packaging.version import parse

        version = lambda name: types.SimpleNamespace(version=importlib.metadata.version(name))
        monkeypatch.setitem(
            sys.modules, "pkg_resources", types.SimpleNamespace(parse_version=parse, get_distribution=version)
        )
    return pytest.importorskip("alpaca_eval.main")


def test_alpaca_eval_reads_and_scores_the_export_with_its_own_code(source_run, tmp_path, monkeypatch):
    alpaca_main = _alpaca_eval(monkeypatch)
    from alpaca_eval.utils import load_or_convert_to_dataframe

    out = tmp_path / "model_outputs.json"
    assert main(["export", str(source_run), "--iter", "0", "--format", "alpaca_eval", "--out", str(out)]) == 0
    df = load_or_convert_to_dataframe(str(out))
    assert {"instruction", "output", "generator", "dataset"} <= set(df.columns) and len(df) == 4
    assert list(df["output"]) == [r["response"] for r in io.read_jsonl(source_run / "baseline" / "responses.jsonl")]
    # AlpacaEval's whole evaluation, the export against itself: identical outputs are ties it settles without
    # asking its judge, so this runs offline, through its loading, merging and metrics
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    leaderboard, annotations = alpaca_main.evaluate(
        model_outputs=str(out),
        reference_outputs=str(out),
        annotators_config="alpaca_eval_gpt4_turbo_fn",
        output_path=str(tmp_path / "alpaca_eval"),
        is_return_instead_of_print=True,
        caching_path=str(tmp_path / "annotations.json"),  # not beside its config, inside the installed package
    )
    assert list(leaderboard.index) == ["src-iter0"] and leaderboard.loc["src-iter0", "win_rate"] == 50.0
    assert [a["preference"] for a in annotations] == [1.5] * 4


def test_trl_export_loads_in_dpo_trainer_and_trains_one_step(source_run, tmp_path, tiny_model_dir, capsys):
    import datasets
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    out = tmp_path / "pairs_trl"
    assert main(["export", str(source_run), "--iter", "1", "--format", "trl", "--out", str(out)]) == 0
    pairs = io.read_jsonl(source_run / "iter_1" / "pairs.jsonl")
    assert capsys.readouterr().out == f"{out} ({len(pairs)} pairs)\n"
    ds = datasets.load_from_disk(str(out))
    assert ds.column_names == ["prompt", "chosen", "rejected"]
    prompts = {p["id"]: p["messages"] for p in io.read_jsonl(source_run / "iter_1" / "prompts.jsonl")}
    assert ds.to_list() == [
        {
            "prompt": prompts[p["id"]],
            "chosen": [{"role": "assistant", "content": p["chosen"]}],
            "rejected": [{"role": "assistant", "content": p["rejected"]}],
        }
        for p in pairs
    ]
    from trl.data_utils import is_conversational

    assert is_conversational(ds[0])

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    args = DPOConfig(
        output_dir=str(tmp_path / "trl"),
        max_steps=1,
        per_device_train_batch_size=2,
        learning_rate=1e-3,
        report_to="none",
        use_cpu=True,
        save_strategy="no",
        logging_steps=1,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    trainer = DPOTrainer(
        model=model, args=args, train_dataset=ds, processing_class=AutoTokenizer.from_pretrained(str(tiny_model_dir))
    )
    result = trainer.train()
    assert trainer.state.global_step == 1 and torch.isfinite(torch.tensor(result.training_loss))
    assert any(not torch.equal(before[n], p) for n, p in model.named_parameters()), "one step changed the weights"


def test_a_trl_export_warm_starts_another_runs_iteration_one(source_run, tmp_path, capsys):
    exported = tmp_path / "warm"
    assert main(["export", str(source_run), "--iter", "1", "--format", "trl", "--out", str(exported)]) == 0
    n_warm = len(io.read_jsonl(source_run / "iter_1" / "pairs.jsonl"))
    run = tmp_path / "run"
    assert main(["run", *FAST, "eval.bootstrap=100", f"pair.warm_start={exported}", "--run-dir", str(run)]) == 0
    pairs = io.read_jsonl(run / "iter_1" / "pairs.jsonl")
    warm = [p for p in pairs if p["type"] == "data>data"]
    assert len(warm) == n_warm and len(pairs) > n_warm, "self-play pairs and the warm-start pairs"
    assert io.read_json(run / "iter_1" / "train_summary.json")["pairs"] == len(pairs)
    # the warm pairs carry their own prompts (the source run's), and export back unchanged
    assert all(p["id"].startswith("warm-") and p["messages"] for p in warm)
    again = tmp_path / "again"
    assert main(["export", str(run), "--iter", "1", "--format", "trl", "--out", str(again)]) == 0
    import datasets

    rows = datasets.load_from_disk(str(again)).to_list()
    assert [r for r, p in zip(rows, pairs) if p["type"] == "data>data"] == datasets.load_from_disk(
        str(exported)
    ).to_list()


@pytest.mark.parametrize(
    "rows, error",
    [
        (None, "warm.jsonl: preference dataset not found"),
        ([{"prompt": "q", "chosen": "a"}], "warm.jsonl:1: no `rejected`"),
        (
            [{"prompt": "q", "chosen": "a", "rejected": [{"role": "user", "content": "b"}]}],
            "warm.jsonl:1: `rejected` must be",
        ),
        (
            [{"prompt": "q", "chosen": "a", "rejected": "b"}, {"prompt": "q", "chosen": "a " * 600, "rejected": "b"}],
            "warm.jsonl: row 1 (counted from 0) is 6",  # 600 words and the template: over the tiny model's 512
        ),
    ],
)
def test_a_bad_warm_start_dataset_is_refused_before_the_run_directory_is_made(tmp_path, capsys, rows, error):
    path = tmp_path / "warm.jsonl"
    if rows is not None:
        io.write_jsonl(path, rows)
    run = tmp_path / "run"
    assert main(["run", *FAST, f"pair.warm_start={path}", "--run-dir", str(run)]) == 2
    _one_line_error(capsys, error)
    assert not run.exists()


def test_an_exported_answers_file_is_a_baseline_for_dno_eval(source_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(source_run, run)
    answers = tmp_path / "reference_outputs.json"
    assert main(["export", str(run), "--iter", "0", "--format", "alpaca_eval", "--out", str(answers)]) == 0
    assert main(["eval", str(run), "--baseline", str(answers)]) == 0
    (m,) = [io.read_json(p) for p in (run / "evals").glob("file-reference_outputs-*__oracle/iter_0/metrics.json")]
    assert (m["ties"], m["n"]) == (4, 4), "π_0 against its own answers: every prompt a tie"
