"""Progress on stderr: a rich bar with images/s, ETA and error count; or nothing (--quiet).

rich is imported only when a bar is actually shown.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, Protocol

from vlmcli.sinks.schema import Row, Status


class Progress(Protocol):
    def scanning(self, total: int) -> None: ...
    def scanned(self) -> None: ...
    def start(self, total: int, *, note: str = "") -> None: ...
    def advance(self, rows: Sequence[Row]) -> None: ...
    def log(self, message: str) -> None: ...
    def close(self) -> None: ...


class NullProgress:
    def scanning(self, total: int) -> None:
        pass

    def scanned(self) -> None:
        pass

    def start(self, total: int, *, note: str = "") -> None:
        pass

    def advance(self, rows: Sequence[Row]) -> None:
        pass

    def log(self, message: str) -> None:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()

    def close(self) -> None:
        pass


class RichProgress:
    """Two bars: 'Reading' while files are hashed, then 'Captioning'."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, ProgressColumn, TextColumn, TimeRemainingColumn
        from rich.progress import Progress as RichBar
        from rich.text import Text

        class Rate(ProgressColumn):
            def render(self, task: Any) -> Text:
                elapsed = task.finished_time if task.finished else task.elapsed
                speed = task.completed / elapsed if elapsed else 0.0
                return Text(f"{speed:.2f}/s" if speed else "-/s", style="progress.data.speed")

        self._bar = RichBar(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            Rate(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[errors]}"),
            console=Console(stderr=True),
            transient=False,
        )
        self._bar.start()
        self._scan: Any = None
        self._task: Any = None
        self._errors = 0
        self._closed = False

    def scanning(self, total: int) -> None:
        self._scan = self._bar.add_task("Reading", total=total, errors="")

    def scanned(self) -> None:
        if self._scan is not None:
            self._bar.advance(self._scan)

    def start(self, total: int, *, note: str = "") -> None:
        self._task = self._bar.add_task(f"Captioning{note}", total=total, errors="errors: 0")

    def advance(self, rows: Sequence[Row]) -> None:
        if self._task is None:
            return
        self._errors += sum(1 for r in rows if r["status"] == Status.ERROR.value)
        self._bar.update(self._task, advance=len(rows), errors=f"errors: {self._errors}")

    def log(self, message: str) -> None:
        """A line above the bar (writing to stderr directly would tear the bar)."""
        self._bar.console.print(message, markup=False, highlight=False, soft_wrap=True)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._bar.stop()
