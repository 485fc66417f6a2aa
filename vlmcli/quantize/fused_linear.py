"""Sibling projections of one input as one int8 matrix: q/k/v, gate/up (issue 16, decode).

A decode step of a small model runs ~7 int8 matrix calls per layer, each quantising its
input again and paying a dispatch for a 1-row product. q, k and v (and gate and up) read the
same input, so they become one `FusedInt8Linear` whose output holds theirs side by side:
3 calls fewer per layer, one activation quantisation instead of three.

Exactness: weights are quantised per output channel and activations per tensor, so every
column of the fused product equals the column the separate layer computed (same int8
weights, same input scale, int32 accumulation). The model's own code keeps calling
`q_proj(x)`, `k_proj(x)`, `v_proj(x)`: each is an `Int8Part` that asks the fused layer for
its slice; the fused layer computes once per input tensor and hands the same output to
the parts that follow (`shared`). A part called on a different tensor than its siblings
(cross-attention) simply computes again: never a wrong slice, only extra work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vlmcli.quantize.int8_linear import Int8Linear, _module_base

if TYPE_CHECKING:
    import torch

GROUPS: tuple[tuple[str, ...], ...] = (("q_proj", "k_proj", "v_proj"), ("gate_proj", "up_proj"))
"""Child names of one module that read one input in the families vlmcli supports."""


def _stacked(linears: "list[torch.nn.Linear]") -> "torch.nn.Linear":
    """One float Linear whose rows are the given layers' rows, in order (biases likewise; zeros
    stand in for a missing bias when a sibling has one)."""
    import torch

    weight = torch.cat([linear.weight.detach() for linear in linears])  # (sum N, K)
    stacked = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=any(l.bias is not None for l in linears))
    stacked.weight = torch.nn.Parameter(weight, requires_grad=False)
    if stacked.bias is not None:
        biases = [l.bias.detach() if l.bias is not None else weight.new_zeros(l.out_features) for l in linears]
        stacked.bias = torch.nn.Parameter(torch.cat(biases), requires_grad=False)  # (sum N,)
    return stacked


class FusedInt8Linear(Int8Linear):
    """Several linear layers of one input as one int8 layer; `splits` are their widths."""

    def __init__(self, linears: "list[torch.nn.Linear]", *, reduce_range: bool) -> None:
        super().__init__(_stacked(linears), reduce_range=reduce_range)
        self.splits = tuple(linear.out_features for linear in linears)
        self.offsets = tuple(sum(self.splits[:i]) for i in range(len(self.splits) + 1))
        self._input: Any = None
        self._version = -1
        self._output: Any = None
        self._reads = 0

    def shared(self, x: "torch.Tensor") -> "torch.Tensor":
        """`self(x)`, computed once for the parts that read the same tensor one after another
        and released when all of them have read it."""
        version = -1 if x.is_inference() else x._version  # inference tensors keep no version counter
        if self._output is None or x is not self._input or version != self._version:
            self._output, self._input, self._version, self._reads = self(x), x, version, 0
        output = self._output
        self._reads += 1
        if self._reads >= len(self.splits):
            self._output = self._input = None
        return output

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, splits={self.splits}"


class Int8Part(_module_base()):  # type: ignore[misc]
    """What was one of the fused layers: its slice of the fused output, under its old name."""

    def __init__(self, fused: FusedInt8Linear, index: int) -> None:
        super().__init__()
        self.fused = fused
        self.index = index
        self.start, self.end = fused.offsets[index], fused.offsets[index + 1]
        self.in_features = fused.in_features
        self.out_features = self.end - self.start
        self.register_buffer("weight", fused.weight, persistent=False)  # dtype/device probes, as Int8Linear

    def forward(self, x: "torch.Tensor") -> "torch.Tensor":
        return self.fused.shared(x)[..., self.start : self.end]  # (..., N_i), a view

    def extra_repr(self) -> str:
        return f"part {self.index} of {self.fused.splits}"
