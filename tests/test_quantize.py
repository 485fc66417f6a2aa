"""`--quantize int8`: what each mode covers, how the setting resolves, and that an int8
model of every family runs and stays close to float32 (issue 16).

Closeness is stated as the largest last-position logit difference over the float32
logits' standard deviation (tiny random checkpoints; real-size agreement is measured in
bench/RESULTS.md, not asserted).
"""

from __future__ import annotations

import pytest

from vlmcli.engine import Engine, EngineConfig, GenerationConfig, ImageInput, Request
from vlmcli.errors import ConfigError
from vlmcli.quantize import PLANS, Part, QuantPlan, Quantize, plan_for
from vlmcli.quantize.int8_linear import full_range_ok
from vlmcli.settings import resolve
from vlmcli.testing import MODEL_TYPES, sample_photos

LOGIT_TOLERANCE = 0.1
"""max |logit_int8 - logit_fp32| / std(logit_fp32) at the last prompt position."""
WIDER_TOLERANCE = {"gemma4": 0.3, "qwen3_5_moe": 0.3, "glm4v": 0.3, "lfm2_vl": 0.5, "gemma4_unified": 0.6}
"""Tiny random checkpoints whose activations have outliers that per-tensor int8 activations
resolve coarsely (measured 2026-12-05: 0.22, 0.18, 0.18, 0.41, 0.49; every other family
0.04-0.10). Real-size accuracy is measured on the reference model (bench/RESULTS.md)."""


# --- pure ---------------------------------------------------------------------------------


def test_modes_and_their_parts():
    assert plan_for("none") == QuantPlan() and not plan_for(Quantize.NONE).parts
    assert plan_for("int8").parts == {Part.VISION, Part.LANGUAGE, Part.LM_HEAD}
    assert plan_for("int8").label == "language+lm_head+vision"
    assert set(PLANS) == set(Quantize)
    with pytest.raises(ConfigError, match="quantize must be one of none, int8"):
        plan_for("int4")


def test_full_range_needs_int32_accumulation():
    assert full_range_ok(frozenset({"avx2", "avx512_vnni"}))
    assert full_range_ok(frozenset({"avx_vnni"}))
    assert not full_range_ok(frozenset({"avx2", "fma"}))
    assert not full_range_ok(frozenset())


def test_engine_config_validates_quantize():
    assert EngineConfig(model="m", quantize="int8").quantize is Quantize.INT8
    with pytest.raises(ConfigError, match="quantize must be one of"):
        EngineConfig(model="m", quantize="fp4")


def test_setting_resolves_from_flag_env_and_config_file(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('quantize = "int8"\n')
    env = {"VLM_CONFIG": str(config)}
    assert resolve({}, env={}).quantize is Quantize.NONE
    assert resolve({}, env=env).quantize is Quantize.INT8
    assert resolve({}, env={**env, "VLM_QUANTIZE": "none"}).quantize is Quantize.NONE
    assert resolve({"quantize": Quantize.NONE}, env=env).quantize is Quantize.NONE
    with pytest.raises(ConfigError):
        resolve({}, env={"VLM_QUANTIZE": "int3"})


# --- models -------------------------------------------------------------------------------


def last_logits(engine: Engine, request: Request):
    import torch

    processor = engine.loaded.processor
    inputs = processor(
        text=[engine.adapter.prompt_text(request)], images=[[im.image for im in request.images]], return_tensors="pt"
    )
    with torch.inference_mode():
        return engine.adapter.model(**inputs).logits[0, -1].float()  # (V,)


@pytest.fixture(scope="module")
def photo():
    return ImageInput(sample_photos()[0], source="photo0")


@pytest.mark.parametrize("family", MODEL_TYPES)
def test_int8_runs_and_stays_close_to_float32(family, tiny_checkpoint, photo):
    folder = str(tiny_checkpoint(family))
    request = Request(prompt="What is in this picture?", images=(photo,))
    exact = Engine.load(EngineConfig(model=folder, device="cpu", dtype="float32"))
    quantized = Engine.load(EngineConfig(model=folder, device="cpu", dtype="float32", quantize="int8"))

    report = quantized.loaded.quantization
    assert report is not None and set(report.layers) == {"vision", "language", "lm_head"}
    assert report.int8_bytes * 4 == report.float_bytes
    assert quantized.adapter.quantization == "language+lm_head+vision"
    assert quantized.adapter.fingerprint != exact.adapter.fingerprint  # no feature-cache reuse across precisions

    reference, close = last_logits(exact, request), last_logits(quantized, request)
    error = float((close - reference).abs().max() / reference.std())
    assert error <= WIDER_TOLERANCE.get(family, LOGIT_TOLERANCE), f"{family}: int8 logits off by {error:.3f} std"

    result = quantized.generate([request], GenerationConfig(max_tokens=4))[0]
    assert 1 <= result.completion_tokens <= 4


def test_int8_refuses_other_dtypes_and_devices(tiny_checkpoint):
    folder = str(tiny_checkpoint("idefics3"))
    with pytest.raises(ConfigError, match="float32"):
        Engine.load(EngineConfig(model=folder, device="cpu", dtype="bfloat16", quantize="int8"))
    with pytest.raises(ConfigError, match="drop --dtype mixed"):  # a bfloat16 language model: was accepted
        Engine.load(EngineConfig(model=folder, device="cpu", dtype="mixed", quantize="int8"))
