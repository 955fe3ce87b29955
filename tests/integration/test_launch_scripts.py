"""GPU-node launch files: the shipped accelerate configs parse, the scripts are valid bash, and the iteration
script's dry run prints the stage commands."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


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
    r = subprocess.run(
        ["bash", str(ROOT / "scripts" / "iteration.sh"), str(tmp_path / "run"), "2"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "DRY_RUN": "1", "NUM_GPUS": "4"},
    )
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for i in range(4):
        assert f"sample {tmp_path / 'run'} --iter 2 --shard {i}/4" in out
    assert "accelerate launch" in out and "train" in out and "eval" in out
