"""`--dry-run`: what a run would cost, from the model's config and processor alone.

No weights are loaded. Each request is really preprocessed (so the counts are the ones
the engine would feed the model), then printed as a plan: per image the original and
resized size, the tile grid and the visual tokens (after --compress); per video the frames,
the temporal units after --temporal-pool, the frame size and the visual tokens; per request the prompt tokens, the
total with the answer budget, and the model's context length. The plan goes through the
real run's `engine.fit.prepare_batch`, so a prompt whose tokens plus the answer budget
(`--max-tokens`) exceed the context is the same `ContextLengthError` (exit code 5, one
line on stderr, nothing on stdout, with --json too) a real run gives; with --truncate the
plan is the lowered one a real run would use (`truncated` says how; the same warning on
stderr). Of several inputs (`describe`), one the planning refuses (over the context, a
picture the model cannot take) fails alone as in the real run (its `Error:` line naming it,
its error object with --json, exit 9) and the others are planned (`_generate._dry`).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from vlmcli.commands import _runtime
from vlmcli.commands._json_names import json_line
from vlmcli.errors import VlmError

if TYPE_CHECKING:
    from vlmcli.commands.options import CommonOptions
    from vlmcli.engine.config import EngineConfig
    from vlmcli.engine.request import Request
    from vlmcli.settings import Settings


def plan_payload(
    adapter: Any, request: "Request", *, model: str, max_tokens: int, truncate: bool = False
) -> dict[str, Any]:
    """The plan of one request; with `truncate`, at the resolution `--truncate` would lower it to
    (`truncated` then says how), else a prompt plus `max_tokens` over the context raises
    ContextLengthError, exactly as the real run's `prepare_batch` does."""
    from vlmcli.engine.fit import prepare_batch
    from vlmcli.engine.generate import context_length

    batch = prepare_batch(adapter, [request], truncate=truncate, answer_tokens=max_tokens)
    adapter, prepared = batch.adapter, batch.requests[0]
    sizes = [(im.image.width, im.image.height) for im in request.images]
    plans = adapter.plan_images(sizes) if sizes else []
    prompt_tokens = int(prepared.input_ids.shape[0])
    images = []
    for image, plan, fed in zip(request.images, plans, prepared.images):  # real images come first
        entry = plan.to_dict() | {"path": image.source}
        entry["visual_tokens"] = fed.visual_tokens  # what the processor really produced (reduced, if asked)
        images.append(entry)
    videos = [usage.to_dict() for usage in prepared.usage]
    return {
        "model": model,
        "images": images,
        "videos": videos,
        "visual_tokens": sum(int(entry["visual_tokens"]) for entry in [*images, *videos]),  # as a real run's --json
        "prompt_tokens": prompt_tokens,
        "total_tokens": prompt_tokens + max_tokens,
        "context_length": context_length(adapter.config),
        "truncated": batch.fit.to_dict() if batch.fit is not None else None,
    }


def _fit_message(fit: dict[str, Any]) -> str:
    from vlmcli.engine.events import ResolutionFit

    return ResolutionFit(**fit).message()


def render_text(payload: dict[str, Any]) -> str:
    lines = []
    for im in payload["images"]:
        rows, cols = im["grid"]
        width, height = im["resized"]
        lines.append(
            f"{im['path']}: {im['width']}x{im['height']} -> {width}x{height}, grid {rows}x{cols}, "
            f"{im['tiles']} tile(s), {im['visual_tokens']} visual tokens"
        )
    for video in payload.get("videos", []):
        width, height = video["resized"]
        lines.append(
            f"{video['path']}: {video['frames']} frames -> {video['units']} temporal units at {width}x{height}, "
            f"{video['visual_tokens']} visual tokens"
        )
    lines.append(
        f"prompt: {payload['prompt_tokens']} tokens; with the answer budget {payload['total_tokens']} "
        f"of {payload['context_length']} context"
    )
    return "\n".join(lines)


def plans(
    requests: Sequence["Request"],
    opts: "CommonOptions",
    settings: "Settings",
    *,
    config: "EngineConfig | None" = None,
) -> Iterator[dict[str, Any] | VlmError]:
    """Each request's plan (`plan_payload`) in turn, or the library error planning it raised
    (a picture the model refuses, a prompt over the context): the caller decides, as a real
    run does, whether it fails that request alone (`_generate.fails_alone`) or ends the run."""
    config = config if config is not None else opts.engine_config(settings)
    loaded = _runtime.load_planner(config)
    max_tokens = opts.generation_config(settings).max_tokens
    for index in range(len(requests)):
        try:  # taking it may fail too: describe decodes each file again (`_inputs.DecodedWhenTaken`)
            yield plan_payload(
                loaded.adapter, requests[index], model=config.model, max_tokens=max_tokens, truncate=config.truncate
            )
        except VlmError as error:
            yield error


def with_inputs(payload: dict[str, Any], inputs: Sequence[str]) -> dict[str, Any]:
    """The plan with `inputs` after `model`: the request's sources as the user named them, the
    key of the real run's --json objects and of the error objects among the plans."""
    return {"model": payload["model"], "inputs": list(inputs)} | payload


def write_plan(payload: dict[str, Any], *, as_json: bool) -> None:
    """One plan on stdout (a JSON line, or its text lines); what --truncate lowered on stderr."""
    if payload["truncated"] is not None:
        sys.stderr.write(_fit_message(payload["truncated"]) + "\n")
    sys.stdout.write((json_line(payload) if as_json else render_text(payload)) + "\n")
    sys.stdout.flush()
