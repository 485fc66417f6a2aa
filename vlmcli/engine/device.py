"""Pick the torch device and dtype for a run.

AUTO device: cuda, then mps, then cpu. AUTO dtype: bfloat16 on a CUDA GPU that supports
it, float16 on other GPUs and mps, float32 on CPU. The CPU choice is by measurement
(bench/RESULTS.md, "CPU dtype"): on a CPU without bf16 matrix units the vision tower and
prefill are 2-4x slower in bfloat16, and end to end through the engine both bfloat16 and
MIXED (float32 vision tower, bfloat16 language model) were slower than float32, although
an isolated batch-1 decode step was faster in bfloat16. MIXED stays available as
`--dtype mixed`; float32 also reproduces transformers' float32 output exactly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vlmcli.engine.config import Device, DType
from vlmcli.errors import ConfigError

if TYPE_CHECKING:
    import torch


def resolve_device(requested: Device, gpu: int | None = None, *, asked: str | None = None) -> "torch.device":
    """The torch device for `requested` (`gpu`: which CUDA GPU, by number). A numbered GPU
    becomes the current CUDA device too, so everything that takes the current device (memory
    queries, CUDA graphs, streams) works on it. `asked`: the setting as the user wrote it, for
    messages (`--device cuda` by default; `$VLM_DEVICE=cuda` when it came from there)."""
    import torch

    if asked is None:
        asked = f"--device {requested.value}" + (f":{gpu}" if gpu is not None else "")
    if gpu is not None:
        return _one_gpu(torch, gpu, asked)
    if requested is Device.AUTO:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if requested is Device.CUDA and not torch.cuda.is_available():
        raise ConfigError(f"{asked} was asked for but no CUDA GPU is available; use --device cpu.")
    if requested is Device.MPS and not (
        getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    ):
        raise ConfigError(f"{asked} was asked for but Metal (mps) is not available; use --device cpu.")
    return torch.device(requested.value)


def _one_gpu(torch, gpu: int, asked: str) -> "torch.device":  # noqa: ANN001 - the torch module
    if not torch.cuda.is_available():
        raise ConfigError(f"{asked} was asked for but no CUDA GPU is available; use --device cpu.")
    count = torch.cuda.device_count()
    if gpu >= count:
        have = "cuda:0" if count == 1 else f"cuda:0 to cuda:{count - 1}"
        raise ConfigError(
            f"{asked} was asked for but this machine has {count} CUDA GPU{'s' if count > 1 else ''} "
            f"({have}, numbered after CUDA_VISIBLE_DEVICES)."
        )
    torch.cuda.set_device(gpu)
    return torch.device("cuda", gpu)


_TORCH_DTYPES = {
    DType.MIXED: "float32",  # the load dtype; the language model is cast afterwards
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
    """The language model's dtype: bfloat16 under MIXED, else the load dtype."""
    import torch

    if requested is DType.MIXED:
        return torch.bfloat16
    return resolve_dtype(requested, device)


CPU_PATCHES_PER_CALL = 1024
"""Patches one CPU vision-tower call takes: one 512 px SigLIP tile of SmolVLM2-256M."""


def vision_tiles_per_call(device: "torch.device", *, patches_per_tile: int) -> int | None:
    """How many fixed-size tiles one vision-tower call takes; None: all of a batch's at once.

    On a CPU a tile of ~1,000 patches already fills the cores, and a call on many such
    tiles streams activations ~17x larger through memory instead of cache: SmolVLM2-256M's
    tower took ~7% longer per tile on a photo's 17 tiles at once than one tile per call,
    with bit-identical features (bench/RESULTS.md, "Roofline"). Small tiles are grouped up
    to CPU_PATCHES_PER_CALL patches, since per-call overhead dominates tiny towers (a tiny
    test model captioned 1.8x slower one tile per call). GPUs want the big call.
    """
    if device.type != "cpu":
        return None
    return max(1, CPU_PATCHES_PER_CALL // patches_per_tile)
