"""`Int8Linear`: a drop-in for `nn.Linear` on the CPU, int8 weights and int8 activations.

Weights are quantised once, symmetric per output channel, and prepacked for FBGEMM (x86)
or QNNPACK (ARM) through the quantized ops torch ships (`quantized::linear_prepack`,
`quantized::linear_dynamic`). Each call quantises its input per tensor (dynamic), multiplies
in int8 with int32 accumulation and returns float32. Measured against the other kernels
torch and torchao offer for these shapes in `bench/bench_int8_kernels.py`.

`reduce_range` (7-bit activations) is needed only where the int8 dot product accumulates in
int16 and can saturate (x86 without VNNI); with VNNI or AMX the full 8 bits are kept.

Deprecation: torch marks the qint8 tensor type (which `linear_prepack` takes) for removal
(pytorch/pytorch#184982). The successor that takes plain int8 tensors is oneDNN's
`onednn::qlinear_pointwise` (what torch.compile's x86 int8 path emits); it measured as fast
at prefill shapes but slower at decode's single row (bench/RESULTS.md), so FBGEMM stays
while torch ships it.
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from vlmcli.errors import BackendUnavailableError

if TYPE_CHECKING:
    import torch

ENGINE_PREFERENCE = ("x86", "fbgemm", "qnnpack")
FULL_RANGE_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})


def full_range_ok(cpu_flags: frozenset[str]) -> bool:
    """True when int8 dot products accumulate in int32 without saturating (VNNI / AMX)."""
    return bool(cpu_flags & FULL_RANGE_FLAGS)


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


@functools.lru_cache(maxsize=1)
def quantized_engine() -> str:
    """Select (globally, once) the quantized engine int8 layers are packed for."""
    import torch

    supported = torch.backends.quantized.supported_engines
    for engine in ENGINE_PREFERENCE:
        if engine in supported:
            torch.backends.quantized.engine = engine
            return engine
    raise BackendUnavailableError(
        f"--quantize int8 needs torch's quantized CPU kernels (x86/fbgemm or qnnpack); this torch build has "
        f"{', '.join(supported) or 'none'}."
    )


def _module_base() -> type:
    import torch

    return torch.nn.Module


class Int8Linear(_module_base()):  # type: ignore[misc]
    """y = x W^T + b with W int8 per output channel and x int8 per call; float32 in and out."""

    def __init__(self, linear: "torch.nn.Linear", *, reduce_range: bool) -> None:
        import torch

        super().__init__()
        quantized_engine()
        weight = linear.weight.detach().float()  # (N, K)
        scale = weight.abs().amax(dim=1).clamp(min=1e-12) / 127.0  # (N,)
        zero = torch.zeros(weight.shape[0], dtype=torch.long)  # (N,)
        with warnings.catch_warnings():  # qint8 tensors are deprecated for removal; FBGEMM's prepack still takes them
            warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*")
            qweight = torch.quantize_per_channel(weight, scale.double(), zero, 0, torch.qint8)  # (N, K) int8
        bias = None if linear.bias is None else linear.bias.detach().to(torch.float32, copy=True)  # (N,), not a view of the file
        self._packed = torch.ops.quantized.linear_prepack(qweight, bias)
        self.in_features = linear.in_features
        self.out_features = linear.out_features
        self.reduce_range = reduce_range
        # Models read `layer.weight.dtype` / `.device` to cast their inputs (SigLIP 2's patch
        # embedding, Gemma 4's projector): an empty stand-in answers those, and nothing else.
        self.register_buffer("weight", linear.weight.new_empty(0), persistent=False)

    def forward(self, x: "torch.Tensor") -> "torch.Tensor":
        import torch

        dtype = x.dtype
        flat = x.reshape(-1, self.in_features)  # (M, K)
        if flat.dtype != torch.float32:
            flat = flat.float()
        out = torch.ops.quantized.linear_dynamic(flat, self._packed, self.reduce_range)  # (M, N) float32
        out = out.reshape(*x.shape[:-1], self.out_features)  # (..., N)
        return out if out.dtype == dtype else out.to(dtype)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8, reduce_range={self.reduce_range}"
