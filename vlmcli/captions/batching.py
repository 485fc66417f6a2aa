"""Group requests into engine batches so that a batch holds images of similar cost.

A batch is padded to its longest prompt, and an image's prompt length is mostly its
visual tokens, which grow with its pixel count (Qwen: about pixels / 784; Idefics3/SmolVLM
and LLaVA-NeXT: tiles, which also grow with size). Sorting by cost, largest first, and
cutting the sorted list into consecutive runs minimises the total padding for a fixed batch
size: each batch's largest cost is as small as it can be, and the one short batch holds the
cheapest items (ascending order would leave the short batch with the dearest ones).
Pure functions: no I/O, no torch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

AUTO_BATCH_SIZE = {"cuda": 32, "mps": 8, "cpu": 8}
"""Default requests per engine call by device type: what fits comfortably for a ~2B model."""


def auto_batch_size(device_type: str) -> int:
    return AUTO_BATCH_SIZE.get(device_type, AUTO_BATCH_SIZE["cpu"])


def group_batches(items: Sequence[T], *, batch_size: int, cost: Callable[[T], Any]) -> list[list[T]]:
    """Stable-sort `items` by `cost`, largest first, and cut them into batches of `batch_size`
    (the last, cheapest, may be short).

    Every item appears in exactly one batch; ties keep their input order.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    ordered = sorted(items, key=cost, reverse=True)  # stable: ties keep input order
    return [ordered[start : start + batch_size] for start in range(0, len(ordered), batch_size)]


def padding(batches: Sequence[Sequence[T]], *, cost: Callable[[T], float]) -> float:
    """Total padding: for each item, its batch's largest cost minus its own."""
    return sum(max(cost(i) for i in batch) * len(batch) - sum(cost(i) for i in batch) for batch in batches if batch)
