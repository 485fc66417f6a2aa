"""Row surgery on a running batch for the continuous scheduler: keep rows, join newcomers.

A running batch is what the decode loop carries between steps: the KV cache, the 2-D
attention mask and each row's last positions. It is left-padded like a static batch
(`engine.batch`): every row's newest token sits in the last column, padded columns are 0 in
the mask and their keys/values are never attended to. That makes rows movable:

- `keep_rows` drops finished rows (`index_select` on the batch axis of every tensor), then
  trims the leading columns that are padding in every remaining row;
- `join` appends a freshly prefilled batch of newcomers: the shorter side is left-padded
  (zeros in the cache, 0 in the mask) to the longer one's length, then both are
  concatenated along the batch axis.

Positions are per row ((B, 1), or (4, B, 1) for MRoPE families: text then t/h/w), so each
row's rope offset (Qwen's per-row rope delta included) travels with the row. Masked
columns get exactly zero attention weight, so a row decodes the same tokens whatever its
company (tests/test_engine_continuous.py). Only caches whose layers are plain full-attention
key/value stacks can be cut and glued this way (`unmovable_layers`); sliding-window,
linear-attention and convolution layers keep state that is not one column per token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


@dataclass
class RunningBatch:
    """The decode state of the rows in flight."""

    cache: Any
    """A transformers `DynamicCache` whose layers hold keys/values (B, H, T, D)."""
    mask: "torch.Tensor"  # (B, T) long, 0 on padding
    positions: "torch.Tensor"  # (..., B, 1) each row's last positions

    @property
    def size(self) -> int:
        return int(self.mask.shape[0])

    @property
    def length(self) -> int:
        return int(self.mask.shape[1])


def unmovable_layers(cache: Any) -> list[str]:
    """Names of the layer types of `cache` that rows cannot be moved between (empty: all movable)."""
    from transformers.cache_utils import DynamicLayer

    from vlmcli.engine.kvcache import _growing_layer_class

    movable = (DynamicLayer, _growing_layer_class())
    return sorted({type(layer).__name__ for layer in cache.layers if type(layer) not in movable})


def keep_rows(batch: RunningBatch, rows: list[int]) -> RunningBatch:
    """`batch` with only `rows` (in that order), leading all-padding columns trimmed."""
    import torch

    index = torch.tensor(rows, dtype=torch.long, device=batch.mask.device)  # (B',)
    mask = batch.mask.index_select(0, index)  # (B', T)
    used = mask.sum(dim=0) > 0  # (T,)
    start = int(used.long().argmax()) if bool(used.any()) else mask.shape[1]
    for layer in batch.cache.layers:
        keys = layer.keys.index_select(0, index)[..., start:, :]  # (B', H, T', D)
        values = layer.values.index_select(0, index)[..., start:, :]
        _replace(layer, keys, values)
    positions = batch.positions.index_select(batch.positions.dim() - 2, index)  # (..., B', 1)
    return RunningBatch(cache=batch.cache, mask=mask[:, start:], positions=positions)


def join(batch: RunningBatch, newcomers: RunningBatch) -> RunningBatch:
    """`batch`'s rows, then `newcomers`' rows, left-padded to one length (into `batch.cache`)."""
    import torch

    length = max(batch.length, newcomers.length)
    for layer, new in zip(batch.cache.layers, newcomers.cache.layers):
        keys = torch.cat([_pad_left(layer.keys, length), _pad_left(new.keys, length)], dim=0)  # (B+N, H, T, D)
        values = torch.cat([_pad_left(layer.values, length), _pad_left(new.values, length)], dim=0)
        _replace(layer, keys, values)
    mask = torch.cat([_pad_left(batch.mask, length), _pad_left(newcomers.mask, length)], dim=0)  # (B+N, T)
    positions = torch.cat([batch.positions, newcomers.positions], dim=batch.positions.dim() - 2)  # (..., B+N, 1)
    return RunningBatch(cache=batch.cache, mask=mask, positions=positions)


def _pad_left(tensor: "torch.Tensor", length: int) -> "torch.Tensor":
    """`tensor` with zeros prepended on its time axis up to `length` (time: dim 1 of a (B, T)
    mask, dim -2 of (B, H, T, D) keys)."""
    import torch

    axis = 1 if tensor.dim() == 2 else tensor.dim() - 2
    missing = length - tensor.shape[axis]
    if missing == 0:
        return tensor
    shape = list(tensor.shape)
    shape[axis] = missing
    return torch.cat([tensor.new_zeros(shape), tensor], dim=axis)


def _replace(layer: Any, keys: "torch.Tensor", values: "torch.Tensor") -> None:
    """Make `layer` hold `keys`/`values`; a growing layer copies them into buffers with spare room."""
    if hasattr(layer, "replace"):
        layer.replace(keys, values)
    else:
        layer.keys, layer.values = keys, values
