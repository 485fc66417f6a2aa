"""Progress of `vlm video-summarize` on stderr, so a long video is never minutes of silence.

A summary has three stages: the scene scan (a low-resolution pass over the whole video),
describing the segments (one model call each: most of the time), and the summary. What is
shown depends on where stderr goes (`make_summary_progress`):

- a log file or a pipe (`2> log`, SLURM, nohup): one plain line when a stage starts, one
  every `every` seconds from a timer thread while it runs (even while one long model call
  runs), and one at the end:

      Describing: 12/40 segments done (video to 6:00 of 1:00:00); 0.42 segments/min; ETA 1h06m

- a terminal: a transient spinner for the scan, and for the segments only when stdout does
  not already show them line by line (`--json`, or stdout redirected);
- `--quiet`: nothing.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, Protocol, TextIO

from vlmcli.log_lines import TimedLines, clock_text


class SummaryProgress(Protocol):
    def planning(self, line: str) -> None:
        """Planning starts (the scene scan, if any); `line` says so."""
    def planned(self, line: str) -> None:
        """The plan is made; `line` says what was found (cuts, segments)."""
    def describing(self, total: int, *, video_s: float) -> None: ...
    def described(self, done: int, *, upto_s: float) -> None: ...
    def summarising(self, what: str) -> None: ...
    def finished(self) -> None:
        """The command succeeded (a log gets its "Done in" line)."""
    def close(self) -> None:
        """Stop any timer or spinner (success or not)."""


def make_summary_progress(
    *, quiet: bool, segments_on_stdout: bool, every: float = 30.0, stream: TextIO | None = None
) -> SummaryProgress:
    """Nothing with `quiet`; a spinner when `stream` (stderr) is a terminal; else timed lines."""
    stream = stream if stream is not None else sys.stderr
    if quiet:
        return QuietProgress()
    if getattr(stream, "isatty", lambda: False)():
        return TerminalProgress(show_segments=not segments_on_stdout)
    return LogProgress(every=every, stream=stream)


class QuietProgress:
    def planning(self, line: str) -> None:
        pass

    def planned(self, line: str) -> None:
        pass

    def describing(self, total: int, *, video_s: float) -> None:
        pass

    def described(self, done: int, *, upto_s: float) -> None:
        pass

    def summarising(self, what: str) -> None:
        pass

    def finished(self) -> None:
        pass

    def close(self) -> None:
        pass


class LogProgress(TimedLines):
    """Plain timed lines for a log (module docstring). Thread-safe: a timer thread writes the
    current state while the command's thread advances it."""

    timer_name = "vlm-summary-progress"

    def __init__(self, *, every: float = 30.0, stream: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(every=every, stream=stream, clock=clock)
        self._begun = self._stage_started = clock()
        self._stage = ""
        self._total = self._done = 0
        self._video_s = self._upto_s = 0.0
        self._first_done: tuple[float, int] | None = None  # (time, done) when the first segment ended

    def planning(self, line: str) -> None:
        self._begin("Planning", line)

    def planned(self, line: str) -> None:
        with self._lock:
            self._stage = ""
            self._write(line)

    def describing(self, total: int, *, video_s: float) -> None:
        with self._lock:
            self._total, self._done, self._video_s, self._upto_s = total, 0, video_s, 0.0
        self._begin("Describing", f"Describing {total} segment{'s' if total != 1 else ''} (the model loads first)")

    def described(self, done: int, *, upto_s: float) -> None:
        with self._lock:
            self._done, self._upto_s = done, upto_s
            if self._first_done is None:
                self._first_done = (self._clock(), done)

    def summarising(self, what: str) -> None:
        self._begin("Summarising", f"Summarising {what}")

    def finished(self) -> None:
        self.close()
        with self._lock:
            self._write(f"Done in {clock_text(self._clock() - self._begun)}")

    def close(self) -> None:
        self._stop_timer()

    def line(self) -> str:
        """The current state as one line (with the lock held)."""
        so_far = clock_text(self._clock() - self._stage_started)
        if self._stage != "Describing":
            return f"{self._stage}: {so_far} so far"
        from vlmcli.summaries.summarize import clock

        line = (
            f"Describing: {self._done}/{self._total} segments done "
            f"(video to {clock(self._upto_s)} of {clock(self._video_s)})"
        )
        rate = self._rate()
        if rate is None:
            if self._first_done is None:
                return line + f"; waiting for the first segment {so_far}"
            at, first = self._first_done  # the rate is timed from the next segment (a warm model) on
            return line + f"; segment {first + 1} under way {clock_text(self._clock() - at)}"
        left = self._total - self._done
        return line + f"; {rate * 60:.2f} segments/min" + (f"; ETA {clock_text(left / rate)}" if left else "")

    def _rate(self) -> float | None:
        """Segments per second since the first one ended (model load and warm-up excluded)."""
        if self._first_done is None:
            return None
        at, done = self._first_done
        now = self._clock()
        if self._done > done and now > at:
            return (self._done - done) / (now - at)
        return None

    def _begin(self, stage: str, first_line: str) -> None:
        with self._lock:
            self._stage, self._stage_started = stage, self._clock()
            self._write(first_line)
        self._ensure_timer()

    def _tick(self) -> None:
        with self._lock:
            if self._stage:
                self._write(self.line())


class TerminalProgress:
    """A transient spinner on the terminal: during the scan, and while segments are described
    when stdout does not show them (`show_segments`)."""

    def __init__(self, *, show_segments: bool) -> None:
        self.show_segments = show_segments
        self._status: Any = None
        self._total = 0

    def planning(self, line: str) -> None:
        self._show(line + "…")

    def planned(self, line: str) -> None:
        self._stop()

    def describing(self, total: int, *, video_s: float) -> None:
        self._total = total

    def described(self, done: int, *, upto_s: float) -> None:
        if self.show_segments:
            from vlmcli.summaries.summarize import clock

            self._show(f"Described {done}/{self._total} segments (video to {clock(upto_s)})…")

    def summarising(self, what: str) -> None:
        if self.show_segments:
            self._show(f"Summarising {what}…")

    def close(self) -> None:
        self._stop()

    finished = close

    def _show(self, text: str) -> None:
        from rich.text import Text  # a video's name is not markup

        if self._status is None:
            from rich.console import Console

            self._status = Console(stderr=True).status(Text(text), spinner="dots")
            self._status.start()
        else:
            self._status.update(Text(text))

    def _stop(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
