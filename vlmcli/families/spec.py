"""What one registry entry says about a model family, as plain data (no torch import).

A family groups the transformers `model_type`s that share one adapter. Its entry names
the code that implements it (adapter, resolution planner, tiny-checkpoint builders) by
"module:attribute" strings, resolved only when used, so `vlm --help` and `vlm models`
read the registry without importing torch or transformers. Its capabilities (video,
tiling knobs, positions) are what `vlm models` and README's coverage table print.
"""

from __future__ import annotations

import enum
import importlib
from dataclasses import dataclass
from typing import Any


class VideoPath(str, enum.Enum):
    """How a family takes a video."""

    NATIVE = "native"
    """Its own video path (the adapter's `split_videos` / `encode_videos`)."""
    FRAMES = "frames as images"
    """The sampled frames go in as images with time markers (`engine.adapters.frames`)."""


class Positions(str, enum.Enum):
    """The rotary positions the language model takes."""

    ROPE = "1-D"
    """One position per token (the base adapter's cumulative sum)."""
    MROPE = "mrope"
    """3-D (time, height, width) positions for visual tokens (Qwen-VL's `get_rope_index`)."""


class Batching(str, enum.Enum):
    """How bulk runs (`caption-dir`) batch the family's requests."""

    CONTINUOUS = "continuous"
    """Rows join and leave a running batch between decode steps (`engine.scheduler`): the
    decoder's cache is plain keys/values, one column per token, that can be cut and glued."""
    STATIC = "static"
    """Fixed batches that run until their longest answer ends: the decoder keeps state that
    rows cannot be moved in and out of (sliding-window, linear-attention or convolution layers)."""


def resolve(ref: str) -> Any:
    """The object a "package.module:attribute" reference names (imports the module)."""
    module, _, attribute = ref.partition(":")
    return getattr(importlib.import_module(module), attribute)


@dataclass(frozen=True)
class FamilySpec:
    """One family: what it covers, where its code is, what it can do."""

    name: str
    """Registry key, shown by `vlm models` and in `--json` ("idefics3", "llava_next" ...)."""
    title: str
    """Human name for README's table ("Idefics3 / SmolVLM")."""
    model_types: tuple[str, ...]
    """transformers `config.model_type` values the adapter handles."""
    examples: tuple[str, ...]
    """Hub ids of well-known checkpoints, for help text and README."""
    adapter: str
    """"module:Class" of the `engine.adapters.base.Adapter` subclass, imported on first load."""
    planner: str
    """"module:function" of the pure resolution planner in `vlmcli.tiling` (token cost per image)."""
    builders: str
    """Module of the tiny-checkpoint builders: `build_<model_type>(out_dir, *, seed)` per model type."""
    video: VideoPath
    tiling: str
    """The native knobs `--max-tiles/--max-pixels/--min-pixels` map onto (README's words)."""
    positions: Positions = Positions.ROPE
    native_video_only_for: str | None = None
    """Checkpoints that own the native video path when not all do (SmolVLM2: Idefics3 and
    SmolVLM v1 have no video processor and get frames as images)."""
    images: bool = True
    chat_template: bool = True
    """False: its checkpoints have none (PaliGemma), prompts are built without one."""
    batching: Batching = Batching.CONTINUOUS
    static_because: str = ""
    """With `Batching.STATIC`: why, in a few words (printed when a bulk run falls back)."""

    @property
    def video_support(self) -> str:
        """How the family takes a video, in the words of `vlm models` and README's table."""
        if self.video is VideoPath.NATIVE and self.native_video_only_for:
            return f"native ({self.native_video_only_for})"
        return self.video.value

    def adapter_class(self) -> type:
        """The adapter class (imports the engine's adapter module: torch-free until used)."""
        return resolve(self.adapter)

    def builder_ref(self, model_type: str) -> str:
        """"module:function" of the tiny-checkpoint builder of one of this family's model types."""
        if model_type not in self.model_types:
            raise ValueError(f"{model_type!r} is not a {self.name} model type")
        return f"{self.builders}:build_{model_type}"
