"""A KV cache that appends in place instead of re-concatenating every step.

transformers' `DynamicCache` grows each layer with `torch.cat`, so every decode step copies
the whole cache: 11% of a batch-1 decode step of SmolVLM2-256M at a 256-token context
(profile in bench/RESULTS.md, "Decode KV cache"), and a cost that grows with the context
(a 4,000-token video prompt copies ~180 MB per step). `growing_cache` returns a
`DynamicCache` whose full-attention layers keep spare capacity (the tokens still to be
generated) and hand attention views of the filled part; the arithmetic is unchanged, so
the logits are bit-identical to `DynamicCache`'s (tests/test_engine_kvcache.py).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


def growing_cache(text_config: Any, *, reserve: int) -> Any:
    """A `DynamicCache` for `text_config` whose plain layers reserve `reserve` extra positions."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    cache = DynamicCache(config=text_config)
    cache.layers = [
        _growing_layer_class()(reserve=reserve) if type(layer) is DynamicLayer else layer for layer in cache.layers
    ]
    return cache


def cache_keyword(decoder: Any) -> str:
    """The keyword `decoder`'s forward takes its KV cache by: `cache` from transformers 5.24 on
    (which deprecates `past_key_values`, to be removed in 5.40), `past_key_values` before."""
    import inspect

    forward = getattr(decoder, "forward", decoder)
    return "cache" if "cache" in inspect.signature(forward).parameters else "past_key_values"


@functools.cache
def _growing_layer_class() -> type:
    """`GrowingLayer`, defined on first use so that importing this module does not import transformers."""
    from transformers.cache_utils import DynamicLayer

    class GrowingLayer(DynamicLayer):
        """A `DynamicLayer` over buffers (B, H, capacity, D) filled up to `length`."""

        def __init__(self, *, reserve: int) -> None:
            super().__init__()
            self.reserve = reserve
            self.length = 0
            self._keys: torch.Tensor | None = None
            self._values: torch.Tensor | None = None

        def update(
            self, key_states: "torch.Tensor", value_states: "torch.Tensor", *args: Any, **kwargs: Any
        ) -> tuple["torch.Tensor", "torch.Tensor"]:
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            new = key_states.shape[-2]
            end = self.length + new
            if self._keys is None or end > self._keys.shape[-2]:
                capacity = end + self.reserve if self._keys is None else max(end + self.reserve, 2 * end)
                self._grow(key_states, value_states, capacity=capacity)
            self._keys[..., self.length : end, :].copy_(key_states)  # (B, H, new, D)
            self._values[..., self.length : end, :].copy_(value_states)
            self.length = end
            self._expose()
            return self.keys, self.values

        def _grow(self, key_states: "torch.Tensor", value_states: "torch.Tensor", *, capacity: int) -> None:
            # zeros, not empty: a step that attends over the whole buffer under a mask
            # (quantize.compiled_step) must not meet NaN in the unfilled part (0 * NaN is NaN)
            keys = key_states.new_zeros((*key_states.shape[:-2], capacity, key_states.shape[-1]))  # (B, H, C, D)
            values = value_states.new_zeros((*value_states.shape[:-2], capacity, value_states.shape[-1]))
            if self._keys is not None:
                keys[..., : self.length, :].copy_(self._keys[..., : self.length, :])
                values[..., : self.length, :].copy_(self._values[..., : self.length, :])
            self._keys, self._values = keys, values

        @property
        def capacity(self) -> int:
            """Positions the buffers hold (filled or not)."""
            return 0 if self._keys is None else self._keys.shape[-2]

        def make_room(self, new: int) -> None:
            """Grow the buffers, when needed, so that `new` more positions fit (a step that writes
            into `storage()` itself, `quantize.compiled_step`, calls this first)."""
            if self._keys is None:
                raise ValueError("the cache layer holds nothing yet (no prefill)")
            end = self.length + new
            if end > self._keys.shape[-2]:
                self._grow(self._keys, self._values, capacity=max(end + self.reserve, 2 * end))

        def storage(self) -> tuple["torch.Tensor", "torch.Tensor"]:
            """The whole key and value buffers (B, H, capacity, D), filled up to `length`."""
            return self._keys, self._values

        def advance(self, new: int) -> None:
            """Count `new` positions written into `storage()` past `length`."""
            self.length += new
            self._expose()

        def _expose(self) -> None:
            self.keys = self._keys[..., : self.length, :]  # (B, H, length, D), a view
            self.values = self._values[..., : self.length, :]

        def crop(self, tokens_to_remove: int) -> None:
            super().crop(tokens_to_remove)
            if self.is_initialized and self._keys is not None:
                self.length = self.keys.shape[-2]

        def replace(self, keys: "torch.Tensor", values: "torch.Tensor") -> None:
            """Hold `keys`/`values` (B, H, T, D) from now on, copied into buffers with `reserve` spare
            positions (the continuous scheduler's joins and evictions, `engine.kv_ops`)."""
            self.is_initialized = True
            self.dtype, self.device = keys.dtype, keys.device
            self._keys = self._values = None
            self.length = 0
            self._grow(keys, values, capacity=keys.shape[-2] + self.reserve)
            self._keys[..., : keys.shape[-2], :].copy_(keys)  # (B, H, T, D)
            self._values[..., : values.shape[-2], :].copy_(values)
            self.length = keys.shape[-2]
            self._expose()

        def _adopt(self) -> None:
            """After an operation that replaced `keys`/`values` outright: they become the buffers."""
            self._keys, self._values = self.keys, self.values
            self.length = self.keys.shape[-2]

        def batch_repeat_interleave(self, repeats: int) -> None:
            super().batch_repeat_interleave(repeats)
            if self.length:
                self._adopt()

        def batch_select_indices(self, indices: "torch.Tensor") -> None:
            super().batch_select_indices(indices)
            if self.length:
                self._adopt()

        def reset(self) -> None:
            super().reset()
            self._keys = self._values = None
            self.length = 0

    return GrowingLayer
