"""Which batching a bulk run gets: continuous (`engine.scheduler`) or static (`engine.generate`).

Continuous is the default where it is exact. A run falls back to static batching, and says
why (`BatchingMode.describe`, printed by `caption-dir` and in its JSON summary), when:
- the user asked for it (`--static-batching`);
- the family is declared static in the registry (`FamilySpec.batching`: sliding-window,
  linear-attention and convolution decoders);
- this checkpoint's cache has a layer rows cannot be moved in and out of (a family declared
  continuous whose config turns on a sliding window, say), found by building the cache the
  loop would use (`kv_ops.unmovable_layers`);
- decode steps are compiled (`--compile`): their shapes would change at every join.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vlmcli.families import Batching, family_for_model_type


@dataclass(frozen=True)
class BatchingMode:
    continuous: bool
    slots: int
    """Rows decoded together: decode slots (continuous) or the batch size (static)."""
    reason: str = ""
    """Why static, in a few words (empty when continuous)."""

    def describe(self) -> str:
        if self.continuous:
            return f"continuous batching, {self.slots} slot{'' if self.slots == 1 else 's'}"
        return f"static batching ({self.reason})"


def choose_batching(adapter: Any, *, slots: int, static: bool = False, compiled: bool = False) -> BatchingMode:
    """The batching mode for `adapter`'s model (an `Adapter`), given the user's choices."""
    if static:
        return BatchingMode(continuous=False, slots=slots, reason="--static-batching")
    spec = family_for_model_type(adapter.model_type)
    if spec is not None and spec.batching is Batching.STATIC:
        return BatchingMode(continuous=False, slots=slots, reason=f"{spec.title}: {spec.static_because}")
    if compiled:
        return BatchingMode(continuous=False, slots=slots, reason="--compile decodes fixed batches")
    layers = _unmovable(adapter)
    if layers:
        return BatchingMode(continuous=False, slots=slots, reason=f"cache layers {', '.join(layers)}")
    return BatchingMode(continuous=True, slots=slots)


def _unmovable(adapter: Any) -> list[str]:
    from transformers import DynamicCache

    from vlmcli.engine.kv_ops import unmovable_layers

    return unmovable_layers(DynamicCache(config=adapter.model.config.get_text_config(decoder=True)))
