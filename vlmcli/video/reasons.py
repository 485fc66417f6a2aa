"""A decoder's own reason for a failure, as a short clause for a one-line message.

Messages about bad videos state a cause only when it was checked (no video stream: the
container says so); otherwise they quote the decoder. decord's messages carry a timestamp
and a C++ source path, PyAV's an errno and the failing call; `reason_of` keeps the
readable part.
"""

from __future__ import annotations

import re

_DMLC_PREFIX = re.compile(r"^\[\d{2}:\d{2}:\d{2}\] \S+:\d+: ")  # decord: "[10:00:00] src/x.cc:151: "
_CHECK_FAILED = re.compile(r"Check failed: .*?\) ")  # decord: "Check failed: st_nb >= 0 (-1 vs. 0) "

def reason_of(exc: BaseException) -> str:
    """The readable tail of a decoder exception, without trailing period or newlines.

    >>> reason_of(RuntimeError("[10:00:00] /src/video_reader.cc:151: Check failed: st_nb >= 0 "
    ...                        "(-1 vs. 0) ERROR cannot find video stream with wanted index: -1"))
    'cannot find video stream with wanted index: -1'
    """
    strerror = getattr(exc, "strerror", None)  # PyAV's FFmpegError: errno, strerror, filename
    if isinstance(strerror, str) and strerror.strip():
        return strerror.strip().rstrip(".")
    line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    line = _CHECK_FAILED.sub("", _DMLC_PREFIX.sub("", line)).strip()
    if line.startswith("ERROR "):
        line = line[len("ERROR "):]
    return line.rstrip(".").strip() or type(exc).__name__
