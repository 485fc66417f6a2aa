"""Run requests through the engine and render the events: the shared body of ask/describe.

Order matters for a good CLI: every flag, setting and input is checked *before* the
(slow) model load, so mistakes fail in milliseconds.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from vlmcli.commands import _runtime
from vlmcli.commands._json_names import json_line
from vlmcli.commands._render import ErrorRecords, Item, JsonRenderer, TextRenderer
from vlmcli.engine.events import FinishEvent, GenerationResult, TokenEvent

if TYPE_CHECKING:
    from vlmcli.commands.options import CommonOptions
    from vlmcli.commands.video_options import VideoOptions
    from vlmcli.engine.config import EngineConfig, GenerationConfig
    from vlmcli.engine.engine import Engine
    from vlmcli.engine.request import Request
    from vlmcli.settings import Settings


def run_requests(
    requests: Sequence["Request"],
    items: Sequence[Item],
    opts: "CommonOptions",
    settings: "Settings",
    *,
    batch_size: int = 0,
    video: "VideoOptions | None" = None,
    errors: ErrorRecords | None = None,
) -> list[GenerationResult]:
    """Generate an answer for each request and print it (text or JSON) as configured.

    `batch_size` > 0 sends that many requests per `engine.stream` call; 0 sends them all.
    `video` adds its token reduction (--temporal-pool, --compress) to the engine config.
    `errors` (with --json) are the error objects of inputs that failed, printed in their
    places among the answers (before the plans, in a dry run).
    """
    engine_config = opts.engine_config(settings)
    if video is not None:
        engine_config = video.apply(engine_config)
    gen = opts.generation_config(settings)
    if opts.dry_run:
        from vlmcli.commands._dry_run import run_dry

        if opts.json:
            for index in sorted(errors or {}):
                for record in (errors or {})[index]:
                    sys.stdout.write(json_line(record) + "\n")
        run_dry(requests, items, opts, settings, config=engine_config)
        return []
    engine = load_with_status(engine_config)
    if opts.json:
        renderer: TextRenderer | JsonRenderer = JsonRenderer(
            items, model=engine.model_id, load_s=engine.load_s, errors=errors
        )
    else:
        renderer = TextRenderer(items, stream=not opts.no_stream)
    results: dict[int, GenerationResult] = {}
    warned: set[object] = set()
    renderer.start()
    try:
        for event in _events(engine, requests, gen, batch_size):
            if isinstance(event, TokenEvent):
                renderer.token(event)
            elif isinstance(event, FinishEvent):
                _warn_fit(event.result, warned)
                _print_notes(event.result, warned)
                _warn_incomplete(event.result)
                renderer.finish(event)
                results[event.index] = event.result
    finally:
        renderer.close()
    ordered = [results[i] for i in sorted(results)]
    if opts.debug:
        for index, result in sorted(results.items()):
            label = ", ".join(items[index].inputs) or "(text only)"
            sys.stderr.write(f"[stats] {label}: {stats_line(result, engine.load_s)}\n")
    return ordered


def _warn_fit(result: GenerationResult, warned: set[object]) -> None:
    """One stderr line per batch whose resolution --truncate lowered."""
    fit = getattr(result, "fit", None)
    if fit is not None and fit not in warned:
        warned.add(fit)
        sys.stderr.write(fit.message() + "\n")


def _warn_incomplete(result: GenerationResult) -> None:
    """A constrained answer cut before its grammar was complete is said on stderr (and `valid`
    is false in --json), so a partial object is never taken for a valid one."""
    if getattr(result, "valid", None) is False:
        reason = getattr(result.finish_reason, "value", result.finish_reason)
        sys.stderr.write(
            f"warning: the answer ended ({reason}) before it was complete under --schema/--choice/--regex/"
            "--json-mode; it is not valid (raise --max-tokens).\n"
        )


def _print_notes(result: GenerationResult, printed: set[object]) -> None:
    """Each distinct notice of the results (e.g. a --compress that changed nothing) once on stderr."""
    for note in result.notes:
        if note not in printed:
            printed.add(note)
            sys.stderr.write(note + "\n")


def load_with_status(config: "EngineConfig") -> "Engine":
    """Load through the seam, with a transient spinner on stderr when it is a terminal."""
    if not sys.stderr.isatty():
        return _runtime.load_engine(config)
    from rich.console import Console

    with Console(stderr=True).status(f"Loading {config.model}…", spinner="dots"):
        return _runtime.load_engine(config)


def _events(engine: "Engine", requests: Sequence["Request"], gen: "GenerationConfig", batch_size: int) -> Iterator[object]:
    """The engine's events for all requests, with indices relative to `requests`."""
    step = batch_size if batch_size > 0 else max(len(requests), 1)
    for offset in range(0, len(requests), step):
        for event in engine.stream(list(requests[offset : offset + step]), gen):
            yield dataclasses.replace(event, index=event.index + offset) if offset else event


def stats_line(result: GenerationResult, load_s: float) -> str:
    t = result.timings
    rate = result.completion_tokens / t.decode_s if t.decode_s > 0 else 0.0
    return (
        f"prompt {result.prompt_tokens} tokens (visual {result.visual_tokens}), "
        f"completion {result.completion_tokens} ({getattr(result.finish_reason, 'value', result.finish_reason)}); "
        f"load {t.load_s or load_s:.2f}s vision {t.vision_s:.2f}s prefill {t.prefill_s:.2f}s "
        f"decode {t.decode_s:.2f}s ({rate:.1f} tok/s)"
    )
