"""Holding Ctrl-C and SIGTERM back while finished work is being saved.

A run interrupted once flushes its buffered rows on the way out; a second Ctrl-C (people
press it twice) arrived in the middle of that write, left the rows in a temp file and lost
them. Inside `deferred_interrupts()` the signals are only noted; when the block ends, one
that arrived is raised as KeyboardInterrupt (unless an exception is already on its way out).
`sigterm_as_interrupt()` makes SIGTERM (job schedulers, `kill`) end a run as Ctrl-C does.
`interruptible_until_decided()` does too, until the run's outcome is decided (`decided()`:
its summary is final, "interrupted" or not); a signal after that is too late: it is ignored,
so the exit status stays what the summary printed next says (a Ctrl-C landing just after
`Done:` made caption-dir exit 130 under a JSON summary saying `"interrupted": false`).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

HELD = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def deferred_interrupts() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield
        return
    arrived: list[int] = []
    previous: dict[int, Any] = {}
    for number in HELD:
        try:
            previous[number] = signal.signal(number, lambda signum, frame: arrived.append(signum))
        except (ValueError, OSError):  # an embedding that owns the signals: leave them alone
            pass
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    if arrived:
        raise KeyboardInterrupt


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (job schedulers, `kill`) flushes and exits like Ctrl-C."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (some test runners): leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def interruptible_until_decided() -> Iterator[Callable[[], None]]:
    """Ctrl-C and SIGTERM raise KeyboardInterrupt in the block until it calls the function it
    is given; from then on until the block ends they are ignored (the outcome is decided)."""
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield lambda: None
        return
    decided: list[bool] = []

    def handler(signum: int, frame: object) -> None:
        if not decided:
            raise KeyboardInterrupt

    previous: dict[int, Any] = {}
    for number in HELD:
        try:
            previous[number] = signal.signal(number, handler)
        except (ValueError, OSError):  # an embedding that owns the signals: leave them alone
            pass
    try:
        yield lambda: decided.append(True)
    finally:
        for number, old in previous.items():
            signal.signal(number, old)
