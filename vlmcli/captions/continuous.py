"""caption-dir's bulk path under continuous batching: one stream of tasks through the decode slots.

    mode = batching_for(engine, job, device="cpu")      # continuous, or static and why
    ContinuousRunner(runner, slots=mode.slots, prefill_tokens=4096).run(ready, emit=emit)

The planned batches (`pipeline.plan_batches`, alike items together) are decoded ahead by
the `Prefetcher` as before, but flattened into one stream of requests that the engine's
scheduler (`Engine.serve`) reads as its slots free up, so the decode batch stays full and
no row decodes past its end. Rows are emitted as each request finishes (not in plan order).
A row's `latency_ms` is the scheduler's `Completion.latency_s`: the wall time from the start
of the admission that prefilled it (rows prefilled together share it) to its answer.

Errors stay rows, as in `runner.BatchRunner`: an image that cannot be decoded or a request
that cannot be prepared (too long for the context, rejected by the processor) is an error
row while the others go on. When the batch as a whole fails (out of memory, say), the
requests in flight are handed to the static runner, which halves on out-of-memory and
isolates bad items, and the stream then resumes with a fresh scheduler.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from vlmcli.captions.batching import auto_batch_size
from vlmcli.captions.config import CaptionJob
from vlmcli.captions.decode import Decoded
from vlmcli.captions.oom import is_out_of_memory, release_memory
from vlmcli.captions.plan import Task
from vlmcli.captions.runner import BatchRunner, describe_exception
from vlmcli.errors import ConfigError, VlmError
from vlmcli.sinks.schema import Row

if TYPE_CHECKING:
    from vlmcli.engine.batching_mode import BatchingMode
    from vlmcli.engine.request import Request

OnRows = Callable[[list[Row]], None]


def device_type(engine: Any) -> str:
    """'cuda', 'mps' or 'cpu' for a loaded engine (fakes without a model count as cpu)."""
    try:
        return str(engine.adapter.model.device.type)
    except AttributeError:
        return "cpu"


def batching_for(engine: Any, job: CaptionJob, *, device: str) -> "BatchingMode":
    """How this run batches: the engine's choice (`Engine.batching`) for `job`'s slots and
    `--static-batching`; static for engines without a scheduler (test fakes)."""
    return batching_of(engine, batch_size=job.batch_size, static=job.static_batching, device=device)


def batching_of(engine: Any, *, batch_size: int, static: bool, device: str) -> "BatchingMode":
    """`batching_for` from the two settings it reads (`--batch-size`, 0: the device's default)."""
    from vlmcli.engine.batching_mode import BatchingMode

    slots = batch_size or auto_batch_size(device)
    choose = getattr(engine, "batching", None)
    if choose is None:
        return BatchingMode(continuous=False, slots=slots, reason="this engine has no scheduler")
    return choose(slots=slots, static=static)


class ContinuousRunner:
    """Feeds decoded tasks to `Engine.serve` and turns each completion into rows (module docstring)."""

    def __init__(self, runner: BatchRunner, *, slots: int, prefill_tokens: int | None = None) -> None:
        self.runner = runner
        self.slots = slots
        self.prefill_tokens = prefill_tokens
        self._handed: list[tuple[Task, Any]] = []
        """(task, media) of each request handed to the current scheduler, by its stream index."""

    def run(self, ready: Iterable[tuple[Sequence[Task], dict[str, Decoded]]], *, emit: OnRows) -> None:
        emit = _guarded(emit)
        stream = self._requests(ready, emit)
        while True:
            self._handed = []
            finished: set[int] = set()
            try:
                for completion in self.runner.engine.serve(
                    stream, self.runner.generation, slots=self.slots, prefill_tokens=self.prefill_tokens
                ):
                    finished.add(completion.index)
                    emit(self._rows(completion))
                return
            except (KeyboardInterrupt, ConfigError):  # a setting the model cannot take: the run stops
                raise
            except _EmitFailed as failed:  # the rows could not be written (a full disk): the run stops
                raise failed.error from None
            except Exception as exc:  # noqa: BLE001 - the batch failed as a whole: its requests go static
                if self.runner.debug:
                    traceback.print_exc(file=sys.stderr)
                if is_out_of_memory(exc):  # fewer rows in flight from now on
                    release_memory()
                    self.slots = max(1, self.slots // 2)
                left = [item for i, item in enumerate(self._handed) if i not in finished]
                outcomes = self.runner.generate([self.runner.request_for(task, media) for task, media in left])
                for (task, media), outcome in zip(left, outcomes):
                    emit(self.runner.rows_for(task, media, outcome))

    def _requests(self, ready: Iterable[tuple[Sequence[Task], dict[str, Decoded]]], emit: OnRows) -> Iterator["Request"]:
        """The requests of the decoded tasks, in plan order; undecodable items become error rows."""
        for batch, decoded in ready:
            for task in batch:
                media = decoded[task.path]
                if media.image is None:
                    emit(self.runner.error_rows(task, media.error or "cannot decode"))
                    continue
                self._handed.append((task, media.image))
                yield self.runner.request_for(task, media.image)

    def _rows(self, completion: Any) -> list[Row]:
        task, media = self._handed[completion.index]
        result, error = completion.result, completion.error
        if result is None:
            assert error is not None
            if not isinstance(error, VlmError):
                self.runner.check_systematic(error)
            return self.runner.rows_for(task, media, (describe_exception(error), 0.0))
        self.runner.succeeded += 1
        # the wall time from the start of its admission (not its timings: they are its share
        # of the batch's work, which a row does not wait less for)
        latency_ms = float(getattr(completion, "latency_s", 0.0) or 0.0) * 1000
        return self.runner.rows_for(task, media, (result, latency_ms))


class _EmitFailed(Exception):
    """Writing rows failed: not the batch's failure (retrying it would drop rows that are done)."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _guarded(emit: OnRows) -> OnRows:
    """`emit`, its failures marked as `_EmitFailed`: a write error raised inside the engine's
    loop (a finished row, an undecodable item's error row) must stop the run, not be taken
    for a failed batch whose unfinished requests are retried while the written rows are lost."""

    def call(rows: list[Row]) -> None:
        try:
            emit(rows)
        except Exception as exc:  # noqa: BLE001 - re-raised as it was by `run`
            raise _EmitFailed(exc) from exc

    return call
