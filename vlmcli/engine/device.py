"""Pick the torch device and dtype for a run.

AUTO device: cuda, then mps, then cpu. AUTO dtype: bfloat16 on a CUDA GPU that supports
it, float16 on other GPUs and mps. On CPU, AUTO is mixed, chosen by measurement
(bench/RESULTS.md, "CPU dtype"): the vision tower and the prefill are compute-bound and
run 2.4x faster in float32 (no bf16 matrix units), while decoding is memory-bound and
runs 3.5x faster in bfloat16 (half the bytes per token). So the vision tower stays
float32 and the language model runs in bfloat16. `--dtype` picks one dtype for all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vlmcli.engine.config import Device, DType
from vlmcli.errors import ConfigError

if TYPE_CHECKING:
    import torch


def resolve_device(requested: Device) -> "torch.device":
    import torch

    if requested is Device.AUTO:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if requested is Device.CUDA and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for but no CUDA GPU is available; use --device cpu.")
    if requested is Device.MPS and not (
        getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    ):
        raise ConfigError("--device mps was asked for but Metal (mps) is not available; use --device cpu.")
    return torch.device(requested.value)


_TORCH_DTYPES = {
    DType.FLOAT32: "float32",
    DType.BFLOAT16: "bfloat16",
    DType.FLOAT16: "float16",
}


def resolve_dtype(requested: DType, device: "torch.device") -> "torch.dtype":
    """The dtype the weights load in (the vision dtype when `text_dtype` differs)."""
    import torch

    if requested is not DType.AUTO:
        return getattr(torch, _TORCH_DTYPES[requested])
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    return torch.float32


def text_dtype(requested: DType, device: "torch.device") -> "torch.dtype":
    """The language model's dtype: bfloat16 under AUTO on CPU (see the module docstring)."""
    import torch

    if requested is DType.AUTO and device.type == "cpu":
        return torch.bfloat16
    return resolve_dtype(requested, device)
