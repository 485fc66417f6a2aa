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

In the `vlm` process itself (`own_process_signals()`, called by `cli.main` first thing) a
decided outcome stays decided until the process exits: `settle()` (at `decided()`, when an
interrupt's exit 130 is being reported, and when the command returns) ignores both signals
at the OS level, through what follows the last line: the atexit handlers `process_exit` runs
(Ray's shutdown of a local cluster, thread pools joined) before `os._exit` (a SIGTERM there,
then during torch's ~2 s of interpreter teardown, made caption-dir exit 143 after `Done:`).
Elsewhere (tests, an embedding) nothing is left changed: every block gives back the
handlers it found.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

HELD = (signal.SIGINT, signal.SIGTERM)

_owned = False
"""Whether this process is `vlm` (its signals are this module's to keep until exit)."""
_settled = False
"""Whether the exit status is decided: Ctrl-C and SIGTERM are ignored until the process exits."""


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def own_process_signals() -> None:
    """The `vlm` entry point's first step: this process's signals are this module's to keep
    until it exits (`settle()`); nothing changes yet (see `sigterm_as_ctrl_c`)."""
    global _owned
    if _main_thread():
        _owned = True


def sigterm_as_ctrl_c() -> None:
    """In the `vlm` process, from now on SIGTERM interrupts as Ctrl-C does (commands that take
    it so install this as soon as they are named, before parsing their options)."""
    if _owned and not _settled and _main_thread():
        signal.signal(signal.SIGTERM, _interrupt)


def settle() -> None:
    """The exit status is decided: in the `vlm` process, Ctrl-C and SIGTERM are ignored (SIG_IGN,
    which holds through interpreter shutdown too; a child started after it would inherit it:
    none is) until it exits. Elsewhere: nothing."""
    global _settled
    if not _owned or not _main_thread():
        return
    for number in HELD:
        try:
            signal.signal(number, signal.SIG_IGN)
        except (ValueError, OSError):
            pass
    _settled = True


def _restore(previous: dict[int, Any]) -> None:
    """Give back the handlers a block found, unless the outcome was settled meanwhile."""
    if _settled:
        return
    for number, handler in previous.items():
        signal.signal(number, handler)


@contextmanager
def deferred_interrupts() -> Iterator[None]:
    if not _main_thread() or _settled:  # signals reach the main thread only; settled: nothing to hold
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
        _restore(previous)
    if arrived and not _settled:
        raise KeyboardInterrupt


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (job schedulers, `kill`) flushes and exits like Ctrl-C."""
    if _settled:
        yield
        return
    try:
        previous = signal.signal(signal.SIGTERM, _interrupt)
    except ValueError:  # not the main thread (some test runners): leave signals alone
        yield
        return
    try:
        yield
    finally:
        _restore({signal.SIGTERM: previous})


@contextmanager
def interruptible_until_decided() -> Iterator[Callable[[], None]]:
    """Ctrl-C and SIGTERM raise KeyboardInterrupt in the block until it calls the function it
    is given; from then on until the block ends they are ignored (the outcome is decided), and in
    the `vlm` process until it exits (`settle`)."""
    if not _main_thread() or _settled:  # signals reach the main thread only; settled: decided already
        yield lambda: None
        return
    decided: list[bool] = []

    def decide() -> None:
        decided.append(True)
        settle()

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
        yield decide
    finally:
        _restore(previous)
