"""The library's `--debug` log: `logging` records of the `vlmcli` loggers, on stderr.

Library modules log what a user debugging a run wants to know but should not see
otherwise (which decoder read a video and why: logger `vlmcli.video`). The commands turn
it on for the duration of a run with `--debug` (or VLM_DEBUG=1) through `error_boundary`:

    with debug_log(enabled):
        ...

Lines go to the *current* `sys.stderr` (a test runner may swap it between runs) as
`[debug] <message>`, and the handler is removed afterwards, so nothing leaks into the
next command run in the same process.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

LOGGER = "vlmcli"


class _CurrentStderr(logging.StreamHandler):
    """A stream handler that always writes to whatever `sys.stderr` is at the time."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self):  # noqa: ANN201 - a text stream
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # noqa: ANN001 - logging sets it in __init__; ignored
        pass


@contextmanager
def debug_log(enabled: bool) -> Iterator[None]:
    """Show `vlmcli` debug records on stderr inside the block when `enabled`."""
    if not enabled:
        yield
        return
    logger = logging.getLogger(LOGGER)
    handler = _CurrentStderr()
    handler.setFormatter(logging.Formatter("[debug] %(message)s"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
