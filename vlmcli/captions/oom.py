"""Out of memory during a batch: halve it and retry, down to one item.

`is_out_of_memory` (which exceptions mean it) lives in `vlmcli.memory_errors`, shared with the loader.

    halving = Halving()
    outcomes = halving.run(requests, call=one_engine_call, give_up=lambda request, exc: error_for(request, exc))

A batch that fits on average can still run out of memory (a few large images together, a
long generation, another process on the GPU). Failing the whole batch would turn healthy
items into error rows, and retrying every item alone wastes the batch's speed-up. Instead
the batch is split in two halves, each retried (recursively); only an item that does not
fit *alone* is given up, through `give_up`. What was learned is kept: after an OOM, later
batches are cut before they run to the largest size that then succeeded (at most half the
size that failed), so a run does not hit the same wall on every batch, and one image too
large even alone does not force every later batch down to one.

Any other exception propagates unchanged: the caller decides what a non-memory failure
means. Ctrl-C (KeyboardInterrupt) is never caught.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from vlmcli.memory_errors import is_out_of_memory

T = TypeVar("T")
R = TypeVar("R")

def release_memory() -> None:
    """Give freed tensors back before the retry (CUDA's caching allocator keeps them otherwise)."""
    gc.collect()
    torch = sys.modules.get("torch")  # never import torch just for this
    if torch is not None:
        try:
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except Exception:  # noqa: BLE001 - best effort; the retry tells whether it helped
            pass


class Halving(Generic[T, R]):
    """Runs batches through `call`, splitting them on out-of-memory; remembers the size that fit."""

    def __init__(self) -> None:
        self.limit: int | None = None
        """Largest batch size to try, learned from OOMs; None until the first one."""
        self.splits = 0
        """How many times a batch was halved (for tests and summaries)."""

    def run(
        self,
        items: Sequence[T],
        *,
        call: Callable[[list[T]], list[R]],
        give_up: Callable[[T, BaseException], R],
    ) -> list[R]:
        """One result per item, in order: `call`'s, or `give_up(item, exc)` for an item that
        runs out of memory alone. `call(batch)` must return one result per item of `batch`."""
        items = list(items)
        size = self.limit or max(len(items), 1)
        results: list[R] = []
        for start in range(0, len(items), size):
            results += self._run(items[start : start + size], call=call, give_up=give_up)
        return results

    def _run(self, items: list[T], *, call: Callable[[list[T]], list[R]], give_up: Callable[[T, BaseException], R]) -> list[R]:
        try:
            results = list(call(items))
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # noqa: BLE001 - only OOM (MemoryError included) is handled; the rest re-raised
            if not is_out_of_memory(exc):
                raise
            error = _without_tracebacks(exc)  # the frames hold the batch's tensors: let them go
        else:
            if self.limit is not None and len(items) > self.limit:
                self.limit = len(items)  # an item too large even alone lowered it too far
            return results
        release_memory()
        if len(items) == 1:
            return [give_up(items[0], error)]
        half = (len(items) + 1) // 2
        self.limit = min(self.limit or half, half)
        self.splits += 1
        return self._run(items[:half], call=call, give_up=give_up) + self._run(items[half:], call=call, give_up=give_up)


def _without_tracebacks(exc: BaseException) -> BaseException:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current.__traceback__ = None
        current = current.__cause__ or current.__context__
    return exc
