"""Caption one planned batch with an engine; a bad item becomes an error row, never a crash.

Used as-is by the local loop and by each Ray actor, so both produce the same rows. One
batch is one `engine.generate` call. Out of memory halves the batch and retries
(`vlmcli.captions.oom`), so only an item that does not fit alone becomes an error row.
If the call fails otherwise (a context-length overflow, an image the processor rejects),
every request is retried alone so that only the offending items become error rows.
Ctrl-C (KeyboardInterrupt) is never swallowed.

One guard keeps "errors are rows" from hiding a broken setup: when the first
`GIVE_UP_AFTER` requests of a run all fail with the same unexpected (non-vlmcli)
exception and none has succeeded, that exception is raised, so the run stops with the
real message instead of writing thousands of identical error rows.
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from vlmcli.captions.decode import Decoded
from vlmcli.captions.oom import Halving
from vlmcli.captions.plan import Task
from vlmcli.captions.summary import FIRST_FRAME_NOTE
from vlmcli.captions.rows import RowContext, copy_row, error_row, joined_notes, ok_row
from vlmcli.errors import ConfigError, VlmError
from vlmcli.media.names import display_name
from vlmcli.sinks.schema import Row

if TYPE_CHECKING:
    from vlmcli.engine.config import GenerationConfig
    from vlmcli.engine.events import GenerationResult
    from vlmcli.engine.request import Request
    from vlmcli.media.image_input import ImageInput

GIVE_UP_AFTER = 8

Outcome = tuple["GenerationResult | str", float]
"""A result or an error message, and the engine call's wall time in ms."""


def describe_exception(exc: BaseException) -> str:
    if isinstance(exc, VlmError):
        return str(exc)
    return f"unexpected {type(exc).__name__}: {exc}"


class BatchRunner:
    def __init__(
        self, engine: Any, generation: "GenerationConfig", ctx: RowContext, *, system: str | None = None, debug: bool = False
    ) -> None:
        self.engine = engine
        self.generation = generation
        self.ctx = ctx
        self.system = system
        self.debug = debug
        self.succeeded = 0
        self.halving: Halving["Request", Outcome] = Halving()
        self._unexpected: list[str] = []

    def run(self, batch: Sequence[Task], decoded: dict[str, Decoded]) -> list[Row]:
        """Rows for every path of every task in `batch` (primary and followers)."""
        rows: list[Row] = []
        ready: list[tuple[Task, "ImageInput"]] = []
        for task in batch:
            image = decoded[task.path]
            if image.image is None:
                rows += self.error_rows(task, image.error or "cannot decode")
            else:
                ready.append((task, image.image))
        if ready:
            outcomes = self.generate([self.request_for(task, image) for task, image in ready])
            for (task, image), outcome in zip(ready, outcomes):
                rows += self.rows_for(task, image, outcome)
        return rows

    def rows_for(self, task: Task, media: Any, outcome: Outcome) -> list[Row]:
        """The rows of one task (primary and followers) from its engine outcome."""
        result, latency_ms = outcome
        if isinstance(result, str):
            return self.error_rows(task, result, latency_ms)
        first = ok_row(self.ctx, path=task.path, key=media.key, prompt=task.prompt, result=result, latency_ms=latency_ms)
        first["notes"] = joined_notes(getattr(media, "note", None), first["notes"])  # a TIFF's other pages
        if task.animated:
            first["notes"] = joined_notes(FIRST_FRAME_NOTE, first["notes"])
        return [first] + [copy_row(first, path=p) | {"key": task.key} for p in task.followers]

    def generate(self, requests: list["Request"]) -> list[Outcome]:
        """Engine calls for `requests`: halved on out-of-memory (`oom.Halving`); on any other
        failure, each request alone (error messages for those that still fail)."""
        start = time.perf_counter()
        try:
            return self.halving.run(requests, call=self._call, give_up=self._out_of_memory)
        except (KeyboardInterrupt, ConfigError):  # a setting (a --regex the grammar cannot take) is no item's fault
            raise
        except Exception as exc:  # noqa: BLE001 - errors are rows
            elapsed = (time.perf_counter() - start) * 1000
            if self.debug:
                traceback.print_exc(file=sys.stderr)
            if len(requests) > 1:
                return [self.generate([request])[0] for request in requests]
            self.check_systematic(exc)
            return [(describe_exception(exc), elapsed)]

    def _call(self, requests: list["Request"]) -> list[Outcome]:
        """One engine call (raises what the engine raises)."""
        start = time.perf_counter()
        results = self.engine.generate(requests, self.generation)
        if len(results) != len(requests):
            raise RuntimeError(f"engine returned {len(results)} results for {len(requests)} requests")
        elapsed = (time.perf_counter() - start) * 1000
        self.succeeded += len(results)
        return [(result, elapsed) for result in results]

    def _out_of_memory(self, request: "Request", exc: BaseException) -> Outcome:
        return (f"out of memory even alone (batch of 1): {describe_exception(exc)}", 0.0)

    def check_systematic(self, exc: Exception) -> None:
        if self.succeeded or isinstance(exc, VlmError):
            return
        self._unexpected.append(f"{type(exc).__name__}: {exc}")
        if len(self._unexpected) >= GIVE_UP_AFTER and len(set(self._unexpected)) == 1:
            raise exc

    def request_for(self, task: Task, image: "ImageInput") -> "Request":
        from vlmcli.engine.request import Request

        return Request(prompt=task.prompt.text, images=(image,), system=self.system, constraint=task.prompt.constraint)

    def error_rows(self, task: Task, message: str, latency_ms: float | None = None) -> list[Row]:
        """One error row per path; a follower's message names its own file, as if it had
        been read itself (identical bytes fail identically). Messages name a file as
        `display_name` writes it, so that is the spelling swapped."""
        named = display_name(task.path)
        return [
            error_row(
                self.ctx, path=p, key=task.key, prompt=task.prompt, message=message.replace(named, display_name(p)),
                size=task.size, latency_ms=latency_ms,
            )
            for p in task.paths
        ]
