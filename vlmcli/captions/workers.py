"""Decode the next batches in background threads while the model runs the current one.

    with Prefetcher(batches, decode_one, threads=2, depth=2) as batches_ready:
        for batch, decoded in batches_ready:   # decoded: {path: Decoded}
            ...

A feeder thread submits each upcoming batch's distinct files to a thread pool and puts the
batch on a queue of `depth` slots; the consumer waits only for files not decoded yet.
Memory stays bounded: at most `depth + 2` batches of decoded images exist at once (the
queue, the one the feeder holds, the one being captioned). Pillow and torch both release
the GIL, so decoding and model compute really overlap.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

from vlmcli.captions.decode import Decoded

T = TypeVar("T")
_END = object()


class Prefetcher(Generic[T]):
    def __init__(
        self,
        batches: Sequence[Sequence[T]],
        decode_one: Callable[[str], Decoded],
        *,
        path_of: Callable[[T], str],
        threads: int = 2,
        depth: int = 2,
    ) -> None:
        if threads < 1 or depth < 1:
            raise ValueError("threads and depth must be >= 1")
        self._batches = batches
        self._decode = decode_one
        self._path_of = path_of
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="vlm-decode")
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._feeder = threading.Thread(target=self._feed, name="vlm-prefetch", daemon=True)
        self._feeder.start()

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _feed(self) -> None:
        try:
            for batch in self._batches:
                if self._stop.is_set():
                    return
                paths = list(dict.fromkeys(self._path_of(item) for item in batch))
                futures = {p: self._pool.submit(self._decode, p) for p in paths}
                if not self._put((batch, futures)):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            self._error = exc
        self._put(_END)

    def __iter__(self) -> Iterator[tuple[Sequence[T], dict[str, Decoded]]]:
        while True:
            item = self._queue.get()
            if item is _END:
                if self._error is not None:
                    raise self._error
                return
            batch, futures = item  # type: ignore[misc]
            yield batch, {path: future.result() for path, future in futures.items()}

    def close(self) -> None:
        self._stop.set()
        while True:  # free the feeder if it waits on a full queue, and drop decoded images
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not _END:
                for future in item[1].values():  # type: ignore[index]
                    future.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._feeder.join(timeout=5)

    def __enter__(self) -> "Prefetcher[T]":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

