"""Group requests into engine batches of similar cost, capped by count and by visual tokens.

A batch is padded to its longest prompt, and an image's prompt length is mostly its
visual tokens, which grow with its pixel count (Qwen: about pixels / 784; Idefics3/SmolVLM
and LLaVA-NeXT: tiles, which also grow with size). Sorting by cost, largest first, and
cutting the sorted list into consecutive runs keeps each batch's items alike: with batches
of equal size this is the least total padding of any grouping (exchange argument); the one
short batch, when there is one, holds the cheapest items.

A count alone does not bound memory: eight 4000x3000 photos at SmolVLM's native
resolution are ~136 tiles in one vision call (7 GB on CPU, bench/RESULTS.md). So a batch
is also closed when its visual tokens would pass `max_tokens` (`--max-batch-tokens`; by
device by default); an item above the cap on its own runs alone. Cutting the same
largest-first order keeps items alike: big items travel in small batches, small
items in full ones. Pure functions: no I/O, no torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

AUTO_BATCH_SIZE = {"cuda": 32, "mps": 8, "cpu": 8}
"""Default requests per engine call by device type: what fits comfortably for a ~2B model."""

AUTO_MAX_BATCH_TOKENS = {"cuda": 65536, "mps": 16384, "cpu": 4096}
"""Default visual tokens per engine call by device type. CPU: 4 Qwen images at the default
1024 tokens, or 3 SmolVLM photos at native resolution (17 tiles x 64 tokens; 8 of them in
one call peaked at 7 GB, bench/RESULTS.md), while small images still batch by 8; on CPU
the encoder is compute-bound, so smaller batches of large images cost little speed. CUDA:
64 Ki tokens is ~4 GB of bf16 hidden states for a 2B model's 1536-wide layers, comfortable
on a 24 GB card."""

PATCH_PIXELS = 28 * 28
"""Fallback estimate when the model's planner is unavailable: one token per 28x28 pixels
(Qwen-VL's rule, the largest per-pixel cost of the supported families)."""


def auto_batch_size(device_type: str) -> int:
    return AUTO_BATCH_SIZE.get(device_type, AUTO_BATCH_SIZE["cpu"])


def auto_max_batch_tokens(device_type: str) -> int:
    return AUTO_MAX_BATCH_TOKENS.get(device_type, AUTO_MAX_BATCH_TOKENS["cpu"])


def pixel_tokens(size: tuple[int, int] | None) -> int:
    """The fallback visual-token estimate for an image of `size` (0 when unknown)."""
    if size is None:
        return 0
    return max(1, math.ceil(size[0] * size[1] / PATCH_PIXELS))


def group_batches(
    items: Sequence[T],
    *,
    batch_size: int,
    cost: Callable[[T], Any],
    tokens: Callable[[T], int] | None = None,
    max_tokens: int | None = None,
) -> list[list[T]]:
    """Stable-sort `items` by `cost`, largest first, and cut them into consecutive batches of
    at most `batch_size` items and at most `max_tokens` visual tokens (`tokens(item)` each).

    An item whose own tokens exceed `max_tokens` forms a batch alone. Without `tokens` or
    `max_tokens` only the count applies. Every item appears in exactly one batch; ties keep
    their input order. Pass a `cost` that sorts by tokens first so that batches hold items
    of similar token counts (least padding).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if max_tokens is not None and max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    ordered = sorted(items, key=cost, reverse=True)  # stable: ties keep input order
    if tokens is None or max_tokens is None:
        return [ordered[start : start + batch_size] for start in range(0, len(ordered), batch_size)]
    batches: list[list[T]] = []
    current: list[T] = []
    total = 0
    for item in ordered:
        need = max(0, int(tokens(item)))
        if current and (len(current) >= batch_size or total + need > max_tokens):
            batches.append(current)
            current, total = [], 0
        current.append(item)
        total += need
    if current:
        batches.append(current)
    return batches


def padding(batches: Sequence[Sequence[T]], *, cost: Callable[[T], float]) -> float:
    """Total padding: for each item, its batch's largest cost minus its own."""
    return sum(max(cost(i) for i in batch) * len(batch) - sum(cost(i) for i in batch) for batch in batches if batch)
