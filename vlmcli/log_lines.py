"""Timed progress lines for a log file: what `caption-dir` and `video-summarize` share.

When stderr is a file or a pipe (a SLURM or nohup job, `2> log`) a progress bar prints
nothing useful, so a command writes plain lines instead: one when a stage starts and one
every `every` seconds from a timer thread (even while one long model call runs).
`TimedLines` holds the timer, the lock and the stream; a subclass says what the line is.
"""

from __future__ import annotations

import os

import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

from vlmcli.periodic import Periodic


def clock_text(seconds: float) -> str:
    """A duration for a log line: 42s, 4m05s, 8h24m."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def redraws_bar(stream: TextIO) -> bool:
    """Whether a live progress bar can be drawn on `stream`: a terminal, and not TERM=dumb or
    unknown (rich's `Console.is_dumb_terminal`: it draws nothing there until the end, as in
    Emacs' shell and some CI consoles). Elsewhere progress is timed lines."""
    try:
        terminal = bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False
    return terminal and os.environ.get("TERM", "").lower() not in ("dumb", "unknown")


RATE_WINDOW_S = 10.0
"""The shortest time after the first result that a log's rate is measured over (results end
in bursts: a shorter window could time one burst)."""


def windowed_rate(now: float, *, done: int, origin: tuple[float, int] | None, started: float) -> float | None:
    """Results per second: since `origin` (time, count) of the first result (warm-up excluded)
    once that window is `RATE_WINDOW_S` long, else since `started`; None before any result."""
    if origin is not None and done > origin[1] and now - origin[0] >= RATE_WINDOW_S:
        return (done - origin[1]) / (now - origin[0])
    if done and now > started:
        return done / (now - started)
    return None


def write_line(stream: TextIO, text: str) -> None:
    """One progress line, flushed; a closed or broken log must not stop the job it reports on."""
    try:
        stream.write(text + "\n")
        stream.flush()
    except (OSError, ValueError):
        pass


class TimedLines:
    """A log's lock, stream, clock and timer. Subclasses implement `_tick` (called on the timer
    thread every `every` seconds once `_ensure_timer` ran; take `self._lock` there)."""

    timer_name = "vlm-progress-log"

    def __init__(
        self, *, every: float = 30.0, stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if every <= 0:
            raise ValueError(f"every must be > 0 seconds, not {every}")
        self.every = every
        self._stream = stream if stream is not None else sys.stderr
        self._clock = clock
        self._lock = threading.Lock()
        self._timer: Periodic | None = None
        self._closed = False

    def _tick(self) -> None:
        raise NotImplementedError

    def _ensure_timer(self) -> None:
        if self._timer is None and not self._closed:
            self._timer = Periodic(self.every, self._tick, name=self.timer_name).start()

    def _stop_timer(self) -> None:
        """Stop the timer for good: no line starts after this returns."""
        self._closed = True
        if self._timer is not None:
            self._timer.stop()

    def _write(self, text: str) -> None:
        write_line(self._stream, text)
