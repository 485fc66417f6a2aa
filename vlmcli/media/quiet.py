"""Keep native libraries' log lines off the user's stderr.

decord logs through its C++ logger straight to file descriptor 2
(`[14:13:56] /github/workspace/src/video/video_reader.cc:83: ERROR opening: ...`), even
with its log level at QUIET, and libtiff prints its decoding errors there too
(`ZIPDecode: Decoding error at scanline 0, incorrect data check.`). Python cannot intercept
either. The CLI promises exactly one line on stderr per failure, and the `InputError` /
`VideoError` we raise already says what went wrong.

`native_stderr_filtered()` points fd 2 at a temporary file for the duration of a native
call, then restores it and writes back every captured line that is *not* such a native log
line, so nothing else printed meanwhile (by another thread, say) is lost; it only arrives
a moment later. Calls are serialised by a lock, so concurrent decoders cannot interleave
their redirections.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

_LOCK = threading.RLock()
_NATIVE_LINE = re.compile(
    rb"^(?:\[\d{2}:\d{2}:\d{2}\] \S+\.(?:cc|cpp|c|h):\d+: "  # decord (dmlc logging)
    rb"|_?(?:TIFF|OJPEG|JPEGLib|[A-Z][A-Za-z0-9]*(?:Decode|Encode|Setup))\w*: "  # libtiff
    rb"|_tiff(?:Read|Write|Seek|Close|Size|Map)Proc: "  # Pillow's libtiff I/O callbacks ("Invalid Read at loc")
    rb"|tempfile\.tif: )"  # libtiff naming the in-memory file Pillow hands it ("WEBP compression support is not configured")
)


@contextmanager
def native_stderr_filtered() -> Iterator[None]:
    """Run the body with fd 2 captured; replay what was not a native log line."""
    with _LOCK:
        _flush()
        try:
            saved = os.dup(2)
        except OSError:  # no stderr at all: nothing to protect
            yield
            return
        capture = tempfile.TemporaryFile()
        try:
            os.dup2(capture.fileno(), 2)
            try:
                yield
            finally:
                _flush()
                os.dup2(saved, 2)
                _replay(capture)
        finally:
            os.close(saved)
            capture.close()


def keep_line(line: bytes) -> bool:
    """False for a native library's log line (timestamp, C++ source file and line)."""
    return _NATIVE_LINE.match(line) is None


def _replay(capture) -> None:  # noqa: ANN001 - a binary temporary file
    capture.seek(0)
    kept = b"".join(line for line in capture.read().splitlines(keepends=True) if keep_line(line))
    if kept:
        try:
            os.write(2, kept)
        except OSError:
            pass


def _flush() -> None:
    try:
        sys.stderr.flush()
    except (AttributeError, ValueError, OSError):
        pass


@contextmanager
def stderr_lines_dropped(pattern: "re.Pattern[bytes]") -> Iterator[None]:
    """Run the body with every line written to fd 2 that matches `pattern` dropped, the others
    passed on as they come (not held back: a progress line appears when it is written). For a
    library that logs one known, harmless line in a long call (Ray's core worker on each actor
    pool); `native_stderr_filtered` holds its lines until the call ends."""
    with _LOCK:  # fd 2 is switched while no native_stderr_filtered call holds it (and back, below)
        _flush()
        try:
            saved = os.dup(2)
        except OSError:  # no stderr at all: nothing to protect
            saved = None
        if saved is not None:
            read_end, write_end = os.pipe()
            pump = threading.Thread(target=_pump, args=(read_end, saved, pattern), name="vlm-stderr-filter", daemon=True)
            pump.start()
            os.dup2(write_end, 2)
            os.close(write_end)
    try:
        yield
    finally:
        if saved is not None:
            with _LOCK:
                _flush()
                os.dup2(saved, 2)  # the pipe's last writer is gone: the pump reads to its end
            pump.join(timeout=5)
            os.close(saved)


def _pump(read_end: int, target: int, pattern: "re.Pattern[bytes]") -> None:
    pending = b""
    with os.fdopen(read_end, "rb", buffering=0) as source:
        while chunk := source.read(65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            kept = b"".join(line + b"\n" for line in lines if not pattern.search(line))
            if kept:
                _write_all(target, kept)
    if pending and not pattern.search(pending):
        _write_all(target, pending)


def _write_all(fd: int, data: bytes) -> None:
    try:
        while data:
            data = data[os.write(fd, data):]
    except OSError:
        pass


def quiet_pillow() -> None:
    """Pillow warns on stderr about what it tolerates (corrupt EXIF, tag data past the end of
    a TIFF, the bomb threshold below our own limit) and logs errors it then raises ("More
    samples per pixel than can be decoded"). The CLI promises clean stderr, and the file
    either decodes or fails with one clear error, so Pillow's warnings are ignored by module
    (a filter, not `warnings.catch_warnings` around each call, which is not thread-safe:
    images decode in threads) and its log records go nowhere (without a handler, Python's
    last-resort one printed them). Call before any `Image.open` (probing included)."""
    warnings.filterwarnings("ignore", module=r"PIL(\.|$)")  # idempotent: an existing equal filter is replaced
    pil = logging.getLogger("PIL")
    if not pil.handlers:
        pil.addHandler(logging.NullHandler())
