"""Progress of `vlm describe` over several inputs, on stderr, in caption-dir's style.

    progress = make_describe_progress(quiet=False, log_every=30.0, answers_on_terminal=sys.stdout.isatty())
    with describing(progress, total=151, failed=1):   # before the model loads
        run_requests(..., progress=progress)           # `generating()` once loaded, `advance()` per input

What is shown depends on where the output goes (`make_describe_progress`):

- stderr a file or a pipe (`2> log`, CI, nohup): one plain line when the run starts, one
  every `log_every` seconds from a timer thread (even while one long answer is generated),
  and one at the end:

      Describing 151 inputs (the model loads first)
      Describing: 40/151 done (39 described, 1 failed); 1.52 inputs/s; ETA 1m13s
      Describing: 151/151 done (150 described, 1 failed) in 1m41s

- stderr a terminal: a live bar (after the model's "Loading" spinner), but only when stdout
  is not a terminal too: answers streamed to the terminal are the progress, and a bar
  redrawn between them would garble them;
- `--quiet`: nothing.

Ctrl-C (or SIGTERM) says how far the run got, in one line before `Interrupted.` (not with
--quiet): "Described 39 of 151 inputs before the interrupt (1 failed, 111 not reached)."
A single input gets none of this (its answer is its progress). rich is imported only when
a bar is shown.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TextIO

from vlmcli.log_lines import TimedLines, clock_text, redraws_bar, windowed_rate, write_line


class DescribeProgress(Protocol):
    def start(self, total: int, *, failed: int = 0) -> None:
        """The run begins (the model loads first): `total` inputs, `failed` of them already refused."""
    def generating(self) -> None:
        """The model is loaded; answers follow."""
    def advance(self, *, ok: bool) -> None:
        """One input is done: described (`ok`), or failed in the engine."""
    def finished(self) -> None:
        """Every input is done (a log gets its last line); stops the timer or bar."""
    def close(self) -> None:
        """Stop any timer or bar (success or not), writing nothing more."""
    def counts(self) -> tuple[int, int, int]:
        """(described, failed, total) so far."""


def make_describe_progress(
    *, quiet: bool, log_every: float = 30.0, answers_on_terminal: bool, stream: TextIO | None = None
) -> DescribeProgress:
    """Nothing with `quiet`; a bar when `stream` (stderr) is a terminal that can redraw one and
    the answers do not go to a terminal; on a terminal where they do, counts only (for the
    interrupt's line); else timed log lines (a file, a pipe, TERM=dumb/unknown)."""
    stream = stream if stream is not None else sys.stderr
    if quiet:
        return Counts()
    if redraws_bar(stream):
        return Counts() if answers_on_terminal else BarProgress()
    return LogProgress(every=log_every, stream=stream)


def interrupted_line(described: int, failed: int, total: int) -> str:
    """What Ctrl-C says before `Interrupted.`."""
    left = total - described - failed
    notes = [f"{failed} failed"] if failed else []
    notes += [f"{left} not reached"] if left else []
    more = f" ({', '.join(notes)})" if notes else ""
    return f"Described {described} of {total} input{'s' if total != 1 else ''} before the interrupt{more}."


@contextmanager
def describing(progress: DescribeProgress | None, *, total: int, failed: int, quiet: bool = False) -> Iterator[None]:
    """Within the block the run is under way: `progress` is started, and finished when the block
    ends normally. Ctrl-C (KeyboardInterrupt) in it writes `interrupted_line` on stderr (unless
    `quiet`) before it goes on to say `Interrupted.`. None: nothing (a single input)."""
    if progress is None:
        yield
        return
    progress.start(total, failed=failed)
    try:
        yield
    except KeyboardInterrupt:
        progress.close()
        if not quiet:
            write_line(sys.stderr, interrupted_line(*progress.counts()))
        raise
    except BaseException:
        progress.close()
        raise
    progress.finished()


class Counts:
    """Counts only, nothing shown (--quiet, or answers streamed to the terminal)."""

    def __init__(self) -> None:
        self._total = self._described = self._failed = 0

    def start(self, total: int, *, failed: int = 0) -> None:
        self._total, self._failed = total, failed

    def generating(self) -> None:
        pass

    def advance(self, *, ok: bool) -> None:
        if ok:
            self._described += 1
        else:
            self._failed += 1

    def finished(self) -> None:
        self.close()

    def close(self) -> None:
        pass

    def counts(self) -> tuple[int, int, int]:
        return self._described, self._failed, self._total


class LogProgress(TimedLines):
    """Plain timed lines for a log (module docstring). Thread-safe: the timer thread writes the
    current state while the command's thread counts answers."""

    timer_name = "vlm-describe-progress"

    def __init__(
        self, *, every: float = 30.0, stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(every=every, stream=stream, clock=clock)
        self._total = self._described = self._failed = 0
        self._begun = self._generating = clock()
        self._loaded = False
        self._origin: tuple[float, int] | None = None  # (time, described) at the first answer

    def start(self, total: int, *, failed: int = 0) -> None:
        with self._lock:
            self._total, self._failed, self._begun = total, failed, self._clock()
            self._write(f"Describing {total} input{'s' if total != 1 else ''} (the model loads first)")
        self._ensure_timer()

    def generating(self) -> None:
        with self._lock:
            self._loaded, self._generating = True, self._clock()

    def advance(self, *, ok: bool) -> None:
        with self._lock:
            if not ok:
                self._failed += 1
                return
            self._described += 1
            if self._origin is None:
                self._origin = (self._clock(), self._described)

    def finished(self) -> None:
        if self._closed:
            return
        self._stop_timer()
        with self._lock:
            self._write(f"{self._counts_text()} in {clock_text(self._clock() - self._begun)}")

    def close(self) -> None:
        self._stop_timer()

    def counts(self) -> tuple[int, int, int]:
        with self._lock:
            return self._described, self._failed, self._total

    def line(self) -> str:
        """The current state as one line (with the lock held, or when nothing else runs)."""
        line = self._counts_text()
        now = self._clock()
        if not self._loaded:
            return line + f"; loading the model {clock_text(now - self._begun)}"
        rate = self._rate()
        if rate is None:
            return line + f"; waiting for the first answer {clock_text(now - self._generating)}"
        line += f"; {rate:.2f} inputs/s"
        left = self._total - self._described - self._failed
        return line + (f"; ETA {clock_text(left / rate)}" if left > 0 else "")

    def _counts_text(self) -> str:
        done = self._described + self._failed
        failed = f", {self._failed} failed" if self._failed else ""
        return f"Describing: {done}/{self._total} done ({self._described} described{failed})"

    def _rate(self) -> float | None:
        """Answers per second: since the first answer (warm-up excluded) once that window is
        `RATE_WINDOW_S` long, else since the model was loaded; None before any answer."""
        return windowed_rate(self._clock(), done=self._described, origin=self._origin, started=self._generating)

    def _tick(self) -> None:
        with self._lock:
            self._write(self.line())


class BarProgress(Counts):
    """A live bar on the terminal's stderr, shown once the model is loaded (the load has its own
    spinner, and rich shows one live display at a time). stdout is left alone (it is not this
    terminal: answers go to a file or a pipe); lines written to stderr meanwhile (`Error:`,
    warnings) are printed above the bar."""

    def __init__(self) -> None:
        super().__init__()
        self._bar: Any = None
        self._task: Any = None

    def generating(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._bar = Progress(
            TextColumn("Describing"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[failed]}"),
            console=Console(stderr=True),
            redirect_stdout=False,  # stdout is the answers' file: rich would copy them onto the terminal
            transient=False,
        )
        self._task = self._bar.add_task(
            "describe", total=self._total, completed=self._failed, failed=self._failed_text()
        )
        self._bar.start()

    def advance(self, *, ok: bool) -> None:
        super().advance(ok=ok)
        if self._bar is not None:
            self._bar.update(self._task, advance=1, failed=self._failed_text())

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def _failed_text(self) -> str:
        return f"failed: {self._failed}" if self._failed else ""
