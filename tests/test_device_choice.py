"""`--device cuda:N`: one GPU of several, as on every multi-GPU box (one caption-dir shard per
GPU). Parsed in one place (`engine.config.parse_device`), accepted from the flag, the
environment and the config file; the GPU becomes torch's current CUDA device; a number
this machine does not have, or a numbered GPU with Ray (which assigns GPUs itself), is one
clear line. The GPU side is checked with torch.cuda stood in for: no GPU here."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.engine.config import Device, EngineConfig, parse_device
from vlmcli.engine.device import resolve_device
from vlmcli.errors import ConfigError
from vlmcli.settings import resolve
from vlmcli.testing.fakes import isolate_env

runner = CliRunner()
REFERENCE = str(Path(__file__).resolve().parents[1] / "models" / "reference")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


@pytest.mark.parametrize(("raw", "parsed"), [
    ("cuda:1", "cuda:1"), (" CUDA:01 ", "cuda:1"), ("cpu", Device.CPU), ("Auto", Device.AUTO), (Device.MPS, Device.MPS),
])
def test_parse_device(raw, parsed):
    value = parse_device(raw)
    assert value == parsed and type(value) is type(parsed)


@pytest.mark.parametrize("raw", ["gpu", "cuda:", "cuda:-1", "cuda:x", "cpu:0", "cuda1"])
def test_parse_device_refuses(raw):
    with pytest.raises(ValueError, match="cuda:N"):
        parse_device(raw)


def test_engine_config_splits_the_gpu_number():
    config = EngineConfig(model="m", device="cuda:3")
    assert (config.device, config.gpu) == (Device.CUDA, 3)
    assert (EngineConfig(model="m", device="cpu").gpu, EngineConfig(model="m", device=Device.CUDA, gpu=2).gpu) == (None, 2)
    for bad in ({"device": "cpu", "gpu": 1}, {"device": "cuda:1", "gpu": 2}, {"device": "tpu"}):
        with pytest.raises(ConfigError):
            EngineConfig(model="m", **bad)


def test_environment_and_config_file(monkeypatch, tmp_path):
    monkeypatch.setenv("VLM_DEVICE", "cuda:1")
    assert resolve({}).device == "cuda:1"
    monkeypatch.delenv("VLM_DEVICE")
    (tmp_path / "vlm.toml").write_text('device = "cuda:2"\n')
    monkeypatch.setenv("VLM_CONFIG", str(tmp_path / "vlm.toml"))
    assert resolve({}).device == "cuda:2" and resolve({}).device != Device.CUDA


class _Cuda:
    """torch.cuda on a machine with `count` GPUs: records the current device set."""

    def __init__(self, count: int) -> None:
        self.count, self.current = count, None

    def is_available(self) -> bool:
        return self.count > 0

    def device_count(self) -> int:
        return self.count

    def set_device(self, index: int) -> None:
        self.current = index


def test_the_gpu_becomes_the_current_device(monkeypatch):
    import torch

    cuda = _Cuda(2)
    monkeypatch.setattr(torch, "cuda", cuda)
    assert resolve_device(Device.CUDA, 1) == torch.device("cuda", 1) and cuda.current == 1
    with pytest.raises(ConfigError, match=r"has 2 CUDA GPUs \(cuda:0 to cuda:1"):
        resolve_device(Device.CUDA, 2)
    monkeypatch.setattr(torch, "cuda", _Cuda(0))
    with pytest.raises(ConfigError, match="no CUDA GPU is available"):
        resolve_device(Device.CUDA, 0)


def _one_line(result, code: int) -> str:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.output and lines, result.output
    return lines[-1]


def test_cli_without_the_gpu_is_one_line(tmp_path):
    from PIL import Image

    Image.new("RGB", (32, 32), "red").save(tmp_path / "red.png")
    line = _one_line(runner.invoke(app, ["ask", "-m", REFERENCE, "--device", "cuda:1", str(tmp_path / "red.png"), "Hi"]), 2)
    assert line == "Error: --device cuda:1 was asked for but no CUDA GPU is available; use --device cpu."
    line = _one_line(runner.invoke(app, ["ask", "--device", "gpu", str(tmp_path / "red.png"), "Hi"]), 2)
    assert "'gpu' is not one of auto, cpu, cuda, cuda:N" in line


def test_ray_assigns_gpus_itself(tmp_path):
    (tmp_path / "in").mkdir()
    result = runner.invoke(app, ["caption-dir", str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                                 "--engine", "ray", "--device", "cuda:1"])
    line = _one_line(result, 2)
    assert "--device cuda:1 names one GPU" in line and "--device cuda" in line
