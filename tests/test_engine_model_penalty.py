"""A model's generation_config.json repetition penalty is applied, as `model.generate(do_sample=False)`
applies it (Qwen2-VL and Qwen2.5-VL Instruct ship 1.05): the engine ignored it, so its greedy
output was no longer transformers' own on those checkpoints."""

from __future__ import annotations

import json
import shutil

import pytest

from vlmcli.captions.prompts import config_hash
from vlmcli.engine import Engine, EngineConfig, GenerationConfig, ImageInput, Request
from vlmcli.testing import sample_photos
from vlmcli.testing.reference import hf_greedy

NEW_TOKENS = 12


@pytest.fixture(scope="module")
def penalised(tiny_checkpoint, tmp_path_factory):
    folder = tmp_path_factory.mktemp("penalised") / "qwen"
    shutil.copytree(tiny_checkpoint("qwen2_5_vl"), folder)
    settings = json.loads((folder / "generation_config.json").read_text())
    settings |= {"repetition_penalty": 1.5, "do_sample": True, "temperature": 0.1, "top_k": 1, "top_p": 0.001}
    (folder / "generation_config.json").write_text(json.dumps(settings))
    return Engine.load(EngineConfig(model=str(folder), device="cpu", dtype="float32"))


def test_greedy_output_is_generates_with_the_models_penalty(penalised):
    request = Request(prompt="What is in this picture?", images=(ImageInput(sample_photos()[0], source="p0"),))
    expected = hf_greedy(penalised, [request], new_tokens=NEW_TOKENS)[0]
    alone = penalised.generate([request], GenerationConfig(max_tokens=NEW_TOKENS))[0].token_ids
    assert alone == expected
    unpenalised = penalised.generate([request], GenerationConfig(max_tokens=NEW_TOKENS, repetition_penalty=1.0))
    assert unpenalised[0].token_ids != expected  # the penalty mattered here, so the check above means something
    continuous = penalised.scheduler(GenerationConfig(max_tokens=NEW_TOKENS), slots=2)
    assert [c.result.token_ids for c in continuous.run(iter([request]))] == [expected]


def test_a_penalty_left_to_the_model_hashes_as_before():
    """Runs written before keep resuming: None (the model's) hashes as 1.0 did."""
    settings = dict(model="m", revision=None, prompt="p", system=None)
    assert config_hash(**settings, generation=GenerationConfig()) == "1e88f97cf93fb90f"
    assert config_hash(**settings, generation=GenerationConfig(repetition_penalty=1.0)) == "1e88f97cf93fb90f"
