"""Small event objects the generation loop yields while it runs.

A caller iterates `Engine.stream(...)` and gets `TokenEvent`s as tokens arrive, then
one `FinishEvent` per request carrying the full `GenerationResult`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vlmcli.video.sampling_report import SamplingReport


class FinishReason(str, enum.Enum):
    STOP = "stop"
    """The model produced end-of-sequence."""
    STOP_STRING = "stop_string"
    """A user stop string appeared in the text."""
    LENGTH = "length"
    """max_tokens was reached."""


@dataclass
class Timings:
    """Seconds of the model's work charged to one request: its share of its batch's stages,
    so that adding them up over the answers of a run counts every second once.

    - `vision_s`: its share of the vision encoding of the images encoded together with its
      own, in proportion to its visual tokens (an image found in the feature cache is not
      encoded again: its request is charged for none of it);
    - `prefill_s`: its share of the batched prefill, in proportion to its prompt tokens;
    - `decode_s`: its share of every decode step it took part in (a step's time divided by
      the rows in that step), plus choosing its own tokens. Time spent on other requests
      (preparing or prefilling newcomers, rows after it finished) is not in it.

    Preparing the inputs (the processor: resizing, tokenizing) is in none of them; the
    wall time a request waited from the start of its batch to its answer is a separate
    figure (`scheduler.Completion.latency_s`, caption-dir's `latency_ms`). `load_s` is the
    model load, once per run (not a share)."""

    load_s: float = 0.0
    vision_s: float = 0.0
    prefill_s: float = 0.0
    decode_s: float = 0.0

    def to_dict(self) -> dict[str, float]:
        return {k: round(v, 6) for k, v in vars(self).items()}


@dataclass(frozen=True)
class ImageUsage:
    """The resolution the model actually saw for one image, and what it cost."""

    source: str
    width: int
    height: int
    resized: tuple[int, int]
    visual_tokens: int
    grid: tuple[int, int] = (1, 1)
    """(rows, cols) of full-resolution tiles."""

    def to_dict(self) -> dict[str, object]:
        return {
            "path": self.source,
            "width": self.width,
            "height": self.height,
            "resized": list(self.resized),
            "grid": list(self.grid),
            "visual_tokens": self.visual_tokens,
        }


@dataclass(frozen=True)
class VideoUsage:
    """What one video cost: frames decoded, temporal units after pooling, visual tokens."""

    source: str
    frames: int
    """Decoded frames the model was given."""
    units: int
    """Temporal units after --temporal-pool: frames, Qwen temporal patches (2 frames), or frame images."""
    visual_tokens: int
    resized: tuple[int, int]
    """(width, height) of each frame the vision encoder saw."""
    sampling: "SamplingReport | None" = None
    """Which frames they were and how they were chosen and decoded; None when unknown."""

    def to_dict(self) -> dict[str, object]:
        sampling = self.sampling
        return {
            "path": self.source,
            "frames": self.frames,
            "units": self.units,
            "resized": list(self.resized),
            "visual_tokens": self.visual_tokens,
            "decoder": sampling.decoder if sampling is not None else None,
            "variable_frame_rate": sampling.variable_rate if sampling is not None else None,
            "sampling": sampling.to_dict() if sampling is not None else None,
        }


@dataclass(frozen=True)
class ResolutionFit:
    """How `--truncate` lowered the resolution so a batch's prompts fit the context."""

    max_pixels: int
    """The pixel cap the images and frames were prepared under (`--max-pixels`)."""
    max_tiles: int | None
    """The user's tile cap, unchanged (None: unset)."""
    needed_tokens: int
    """Longest prompt of the batch at the requested resolution."""
    prompt_tokens: int
    """Longest prompt after lowering."""
    context_length: int
    answer_tokens: int = 0
    """The answer budget (`--max-tokens`) the prompt had to leave room for."""

    def to_dict(self) -> dict[str, object]:
        return {
            "max_pixels": self.max_pixels,
            "max_tiles": self.max_tiles,
            "needed_tokens": self.needed_tokens,
            "prompt_tokens": self.prompt_tokens,
            "context_length": self.context_length,
            "answer_tokens": self.answer_tokens,
        }

    def message(self) -> str:
        """The one-line warning printed on stderr."""
        return (
            f"warning: the prompt needed {self.needed_tokens} tokens and the answer up to {self.answer_tokens} "
            f"but the context length is {self.context_length}; --truncate lowered the resolution to "
            f"--max-pixels {self.max_pixels} ({self.prompt_tokens} prompt tokens)."
        )


@dataclass
class GenerationResult:
    text: str
    token_ids: list[int]
    finish_reason: FinishReason
    prompt_tokens: int
    visual_tokens: int
    completion_tokens: int
    timings: Timings = field(default_factory=Timings)
    images: list[ImageUsage] = field(default_factory=list)
    vision_cache_hits: int = 0
    videos: list[VideoUsage] = field(default_factory=list)
    fit: ResolutionFit | None = None
    """Set when `--truncate` lowered the resolution (the images/videos report what was used)."""
    notes: tuple[str, ...] = ()
    """One-line notices for the user about this run (a `--compress` that changed nothing);
    the commands print each distinct one once on stderr."""
    valid: bool | None = None
    """With a constraint: True when the answer is complete under its grammar (and parses);
    False when --max-tokens or a stop string cut it first. None without a constraint."""
    parsed: object = None
    """With a constraint and `valid`: the answer as a value (JSON for --schema/--json-mode,
    the string for --choice/--regex); else None."""


@dataclass(frozen=True)
class TokenEvent:
    """New text for request `index` (may be empty while a multi-byte character is incomplete)."""

    index: int
    token_id: int
    text: str


@dataclass(frozen=True)
class FinishEvent:
    index: int
    result: GenerationResult
