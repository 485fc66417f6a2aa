"""Text-only summary requests folded to fit the model's context.

The chapter and overall summaries are text: the descriptions they summarise, one line each.
Their number is capped (`FLAT_MAX_SEGMENTS` lines, `CHAPTER_SEGMENTS` per chapter), but not
their length: 30 descriptions of up to `--max-tokens` each outgrew a 4096-token context
after every segment had been described, and the run ended with a context-length error
(exit 5, nothing on stdout with --json, all the work lost). A request that does not fit
is now folded: each half of its lines is summarised into one line (over its time span, with
the chapter prompt, folded the same way when a half is still too long), and the request
is made over those lines. Only a single line that cannot fit with the prompt and the
answer budget is still an error (then only a lower --max-tokens helps).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from vlmcli.engine.events import FinishEvent, GenerationResult, TokenEvent
from vlmcli.engine.request import Request
from vlmcli.errors import ContextLengthError

Line = tuple[float, float, str]
"""(start_s, end_s, text) of one description or summary."""


def finished(events: Iterator[Any], on_token: bool) -> Iterator[TokenEvent | GenerationResult]:
    """The results of an engine stream (and its tokens, when `on_token`)."""
    for event in events:
        if isinstance(event, TokenEvent) and on_token:
            yield event
        elif isinstance(event, FinishEvent):
            yield event.result


def folded(
    engine: Any,
    gen: Any,
    lines: Sequence[Line],
    *,
    request_for: Callable[[Sequence[Line]], Request],
    part_for: Callable[[Line, Sequence[Line]], Request],
    on_token: bool,
) -> Iterator[TokenEvent | GenerationResult]:
    """Stream `request_for(lines)`; when it does not fit the context, stream it over the
    halves of `lines` summarised into one line each (`part_for(span, lines)`, folded alike)."""
    try:
        yield from finished(engine.stream([request_for(lines)], gen), on_token)  # the error comes before any token
        return
    except ContextLengthError:
        if len(lines) < 2:  # nothing to fold: its one line and the answer budget are too long together
            raise ContextLengthError(
                f"A description is too long to summarise with up to {gen.max_tokens} tokens of answer within the "
                "model's context; lower --max-tokens (descriptions and summaries are each up to that long)."
            ) from None
    middle = len(lines) // 2
    parts = [_summarised(engine, gen, half, part_for) for half in (lines[:middle], lines[middle:])]
    yield from folded(engine, gen, parts, request_for=request_for, part_for=part_for, on_token=on_token)


def _summarised(engine: Any, gen: Any, lines: Sequence[Line], part_for: Callable[[Line, Sequence[Line]], Request]) -> Line:
    """`lines` as one line over their time span."""
    span: Line = (lines[0][0], lines[-1][1], "")
    results = folded(engine, gen, lines, request_for=lambda some: part_for(span, some), part_for=part_for, on_token=False)
    text = "".join(r.text.strip() for r in results if isinstance(r, GenerationResult))
    return (span[0], span[1], text)
