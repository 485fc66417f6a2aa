"""Call a function every N seconds on a daemon thread: timed shard flushes, progress lines in a log.

    ticker = Periodic(30.0, write_line, name="vlm-progress")
    ticker.start()
    ...
    ticker.stop()          # waits for a call in progress; no call starts after it returns

The action runs on the ticker's thread, so it must take its own lock around shared state.
An exception in the action stops the ticker and is kept in `error` for the owner to raise
on its own thread (a background thread must not die silently, nor raise where nobody
catches it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class Periodic:
    def __init__(self, interval: float, action: Callable[[], None], *, name: str = "vlm-periodic") -> None:
        if interval <= 0:
            raise ValueError(f"interval must be > 0, not {interval}")
        self.interval = interval
        self.action = action
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> "Periodic":
        if not self._thread.is_alive() and not self._stop.is_set():
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.action()
            except BaseException as exc:  # noqa: BLE001 - handed to the owner (see module docstring)
                self.error = exc
                return
