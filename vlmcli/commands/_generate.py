"""Run requests through the engine and render the events: the shared body of ask/describe.

Order matters for a good CLI: every flag, setting and input is checked *before* the
(slow) model load, so mistakes fail in milliseconds.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from vlmcli.commands import _runtime
from vlmcli.commands._errors import env_debug, report
from vlmcli.commands._json_names import json_line
from vlmcli.commands._render import ErrorRecords, Item, JsonRenderer, TextRenderer, error_record
from vlmcli.engine.events import FinishEvent, GenerationResult, TokenEvent
from vlmcli.errors import InputError, ModelError, ResourceError, VlmError
from vlmcli.media.names import display_name, input_name

if TYPE_CHECKING:
    from vlmcli.commands._describe_progress import DescribeProgress
    from vlmcli.commands.options import CommonOptions
    from vlmcli.commands.video_options import VideoOptions
    from vlmcli.engine.config import EngineConfig, GenerationConfig
    from vlmcli.engine.engine import Engine
    from vlmcli.engine.request import Request
    from vlmcli.settings import Settings


@dataclass(frozen=True)
class FailedEvent:
    """A request the engine refused alone (the others went on): continuous, or static with `isolate`."""

    index: int
    error: VlmError


@dataclass
class Outcome:
    """What `run_requests` did: the results in request order, and the requests that failed."""

    results: list[GenerationResult] = field(default_factory=list)
    failed: dict[int, VlmError] = field(default_factory=dict)

    @property
    def not_valid(self) -> bool:
        """Some constrained answer is not valid (its warning is on stderr): exit `EXIT_NOT_VALID`."""
        return any(getattr(result, "valid", None) is False for result in self.results)


def run_requests(
    requests: Sequence["Request"],
    items: Sequence[Item],
    opts: "CommonOptions",
    settings: "Settings",
    *,
    batch_size: int = 0,
    continuous: bool = False,
    isolate: bool = False,
    video: "VideoOptions | None" = None,
    errors: ErrorRecords | None = None,
    progress: "DescribeProgress | None" = None,
) -> Outcome:
    """Generate an answer for each request and print it (text or JSON) as configured.

    Static (default): `batch_size` > 0 sends that many requests per `engine.stream` call; 0
    sends them all. `continuous`: the requests run through the engine's continuous-batching
    scheduler with `batch_size` decode slots (0: the device's default) where the engine
    allows it (`Engine.batching`), else static batches of `batch_size` (0: one at a time); a
    request that cannot be prepared then fails alone (one `Error:` line, its JSON error
    object in its place) while the others go on. `isolate` gives static batches the same
    guarantee (`_events`); without it an engine error ends the run.
    `video` adds its token reduction (--temporal-pool, --compress) to the engine config.
    `errors` (with --json) are the error objects of inputs that failed, printed in their
    places among the answers (among the plans, in a dry run).
    A dry run (`opts.dry_run`) plans each request instead (`_dry`): a request it cannot plan
    fails alone, or ends the run, exactly where a real run's would.
    `progress` (describe over several inputs) is told when the model is loaded and when
    each request is done (`_describe_progress`).
    """
    engine_config = opts.engine_config(settings)
    if video is not None:
        engine_config = video.apply(engine_config)
    gen = opts.generation_config(settings)
    if opts.dry_run:
        return _dry(requests, items, opts, settings, config=engine_config, isolate=isolate or continuous, errors=errors)
    engine = load_with_status(engine_config)
    if opts.json:
        renderer: TextRenderer | JsonRenderer = JsonRenderer(
            items, model=engine.model_id, load_s=engine.load_s, errors=errors
        )
    else:
        renderer = TextRenderer(items, stream=not opts.no_stream)
    results: dict[int, GenerationResult] = {}
    failed: dict[int, VlmError] = {}
    warned: set[object] = set()
    events = _continuous(engine, requests, gen, slots=batch_size, debug=opts.debug) if continuous else None
    if events is None:
        events = _events(engine, requests, gen, batch_size or (1 if continuous else 0), isolate=isolate)
    if progress is not None:
        progress.generating()
    renderer.start()
    try:
        for event in events:
            if isinstance(event, TokenEvent):
                renderer.token(event)
            elif isinstance(event, FinishEvent):
                _warn_fit(event.result, warned)
                _print_notes(event.result, warned)
                _warn_incomplete(event.result)
                renderer.finish(event)
                results[event.index] = event.result
                if progress is not None:
                    progress.advance(ok=True)
            elif isinstance(event, FailedEvent):
                renderer.fail(event.index, _say_failed(event, items))
                failed[event.index] = event.error
                if progress is not None:
                    progress.advance(ok=False)
    finally:
        renderer.close()
    if opts.debug:
        for index, result in sorted(results.items()):
            label = display_name(", ".join(items[index].inputs)) or "(text only)"
            sys.stderr.write(f"[stats] {label}: {stats_line(result, engine.load_s, alone=len(results) == 1)}\n")
    return Outcome(results=[results[i] for i in sorted(results)], failed=failed)


def fails_alone(error: VlmError, *, isolate: bool) -> bool:
    """A request the engine refused before its first event fails alone (its `Error:` line, the
    others go on) with `isolate` (several inputs), but running out of memory ends the run: the
    rule of static batches (`_batch_events`) and of the dry run (`_dry`). The continuous
    scheduler fails any request it cannot prepare alone."""
    return isolate and not isinstance(error, ResourceError)


def _say_failed(event: FailedEvent, items: Sequence[Item]) -> dict[str, object]:
    """The `Error:` line of a request that failed alone, naming its inputs; its --json error object."""
    source = ", ".join(items[event.index].inputs) or "(text only)"
    text = str(event.error)  # a file gone since it was checked: its message names it already
    report(text if input_name(source) in text else f"{source}: {text}")
    return error_record(source, event.error)


def _dry(
    requests: Sequence["Request"],
    items: Sequence[Item],
    opts: "CommonOptions",
    settings: "Settings",
    *,
    config: "EngineConfig",
    isolate: bool,
    errors: ErrorRecords | None,
) -> Outcome:
    """--dry-run: each request's plan (text or a JSON line) in request order, with the error
    objects of `errors` (--json) in their places. A request the planning refuses (a picture
    the model cannot take, a prompt over the context) is said as a real run says it, as a
    `FailedEvent` (`fails_alone`), and the others are planned; else its error ends the run."""
    from vlmcli.commands._dry_run import plans, with_inputs, write_plan

    records = dict(errors or {}) if opts.json else {}
    failed: dict[int, VlmError] = {}
    _write_records(records.pop(0, ()))
    for index, planned in enumerate(plans(requests, opts, settings, config=config)):
        if isinstance(planned, VlmError):
            if not fails_alone(planned, isolate=isolate):
                raise planned
            record = _say_failed(FailedEvent(index=index, error=planned), items)
            failed[index] = planned
            _write_records([record] if opts.json else ())
        else:
            write_plan(with_inputs(planned, items[index].inputs), as_json=opts.json)
        _write_records(records.pop(index + 1, ()))
    for index in sorted(records):  # none are left unless `errors` has more places than requests
        _write_records(records[index])
    return Outcome(failed=failed)


def _write_records(records: Sequence[dict[str, object]]) -> None:
    for record in records:
        sys.stdout.write(json_line(record) + "\n")
    sys.stdout.flush()


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
        if reason == "length":
            sys.stderr.write(
                f"warning: the answer ended ({reason}) before it was complete under --schema/--choice/--regex/"
                "--json-mode; it is not valid (raise --max-tokens).\n"
            )
        else:  # finished, but not what the constraint asks (a number past a float's range, a repeated key)
            sys.stderr.write(
                "warning: the answer does not satisfy --schema/--choice/--regex/--json-mode (it is not valid JSON of "
                "that shape); valid is false.\n"
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
    from rich.text import Text

    # A Text, not a markup string: `[` in a model's folder name is text, not a style or a link
    # (rich would fail on `runs/[/final]`), and its control characters are escaped.
    with Console(stderr=True).status(Text(f"Loading {display_name(config.model)}…"), spinner="dots"):
        return _runtime.load_engine(config)


def _events(
    engine: "Engine", requests: Sequence["Request"], gen: "GenerationConfig", batch_size: int, *, isolate: bool
) -> Iterator[object]:
    """The engine's events for all requests in static batches, with indices relative to
    `requests`. `isolate`: a batch the engine refuses before its first event (a prompt too
    long for the context, say) is retried a request at a time, and a request refused alone
    is a `FailedEvent` while the others go on, as is one whose input went bad since it was
    checked (taking it raised `InputError`); out of memory still ends the run."""
    step = batch_size if batch_size > 0 else max(len(requests), 1)
    for offset in range(0, len(requests), step):
        taken: list[tuple[int, "Request"]] = []
        for index in range(offset, min(offset + step, len(requests))):
            try:  # describe decodes each file again here (`DecodedWhenTaken`): it may have gone since
                taken.append((index, requests[index]))
            except InputError as exc:
                if not fails_alone(exc, isolate=isolate):
                    raise
                yield FailedEvent(index=index, error=exc)
        if len(taken) == min(step, len(requests) - offset):
            yield from _batch_events(engine, [r for _, r in taken], gen, offset=offset, isolate=isolate)
            continue
        for index, request in taken:  # the rest of a batch one lost, each alone (indices not contiguous)
            yield from _batch_events(engine, [request], gen, offset=index, isolate=isolate)


def _batch_events(
    engine: "Engine", batch: Sequence["Request"], gen: "GenerationConfig", *, offset: int, isolate: bool
) -> Iterator[object]:
    started = False
    try:
        for event in engine.stream(list(batch), gen):
            started = True
            yield dataclasses.replace(event, index=event.index + offset) if offset else event
    except VlmError as exc:
        if started or not fails_alone(exc, isolate=isolate):
            raise
        if len(batch) == 1:
            yield FailedEvent(index=offset, error=exc)
            return
        for i, request in enumerate(batch):
            yield from _batch_events(engine, [request], gen, offset=offset + i, isolate=isolate)


def _continuous(
    engine: "Engine", requests: Sequence["Request"], gen: "GenerationConfig", *, slots: int, debug: bool
) -> Iterator[object] | None:
    """The events of `requests` run through the continuous scheduler with `slots` decode
    slots (0: the device's default), or None where the engine batches statically."""
    choose = getattr(engine, "batching", None)
    if choose is None:  # an engine without a scheduler (test fakes)
        return None
    from vlmcli.captions.batching import auto_batch_size, auto_max_batch_tokens

    device = engine.adapter.model.device.type
    mode = choose(slots=slots or auto_batch_size(device))
    if debug or env_debug():
        sys.stderr.write(f"[batching] {mode.describe()}\n")
    if not mode.continuous:
        return None
    return _served(engine, requests, gen, slots=mode.slots, prefill_tokens=auto_max_batch_tokens(device))


def _served(
    engine: "Engine", requests: Sequence["Request"], gen: "GenerationConfig", *, slots: int, prefill_tokens: int
) -> Iterator[object]:
    for event in engine.serve(requests, gen, slots=slots, prefill_tokens=prefill_tokens, tokens=True):
        if isinstance(event, TokenEvent):
            yield event
        elif event.result is not None:
            yield FinishEvent(index=event.index, result=event.result)
        else:
            yield FailedEvent(index=event.index, error=_as_vlm_error(event.error))


def _as_vlm_error(error: BaseException | None) -> VlmError:
    """Why a request failed alone, as the library error the CLI reports."""
    if isinstance(error, VlmError):
        return error
    return ModelError(f"the model could not take this input ({type(error).__name__}: {error})")


def stats_line(result: GenerationResult, load_s: float, *, alone: bool = True) -> str:
    """One answer's figures for --debug. Its timings are its share of its batch (`Timings`): a decode
    rate over a share would read as the whole batch's, so the rate is given for an answer alone only."""
    t = result.timings
    rate = result.completion_tokens / t.decode_s if t.decode_s > 0 else 0.0
    decode = f"decode {t.decode_s:.2f}s ({rate:.1f} tok/s)" if alone else f"decode {t.decode_s:.2f}s (its share of the batch)"
    return (
        f"prompt {result.prompt_tokens} tokens (visual {result.visual_tokens}), "
        f"completion {result.completion_tokens} ({getattr(result.finish_reason, 'value', result.finish_reason)}); "
        f"load {t.load_s or load_s:.2f}s vision {t.vision_s:.2f}s prefill {t.prefill_s:.2f}s {decode}"
    )
