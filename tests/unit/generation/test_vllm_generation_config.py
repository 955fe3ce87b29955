"""Both samplers sample from the same distribution: the model's generation_config settings that HF
`generate` applies by itself (repetition_penalty, min_p) are passed to vLLM explicitly."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

from transformers import GenerationConfig

from dno import models
from dno.generation.vllm import generation_config_settings, vllm_sampling_kwargs

SETTINGS = SimpleNamespace(temperature=0.7, top_p=0.95, max_new_tokens=16)


def test_generation_config_settings_reach_vllm(tiny_model_dir, tmp_path):
    model_dir = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model_dir)
    assert generation_config_settings(model_dir) == {}  # neutral settings add nothing
    gc = GenerationConfig.from_pretrained(model_dir)
    gc.do_sample, gc.repetition_penalty, gc.min_p = True, 1.3, 0.05
    gc.save_pretrained(model_dir)
    found = generation_config_settings(model_dir)
    assert found == {"repetition_penalty": 1.3, "min_p": 0.05}
    kw = vllm_sampling_kwargs(SETTINGS, 4, 7, model_settings=found)
    assert kw["repetition_penalty"] == 1.3 and kw["min_p"] == 0.05 and kw["temperature"] == 0.7
    # and HF generate does apply them: the loaded model's generation config carries them
    model, _ = models.load_policy(model_dir, device="cpu")
    assert model.generation_config.repetition_penalty == 1.3


def test_a_model_without_generation_config_adds_nothing(tmp_path):
    assert generation_config_settings(tmp_path) == {}
