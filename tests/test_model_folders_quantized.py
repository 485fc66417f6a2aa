"""Checkpoints saved quantized (config.json `quantization_config`) are checked before loading.

bitsandbytes, GPTQ, AWQ and compressed-tensors checkpoints failed after the weights were
read with "unexpected ImportError: ... requires bitsandbytes", exit 1; `--dry-run` and
`vlm models` called them runnable. Now: one line naming the method and what transformers
needs to run it, exit 7 (a backend this machine lacks), in `--dry-run` too. FP8 checkpoints,
which transformers dequantizes on a CPU, keep loading."""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.engine import quantized
from vlmcli.errors import BackendUnavailableError
from vlmcli.testing.fakes import isolate_env, save_photo
from vlmcli.testing.hub_cache import put_in_hub_cache

runner = CliRunner()

METHODS = {
    "bitsandbytes": ({"quant_method": "bitsandbytes", "load_in_4bit": True}, "bitsandbytes 4-bit", "bitsandbytes"),
    "gptq": ({"quant_method": "gptq", "bits": 4, "group_size": 128}, "gptq 4-bit", "gptqmodel"),
    "awq": ({"quant_method": "awq", "bits": 4, "version": "gemm"}, "awq 4-bit", "gptqmodel"),
    "compressed-tensors": ({"quant_method": "compressed-tensors", "format": "pack-quantized"}, "compressed-tensors", "compressed_tensors"),
}


@pytest.fixture
def photo(monkeypatch, tmp_path) -> Path:
    isolate_env(monkeypatch, tmp_path)
    return save_photo(tmp_path / "cat.png")


def with_quantization(src: Path, dst: Path, spec: dict) -> Path:
    shutil.copytree(src, dst)
    config = json.loads((dst / "config.json").read_text())
    config["quantization_config"] = spec
    (dst / "config.json").write_text(json.dumps(config))
    return dst


@pytest.mark.parametrize("method", sorted(METHODS))
def test_a_quantized_checkpoint_says_what_it_needs(method, tiny_checkpoint, tmp_path, photo, monkeypatch):
    spec, named, module = METHODS[method]
    if importlib.util.find_spec(module) is not None:
        pytest.skip(f"{module} is installed here")
    folder = with_quantization(tiny_checkpoint("qwen2_5_vl"), tmp_path / method, spec)
    from vlmcli.engine import loader

    monkeypatch.setattr(loader, "load_processor", lambda *a: pytest.fail("the model was loaded"))
    for extra in ([], ["--dry-run"]):
        result = runner.invoke(app, ["ask", "-m", str(folder), "--device", "cpu", *extra, str(photo), "What?"])
        assert result.exit_code == BackendUnavailableError.exit_code == 7, result.output
        line = result.stderr.strip()
        assert "\n" not in line and "unexpected" not in line
        assert f"is quantized ({named}, config.json quantization_config) and vlmcli runs unquantized weights" in line
        assert f"pip install {quantized.RUNTIMES[method].packages[0]}" in line
        assert "or pass the unquantized model it was made from" in line
    if method == "bitsandbytes":
        assert "a CUDA GPU, and this run is on cpu" in line


def test_bitsandbytes_needs_a_cuda_gpu_even_when_installed(monkeypatch):
    monkeypatch.setattr(quantized, "missing_packages", lambda method: [])
    config = {"quantization_config": METHODS["bitsandbytes"][0]}
    quantized.check_quantization(config, "m", device_type="cuda")
    with pytest.raises(BackendUnavailableError) as caught:
        quantized.check_quantization(config, "m", device_type="cpu")
    assert "runs bitsandbytes layers only with a CUDA GPU, and this run is on cpu" in str(caught.value)
    assert "pip install" not in str(caught.value)


def test_methods_are_read_as_transformers_writes_them():
    assert quantized.describe({"quantization_config": {"load_in_8bit": True}}) == "bitsandbytes 8-bit"
    assert quantized.quant_method({"quantization_config": {"quant_method": "compressed_tensors"}}) == "compressed-tensors"
    assert quantized.quant_method({"compression_config": {"quant_method": "compressed-tensors"}}) == "compressed-tensors"
    assert quantized.quant_method({"model_type": "llava"}) is None


def test_quantize_int8_over_a_quantized_checkpoint_is_a_setting_error(tiny_checkpoint, tmp_path, photo):
    folder = with_quantization(tiny_checkpoint("qwen2_5_vl"), tmp_path / "gptq", METHODS["gptq"][0])
    result = runner.invoke(app, ["ask", "-m", str(folder), "--device", "cpu", "--quantize", "int8", str(photo), "What?"])
    assert result.exit_code == 2, result.output
    assert "is already quantized (gptq 4-bit); --quantize rounds unquantized weights" in result.stderr


def fp8_checkpoint(src: Path, dst: Path, block: int = 32) -> Path:
    """`src` with its decoder's linear weights saved as FP8 blocks (`weight_scale_inv` per
    block), as transformers' FineGrainedFP8 checkpoints hold them."""
    import torch
    from safetensors.torch import load_file, save_file

    shutil.copytree(src, dst)
    tensors = load_file(dst / "model.safetensors")
    for name in [n for n in tensors if n.startswith("model.layers.") and n.endswith("proj.weight")]:
        weight = tensors[name]
        rows, cols = math.ceil(weight.shape[0] / block), math.ceil(weight.shape[1] / block)
        scale = torch.empty(rows, cols)
        scaled = torch.empty_like(weight)
        for r in range(rows):
            for c in range(cols):
                part = weight[r * block : (r + 1) * block, c * block : (c + 1) * block]
                scale[r, c] = part.abs().max().clamp(min=1e-12) / 448.0
                scaled[r * block : (r + 1) * block, c * block : (c + 1) * block] = part / scale[r, c]
        tensors[name] = scaled.to(torch.float8_e4m3fn)
        tensors[name.removesuffix("weight") + "weight_scale_inv"] = scale
    save_file(tensors, dst / "model.safetensors", metadata={"format": "pt"})
    spec = {"quant_method": "fp8", "activation_scheme": "dynamic", "weight_block_size": [block, block],
            "modules_to_not_convert": ["visual", "lm_head"]}
    return with_quantization(dst, dst.with_name(dst.name + "-fp8"), spec)


def test_an_fp8_checkpoint_still_runs_on_the_cpu(tiny_checkpoint, tmp_path, photo):
    folder = fp8_checkpoint(tiny_checkpoint("qwen2_5_vl"), tmp_path / "fp8")
    result = runner.invoke(app, ["ask", "-m", str(folder), "--device", "cpu", "--max-tokens", "2", str(photo), "What?"])
    assert result.exit_code == 0, result.output
    assert "LOAD REPORT" not in result.stderr


def test_models_lists_a_quantized_snapshot_with_its_method(tiny_checkpoint, tmp_path, monkeypatch):
    isolate_env(monkeypatch, tmp_path)
    cache = tmp_path / "hub"
    with_quantization(tiny_checkpoint("qwen2_5_vl"), tmp_path / "gptq", METHODS["gptq"][0])
    put_in_hub_cache(cache, "org/model-gptq", tmp_path / "gptq")
    monkeypatch.setattr(quantized, "missing_packages", lambda method: ["gptqmodel", "optimum"])
    data = json.loads(runner.invoke(app, ["models", "--json", "--all", "--cache-dir", str(cache)]).stdout)
    entry = data["cached"][0]
    assert (entry["quantization"], entry["runnable"]) == ("gptq 4-bit", False)
    assert entry["problem"] == "gptq 4-bit needs gptqmodel and optimum"
    text = runner.invoke(app, ["models", "--all", "--cache-dir", str(cache)]).stdout
    assert "safetensors (gptq 4-bit)" in text and "gptq 4-bit needs gptqmodel and optimum" in text
    monkeypatch.setattr(quantized, "missing_packages", lambda method: [])
    text = runner.invoke(app, ["models", "--cache-dir", str(cache)]).stdout
    assert "org/model-gptq" in text and "safetensors (gptq 4-bit)" in text  # runnable, and says how it is saved
