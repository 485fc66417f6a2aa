"""Progress on stderr: a rich bar on a terminal, plain timed lines in a log, or nothing (--quiet).

    progress = make_progress(quiet=False, log_every=30.0)   # picks by whether stderr is a terminal

On a terminal, `RichProgress` draws two bars (reading, captioning) with images/s, ETA and
errors. When stderr is a file or a pipe (a SLURM or nohup job, `2> log`) a bar would
print nothing until the end, so `LogProgress` writes one plain line when a stage starts,
one every `log_every` seconds from a timer thread (even while one long batch runs), and
one at the end (its counts: the summary line after it gives the run's rate):

    Captioning: 1200/95000 done (1190 ok, 10 errors; 5000 already done); 3.10 images/s; ETA 8h24m

The rate counts images, videos (a run of clips only), or items (both).

Listing the input folders comes before the first of those lines; on a huge tree (or a slow
network disk) it takes seconds to minutes, so when it lasts longer than `SCAN_NOTICE_S` a
line says so (`scanning_notice`: "Scanning photos/ (listing its files) ..."); a fast run's
lines are unchanged.

rich is imported only when a bar is actually shown.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol, TextIO

from vlmcli.log_lines import TimedLines, clock_text, redraws_bar, windowed_rate
from vlmcli.media.names import display_name
from vlmcli.sinks.schema import Row, Status


SCAN_NOTICE_S = 1.0
"""How long listing the input folders runs before a line says it is under way."""


class Progress(Protocol):
    def listing(self, what: str) -> None:
        """Listing the inputs (`what`: "photos/") has taken a while: say it is under way."""
    def scanning(self, total: int) -> None: ...
    def scanned(self) -> None: ...
    def start(self, total: int, *, note: str = "", skipped: int = 0, prompts: int = 1, unit: str = "images") -> None:
        """Captioning begins: `total` rows to write; `unit` is what the rate counts (`rate_unit`)."""
    def retotal(self, total: int, *, unit: str | None = None, skipped: int | None = None) -> None:
        """A better estimate of the rows to write (dataset shards: known as each is read), of the
        unit, and the items already done (in the shards read so far)."""
    def advance(self, rows: Sequence[Row], *, captioned: bool = True) -> None:
        """Rows written; `captioned` is False for rows made without the model (copies, known failures)."""
    def log(self, message: str) -> None: ...
    def close(self) -> None: ...


def listing_line(folders: Sequence[str]) -> str:
    """The line that says the input folders are being listed."""
    shown = ", ".join(map(display_name, folders[:3])) + (", ..." if len(folders) > 3 else "")
    return f"Scanning {shown} (listing {'its' if len(folders) == 1 else 'their'} files) ..."


@contextmanager
def scanning_notice(progress: Progress, folders: Sequence[str], *, after: float | None = None) -> Iterator[None]:
    """Within the block, `progress.listing` is called once if it is still running `after`
    seconds (`SCAN_NOTICE_S`) on, from a timer thread: a fast walk prints nothing. No
    folders: nothing. A progress says it once, however many walks run long."""
    if not folders:
        yield
        return
    timer = threading.Timer(SCAN_NOTICE_S if after is None else after, progress.listing, args=(listing_line(list(folders)),))
    timer.daemon = True
    timer.name = "vlm-scan-notice"
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def make_progress(*, quiet: bool, log_every: float = 30.0, stream: TextIO | None = None) -> Progress:
    """Nothing with `quiet`; a bar when `stream` (stderr) is a terminal that can redraw one;
    else timed log lines (a file, a pipe, or TERM=dumb/unknown, where rich draws no bar until
    the end: Emacs shell, some CI consoles)."""
    stream = stream if stream is not None else sys.stderr
    if quiet:
        return NullProgress()
    if redraws_bar(stream):
        return RichProgress()
    return LogProgress(every=log_every, stream=stream)


class NullProgress:
    def listing(self, what: str) -> None:
        pass

    def scanning(self, total: int) -> None:
        pass

    def scanned(self) -> None:
        pass

    def start(self, total: int, *, note: str = "", skipped: int = 0, prompts: int = 1, unit: str = "images") -> None:
        pass

    def retotal(self, total: int, *, unit: str | None = None, skipped: int | None = None) -> None:
        pass

    def advance(self, rows: Sequence[Row], *, captioned: bool = True) -> None:
        pass

    def log(self, message: str) -> None:
        sys.stderr.write(display_name(message) + "\n")
        sys.stderr.flush()

    def close(self) -> None:
        pass



class LogProgress(TimedLines):
    """Plain progress lines for a log file (see the module docstring). Thread-safe: the timer
    thread writes lines while the caption loop counts rows."""

    def __init__(
        self, *, every: float = 30.0, stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(every=every, stream=stream, clock=clock)
        self._stage = ""
        self._total = self._done = self._ok = self._errors = self._skipped = 0
        self._prompts = 1
        self._unit = "images"
        self._captioned = 0
        self._origin: tuple[float, int] | None = None  # (time, captioned) after the first model batch
        self._listed = False  # the "Scanning ..." line was written
        self._started = clock()
        self._read_at: float | None = None  # when the last file was read (a dry run then plans)

    # -- stages ----------------------------------------------------------------
    def listing(self, what: str) -> None:
        with self._lock:
            if not self._stage and not self._closed and not self._listed:
                self._listed = True
                self._write(what)

    def scanning(self, total: int) -> None:
        with self._lock:
            self._stage, self._total, self._done = "Reading", total, 0
            self._write(f"Reading {total} file{'s' if total != 1 else ''} (hashing each once)")
        self._ensure_timer()

    def scanned(self) -> None:
        with self._lock:
            if self._stage != "Captioning":  # a dataset's later shards are read while captioning
                self._done += 1
                if self._done == self._total:
                    self._read_at = self._clock()

    def start(self, total: int, *, note: str = "", skipped: int = 0, prompts: int = 1, unit: str = "images") -> None:
        with self._lock:
            self._stage, self._total, self._done = "Captioning", total, 0
            self._skipped, self._prompts, self._started = skipped, max(prompts, 1), self._clock()
            self._unit = unit
            self._write(f"Captioning {total} item{'s' if total != 1 else ''}{note}")
        self._ensure_timer()

    def retotal(self, total: int, *, unit: str | None = None, skipped: int | None = None) -> None:
        with self._lock:
            self._total = total
            self._unit = unit or self._unit
            self._skipped = self._skipped if skipped is None else skipped

    def advance(self, rows: Sequence[Row], *, captioned: bool = True) -> None:
        errors = sum(1 for r in rows if r["status"] == Status.ERROR.value)
        with self._lock:
            self._done += len(rows)
            self._errors += errors
            self._ok += len(rows) - errors
            if captioned and len(rows) > errors:  # captions made by the model (error rows cost ~nothing)
                self._captioned += len(rows) - errors
                if self._origin is None:
                    self._origin = (self._clock(), self._captioned)

    def log(self, message: str) -> None:
        with self._lock:
            self._write(display_name(message))  # a file name's control characters as escapes

    def close(self) -> None:
        if self._closed:
            return
        self._stop_timer()
        with self._lock:
            if self._stage:
                self._write(self.line())

    # -- lines -----------------------------------------------------------------
    def line(self) -> str:
        """The current state as one line (call with the lock held, or when nothing else runs)."""
        if self._stage == "Reading":
            line = f"Reading: {self._done}/{self._total} files read"
            if self._done >= self._total and self._read_at is not None:  # not the same line again: what it does now
                line += f"; planning {clock_text(self._clock() - self._read_at)}"
            return line
        counts = f"{self._ok} ok, {self._errors} error{'s' if self._errors != 1 else ''}"
        if self._skipped:
            counts += f"; {self._skipped} already done"
        line = f"Captioning: {self._done}/{self._total} done ({counts})"
        if self._done >= self._total:  # the summary's line that follows gives the run's rate
            return line
        rate = self._rate()
        if rate is None:
            line += f"; waiting for the first batch (the model loads, then encodes its images) {clock_text(self._clock() - self._started)}"
        else:
            line += f"; {rate / self._prompts:.2f} {self._unit}/s"
            left = self._total - self._done
            line += f"; ETA {clock_text(left / rate)}" if left > 0 else ""
        return line

    def _rate(self) -> float | None:
        """Captions the model made per second: after the first model batch (model load and warm-up
        excluded) once that window is `RATE_WINDOW_S` long (rows end in bursts: a shorter one
        could time one burst), else since captioning started; None before any."""
        return windowed_rate(self._clock(), done=self._captioned, origin=self._origin, started=self._started)

    def _tick(self) -> None:
        with self._lock:
            self._write(self.line())



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
                made = task.fields.get("captioned", task.completed)  # copies made without the model excluded
                speed = made / elapsed if elapsed else 0.0
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
        self._captioned = 0
        self._closed = False
        self._listed = False

    def listing(self, what: str) -> None:
        if not self._closed and self._scan is None and not self._listed:
            self._listed = True
            self.log(what)

    def scanning(self, total: int) -> None:
        self._scan = self._bar.add_task("Reading", total=total, errors="")

    def scanned(self) -> None:
        if self._scan is not None:
            self._bar.advance(self._scan)

    def start(self, total: int, *, note: str = "", skipped: int = 0, prompts: int = 1, unit: str = "images") -> None:
        self._task = self._bar.add_task(f"Captioning{note}", total=total, errors="errors: 0", captioned=0)

    def retotal(self, total: int, *, unit: str | None = None, skipped: int | None = None) -> None:
        if self._task is not None:
            self._bar.update(self._task, total=total)

    def advance(self, rows: Sequence[Row], *, captioned: bool = True) -> None:
        if self._task is None:
            return
        errors_now = sum(1 for r in rows if r["status"] == Status.ERROR.value)
        self._errors += errors_now
        self._captioned += len(rows) - errors_now if captioned else 0
        self._bar.update(self._task, advance=len(rows), errors=f"errors: {self._errors}", captioned=self._captioned)

    def log(self, message: str) -> None:
        """A line above the bar (writing to stderr directly would tear the bar); a file name's
        control characters as escapes (rich leaves ESC as it is)."""
        self._bar.console.print(display_name(message), markup=False, highlight=False, soft_wrap=True)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._bar.stop()
