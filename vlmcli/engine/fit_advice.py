"""What a context-overflow message advises: only the flags that can lower this request's tokens.

A prompt over the context used to be told, whatever caused it, to "lower --max-pixels or
--max-tiles, use fewer images ..., or pass --truncate". That misleads where those flags do
nothing: a SmolVLM2, InternVL or LLaVA-OneVision video frame costs the same at any
`--max-pixels` (and `--truncate` can only fail there), and a `--min-pixels` floor that
raised the images was never named. `Remedies` says what applies to one request:

- `floor`: the policy's `--min-pixels` raised its tokens (prepared without it, it needs fewer);
- `scales`: a lower pixel cap lowers its tokens, so `--max-pixels`/`--max-tiles` and
  `--truncate` can help; probed at the largest item's own area, half of it, then a
  sixteenth at each step (a cap at the area already drops a tiled family's crop, half of it
  shrinks a Qwen image, Idefics2 stops splitting further down), until the tokens drop or the
  family refuses the cap as below its least size (one tile, cell or frame: no lower exists);
- `images` / `videos`: fewer images (or PDF pages), fewer frames and pooling them help.

The probes prepare the longest request again (a fixed-cost 512-px SmolVLM2 frame takes
six), only once it does not fit. `static_remedies` is the probe-free guess for callers
holding only prepared requests.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from vlmcli.errors import ConfigError, InputError

if TYPE_CHECKING:
    from vlmcli.engine.adapters.base import Adapter, PreparedRequest
    from vlmcli.engine.request import Request


@dataclass(frozen=True)
class Remedies:
    """Which kinds of flag can lower one request's prompt tokens. The defaults name every
    flag (as when nothing is known about the request)."""

    images: bool = True
    videos: bool = False
    floor: bool = False
    scales: bool = True

    def overflow(self, *, answer: bool = True) -> str:
        """The advice of a prompt over the context, without a final period: the flags to lower
        (`answer`: `--max-tokens` too), then `--truncate` where it can help."""
        parts = []
        if self.floor or self.scales:
            flags = ["--min-pixels"] * self.floor + ["--max-pixels", "--max-tiles"] * self.scales
            parts.append(f"lower {', '.join(flags[:-1])} or {flags[-1]}")
        if self.images:
            parts.append("use fewer images (or PDF pages: --pages)")
        if self.videos:
            parts.append("sample fewer frames (--frames, --fps, --max-frames) or pool them (--temporal-pool, --compress)")
        if answer:
            parts.append("lower --max-tokens")
        if self.scales:
            parts.append("pass --truncate to lower the resolution until it fits")
        if not parts:
            return "shorten the prompt"
        return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])}, or {parts[-1]}"

    def lowest(self) -> str:
        """The advice once even `--truncate`'s lowest resolution does not fit, without a final period."""
        parts = ["fewer images (or PDF pages: --pages)"] if self.images else []
        if self.videos:
            parts.append("fewer frames (--frames, --fps, --max-frames)")
        parts += ["a shorter prompt", "a lower --max-tokens"]
        if self.images or self.videos:
            parts.append("--temporal-pool / --compress" if self.videos else "--compress")
        return f"use {', '.join(parts[:-1])}, or {parts[-1]}"


def _tokens(adapter: "Adapter", request: "Request") -> int | None:
    """Prompt tokens of `request` prepared by `adapter`; None when it refuses the resolution."""
    try:
        return int(adapter.prepare(request).input_ids.shape[0])
    except (ConfigError, InputError):  # below one tile, cell or least frame: no such resolution
        return None


def _probes(area: int) -> Iterator[int]:
    """Pixel caps to try, highest first: the area itself, half of it, then a sixteenth at each step."""
    if area >= 1:
        yield area
    pixels = area // 2
    while pixels >= 1:
        yield pixels
        pixels //= 16


def _lowers(adapter: "Adapter", request: "Request", *, policy: object, needed: int) -> bool:
    tokens = _tokens(adapter.with_policy(policy), request)  # type: ignore[arg-type]
    return tokens is not None and tokens < needed


def remedies(adapter: "Adapter", request: "Request", prepared: "PreparedRequest") -> Remedies:
    """What can lower `request`'s tokens (`prepared` is it under `adapter`), by preparing it again."""
    from vlmcli.tiling import lowered_policy

    needed = int(prepared.input_ids.shape[0])
    policy = adapter.policy
    floor = policy.min_pixels is not None and _lowers(
        adapter, request, policy=replace(policy, min_pixels=None), needed=needed
    )
    area = max((w * h for w, h in (item.resized for item in prepared.visual_items)), default=0)
    scales = False
    for pixels in _probes(area):
        tokens = _tokens(adapter.with_policy(lowered_policy(policy, pixels)), request)
        if tokens is None or tokens < needed:  # below the least size, or lowered
            scales = tokens is not None
            break
    return Remedies(images=bool(request.images), videos=bool(request.videos), floor=floor, scales=scales)


def longest_index(prepared: Sequence["PreparedRequest"]) -> int:
    """Index of the batch's longest prompt, the one that does not fit."""
    return max(range(len(prepared)), key=lambda i: int(prepared[i].input_ids.shape[0]))


def longest_remedies(adapter: "Adapter", requests: Sequence["Request"], prepared: Sequence["PreparedRequest"]) -> Remedies:
    """`remedies` of the batch's longest prompt."""
    index = longest_index(prepared)
    return remedies(adapter, requests[index], prepared[index])


def kinds(request: "Request") -> Remedies:
    """What `request` holds (images, videos), for the advice once no resolution fits."""
    return Remedies(images=bool(request.images), videos=bool(request.videos))


def static_remedies(adapter: "Adapter", prepared: Sequence["PreparedRequest"]) -> Remedies:
    """A guess without preparing again: images and frames as the prepared requests hold
    them, a floor when the policy has one, and the resolution flags always named."""
    images = any(image.video is None for r in prepared for image in r.images)
    videos = any(r.videos or any(image.video is not None for image in r.images) for r in prepared)
    return Remedies(images=images, videos=videos, floor=adapter.policy.min_pixels is not None)
