"""What `Adapter.prepare` returns: a prompt's ids and its visual items, each with its tensors.

Plain records shared by the adapters, the vision-encoding step and the generation loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vlmcli.engine.events import VideoUsage
from vlmcli.engine.video_input import VideoInput
from vlmcli.media.image_input import ImageInput
from vlmcli.reduction.reducer import TokenLayout

if TYPE_CHECKING:
    import torch


@dataclass
class PreparedImage:
    """One image after preprocessing: the visual tensors of this image alone."""

    source: ImageInput
    inputs: dict[str, "torch.Tensor"]
    """This image's slice of the processor output (pixel_values, grids, masks ...)."""
    visual_tokens: int
    """Placeholder tokens this image occupies in the prompt (= rows of its reduced features)."""
    resized: tuple[int, int]
    """(width, height) the vision encoder saw (the tile canvas for tiled families)."""
    variant: str = ""
    """Anything besides pixels and settings that changes the features (part of the cache key)."""
    grid: tuple[int, int] = (1, 1)
    """(rows, cols) of full-resolution tiles (1, 1 for untiled images)."""
    layout: TokenLayout | None = None
    """How the encoder's tokens are laid out (set by `prepare`; drives reduction)."""
    video: int | None = None
    """Index of the request video this image is a frame of (frames-as-images families)."""
    processor_tokens: int | None = None
    """Placeholders the processor itself wrote for this image when vlmcli encodes it
    differently (its own LLaVA 1.5 tiling); None: the processor wrote `encoder_tokens`."""

    @property
    def encoder_tokens(self) -> int:
        return self.layout.encoder_tokens if self.layout is not None else self.visual_tokens

    @property
    def written_tokens(self) -> int:
        """Placeholders for this image in the processor's prompt (before any rewrite)."""
        return self.processor_tokens if self.processor_tokens is not None else self.encoder_tokens


@dataclass
class PreparedVideo:
    """One clip after preprocessing, for families with a native video path."""

    source: VideoInput
    inputs: dict[str, "torch.Tensor"]
    """This clip's slice of the processor output (pixel_values_videos, video_grid_thw ...)."""
    layout: TokenLayout
    """Encoder token layout and the temporal groups to average."""
    visual_tokens: int
    """Placeholder tokens in the prompt after reduction."""
    resized: tuple[int, int]
    """(width, height) of each frame the encoder saw."""
    variant: str = ""

    @property
    def encoder_tokens(self) -> int:
        return self.layout.encoder_tokens

    @property
    def written_tokens(self) -> int:
        """Placeholders for this clip in the processor's prompt (before any rewrite)."""
        return self.encoder_tokens


@dataclass
class PreparedRequest:
    input_ids: "torch.Tensor"  # (L,)
    images: list[PreparedImage]
    token_extras: dict[str, "torch.Tensor"] = field(default_factory=dict)
    """Per-token tensors the positions need, e.g. Qwen's mm_token_type_ids (L,)."""
    videos: list[PreparedVideo] = field(default_factory=list)
    usage: list[VideoUsage] = field(default_factory=list)
    """Per request video: frames, temporal units and tokens (native or frames-as-images)."""

    @property
    def visual_tokens(self) -> int:
        return sum(im.visual_tokens for im in self.images) + sum(v.visual_tokens for v in self.videos)

    @property
    def visual_items(self) -> list["PreparedImage | PreparedVideo"]:
        """Images then videos: the order their placeholders appear in the prompt."""
        return [*self.images, *self.videos]


@dataclass
class Merged:
    embeds: "torch.Tensor"  # (B, L, D)
    decoder_kwargs: dict[str, Any] = field(default_factory=dict)


def video_usage(
    clips: tuple[VideoInput, ...], images: list[PreparedImage], videos: list[PreparedVideo]
) -> list[VideoUsage]:
    """What each request video cost, whether it went the native way (`videos`) or as frame images."""
    if videos:  # frames: the clip as decoded, before a family's processor padded it (`processor_clips`)
        return [
            VideoUsage(
                source=v.source.source, frames=len(clip), units=v.layout.out_units,
                visual_tokens=v.visual_tokens, resized=v.resized, sampling=v.source.sampling,
            )
            for clip, v in zip(clips, videos, strict=True)
        ]
    usage = []
    for index, clip in enumerate(clips):
        frames = [im for im in images if im.video == index]
        usage.append(
            VideoUsage(
                source=clip.source, frames=len(clip), units=len(frames),
                visual_tokens=sum(im.visual_tokens for im in frames), resized=frames[0].resized,
                sampling=clip.sampling,
            )
        )
    return usage
