"""Sinks for engine events: answer text (streamed or whole) or JSON lines, on stdout.

stdout carries only answers; everything else goes to stderr. An engine may interleave
the tokens of several requests in a batch; both renderers still print requests in
order (the current one live, the others buffered until their turn). JSON lines are valid
UTF-8 whatever the file names (`_json_names`); an input that failed to load can have its
error object printed in its place among the answers (`errors`), and a request that failed
in the engine (`fail`) gets one there too (JSON) or is left out (text: its heading is only
printed once its answer starts).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TextIO

from vlmcli.commands._errors import one_line
from vlmcli.commands._json_names import json_line
from vlmcli.commands._terminal import is_terminal, visible
from vlmcli.engine.events import FinishEvent, GenerationResult, TokenEvent
from vlmcli.errors import VlmError

ErrorRecords = Mapping[int, Sequence[dict[str, object]]]
"""Error objects to print before answer i (i == number of answers: after the last one)."""


@dataclass(frozen=True)
class Item:
    """What the renderer knows about one request before it runs."""

    inputs: tuple[str, ...]
    """Sources of the request's images, as the user named them."""
    heading: str | None = None
    """Printed on its own line before the answer (text mode only)."""


class TextRenderer:
    """Answer text on `out`. `stream=True` prints tokens as they arrive (flushing). On a
    terminal, headings and answers are written through `_terminal.visible` (control
    characters as escapes); piped or redirected, byte-exact."""

    def __init__(self, items: Sequence[Item], *, stream: bool, out: TextIO | None = None) -> None:
        self._items = list(items)
        self._stream = stream
        self._out = out
        self._current = 0
        self._pending: dict[int, list[str]] = {}
        self._done: dict[int, GenerationResult | None] = {}
        """Finished requests waiting for their turn (None: failed, nothing to print)."""
        self._line_open = False
        self._item_ended_line = False
        self._heading_due = False
        """The current request's heading is still to be printed (before its first text)."""
        self._printed = False
        """Some answer was printed (later headings are preceded by a blank line)."""
        self._terminal: bool | None = None
        """`out` is a terminal (asked once, at the first write)."""

    @property
    def out(self) -> TextIO:
        return self._out if self._out is not None else sys.stdout

    def start(self) -> None:
        """Called once the engine is ready."""
        self._begin(self._current)

    def token(self, event: TokenEvent) -> None:
        if not self._stream:
            return
        if event.index == self._current:
            self._write(event.text)
        else:
            self._pending.setdefault(event.index, []).append(event.text)

    def finish(self, event: FinishEvent) -> None:
        self._done[event.index] = event.result
        self._flush_done()

    def fail(self, index: int, record: dict[str, object]) -> None:
        """Request `index` failed in the engine (its `Error:` line is on stderr): no answer."""
        self._done[index] = None
        self._flush_done()

    def _flush_done(self) -> None:
        while self._current in self._done:
            result = self._done.pop(self._current)
            if result is not None:
                self._print_heading()
                if not self._stream:
                    self._write(result.text)
                self._end()
            self._pending.pop(self._current, None)
            self._current += 1
            self._begin(self._current)
            if self._stream:  # catch up on what the next request already produced
                self._write("".join(self._pending.pop(self._current, [])))

    def close(self) -> None:
        """End a half-written line (e.g. after an error mid-answer) so the shell prompt is clean."""
        if self._line_open:
            self.out.write("\n")
            self.out.flush()
            self._line_open = False

    def _begin(self, index: int) -> None:
        if index >= len(self._items):
            return
        self._item_ended_line = False
        self._heading_due = True  # printed with the answer's first text (a failed request has none)

    def _print_heading(self) -> None:
        if not self._heading_due:
            return
        self._heading_due = False
        heading = self._items[self._current].heading
        if heading is not None:
            self.out.write(("\n" if self._printed else "") + self._shown(heading) + "\n")
            self.out.flush()
        self._printed = True

    def _write(self, text: str) -> None:
        if text:
            self._print_heading()
            self.out.write(self._shown(text))
            self.out.flush()
            self._line_open = not text.endswith("\n")
            self._item_ended_line = not self._line_open

    def _shown(self, text: str) -> str:
        """`text` as written to `out`: made `visible` on a terminal, else unchanged."""
        if self._terminal is None:
            self._terminal = is_terminal(self.out)
        return visible(text) if self._terminal else text

    def _end(self) -> None:
        """Finish an answer with exactly one newline (none added if the text already ends one)."""
        if not self._item_ended_line:
            self.out.write("\n")
        self.out.flush()
        self._line_open = False


class JsonRenderer:
    """One JSON object per request (a line each), in request order; `errors` in their places."""

    def __init__(
        self,
        items: Sequence[Item],
        *,
        model: str,
        load_s: float,
        out: TextIO | None = None,
        errors: ErrorRecords | None = None,
    ) -> None:
        self._items = list(items)
        self._model = model
        self._load_s = load_s
        self._out = out
        self._errors = dict(errors or {})
        self._next = 0
        self._done: dict[int, GenerationResult | dict[str, object]] = {}
        """Finished requests waiting for their turn: a result, or a failed one's error object."""

    @property
    def out(self) -> TextIO:
        return self._out if self._out is not None else sys.stdout

    def start(self) -> None:
        self._write_errors(0)

    def token(self, event: TokenEvent) -> None:
        pass

    def finish(self, event: FinishEvent) -> None:
        self._done[event.index] = event.result
        self._flush_done()

    def _flush_done(self) -> None:
        while self._next in self._done:
            done = self._done.pop(self._next)
            record = done if isinstance(done, dict) else result_record(done, self._items[self._next], self._model, self._load_s)
            self.out.write(json_line(record) + "\n")
            self.out.flush()
            self._next += 1
            self._write_errors(self._next)

    def fail(self, index: int, record: dict[str, object]) -> None:
        """Request `index` failed in the engine: `record` (an `error_record`) in its place."""
        self._done[index] = record
        self._flush_done()

    def close(self) -> None:
        pass

    def _write_errors(self, index: int) -> None:
        for record in self._errors.pop(index, ()):
            self.out.write(json_line(record) + "\n")
        self.out.flush()


def error_record(source: str, error: VlmError) -> dict[str, object]:
    """The `--json` object for an input that could not be used (`describe` with several inputs).
    Its `error` names the input, as caption-dir's error column does: a model's refusal of an
    image ("A 1x20000 image is too elongated ...") does not."""
    from vlmcli.media.names import input_name, said_of

    text, name = one_line(str(error)), input_name(source)
    said = text if name in text else said_of(name, text)
    return {"inputs": [source], "path": source, "error": said, "exit_code": error.exit_code}


def result_record(result: GenerationResult, item: Item, model: str, load_s: float) -> dict[str, object]:
    """The `--json` object for one answer (documented in `vlm ask --help`)."""
    timings = result.timings.to_dict()
    if not timings.get("load_s"):
        timings["load_s"] = round(load_s, 6)
    finish = result.finish_reason
    structured = {} if getattr(result, "valid", None) is None else {"valid": result.valid, "parsed": result.parsed}
    return {
        "text": result.text,
        "model": model,
        "inputs": list(item.inputs),
        "prompt_tokens": result.prompt_tokens,
        "visual_tokens": result.visual_tokens,
        "completion_tokens": result.completion_tokens,
        "finish_reason": getattr(finish, "value", finish),
        "timings": timings,
        "images": [usage.to_dict() for usage in result.images],
        "videos": [usage.to_dict() for usage in result.videos],
        "truncated": fit.to_dict() if (fit := getattr(result, "fit", None)) is not None else None,
    } | structured  # with --schema/--choice/--regex/--json-mode only
