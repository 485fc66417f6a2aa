"""Ending the `vlm` process as soon as its outcome is decided.

A process that imported torch and transformers spent 2-4 s after its last line in the
interpreter's own finalization (garbage collection, then the teardown of thousands of
modules), a quarter of a one-shot `vlm ask`. Nothing in that teardown is the run's work:
every command closes what it wrote before it returns (sinks, exports, reports, locks).

`exit_process(code)` does, in Python's order, what finalization does that anyone can see,
then ends the process with `os._exit`:

1. the exit status as Python computes it from `SystemExit.code` (None -> 0, an int as it
   is, anything else printed on stderr -> 1);
2. `threading._shutdown()`: the `threading` atexit calls (thread pools joined) and a wait
   for every non-daemon thread, as `Py_FinalizeEx` does first;
3. `atexit._run_exitfuncs()`: every atexit handler, the libraries' included (logging's
   flush and close, `weakref.finalize` cleanups such as `TemporaryDirectory`, multiprocessing
   children, Ray's shutdown of a local cluster it started, torch's compile-worker pools);
4. stdout and stderr flushed, then C stdio's buffers (`fflush(NULL)`: a native library's
   printf), as `exit()` would.

If flushing stdout or stderr fails (a closed pipe with text still buffered), the process
does not take the shortcut: `SystemExit` goes on to Python, whose finalization reports the
failure and exits exactly as before (the steps above done already are not done twice).
Only the `vlm` entry point (`cli.main`) calls this; tests driving the Typer app in-process
never reach it.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import NoReturn


def exit_status(code: object) -> int:
    """The status Python exits with for `SystemExit(code)`; a code that is not an int is
    written to stderr first, as Python writes it."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    _print_code(code)
    return 1


def _print_code(code: object) -> None:
    stream = sys.stderr
    try:
        if stream is None:
            raise AttributeError
        stream.write(f"{code}\n")
    except Exception:  # noqa: BLE001 - Python falls back to the C stderr
        try:
            os.write(2, f"{code}\n".encode(errors="backslashreplace"))
        except OSError:
            pass


def exit_process(code: object) -> NoReturn:
    """End the process with the status `SystemExit(code)` gives, skipping the interpreter's
    teardown (see the module docstring); falls back to raising `SystemExit` when a step
    it cannot vouch for fails."""
    status = exit_status(code)
    shutdown = getattr(threading, "_shutdown", None)
    if not (-(2**31) <= status < 2**31) or shutdown is None or threading.current_thread() is not threading.main_thread():
        raise SystemExit(status)
    shutdown()  # non-daemon threads and `threading` atexit calls, before atexit (as Py_FinalizeEx)
    atexit._run_exitfuncs()  # and clears them: Python's own pass (fallback below) finds none
    if not _flushed():
        raise SystemExit(status)  # Python's finalization reports the failed flush, as always
    _flush_c_stdio()
    os._exit(status)


def _flushed() -> bool:
    streams = {id(s): s for s in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__) if s is not None}
    ok = True
    for stream in streams.values():
        try:
            if not getattr(stream, "closed", False):
                stream.flush()
        except Exception:  # noqa: BLE001 - left for Python's finalization to report
            ok = False
    return ok


def _flush_c_stdio() -> None:
    try:
        import ctypes

        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError, TypeError):  # no C library to ask (an unusual platform)
        pass
