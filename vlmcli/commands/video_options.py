"""Options of the commands that take videos (ask, describe, video-summarize).

Frame sampling (--sampling, --frames, --fps, --max-frames) and visual-token reduction
(--temporal-pool, --compress, --resampler-weights) are declared once as the fields of
`VideoOptions`; `@with_video_options` adds them to a command and hands it one
`video: VideoOptions` argument (stack it over `@with_common_options`, so these options are
listed after the common ones). Values are parsed into the library's types
(`SamplingOptions`, `TokenReduction`) by methods, so a bad value fails before any model
loads, with the library's `ConfigError` (exit 2). Nothing here imports numpy or torch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from vlmcli.commands.option_groups import with_option_group
from vlmcli.reduction.compress import parse_compress
from vlmcli.reduction.reducer import TokenReduction
from vlmcli.reduction.temporal import parse_temporal_pool

if TYPE_CHECKING:
    from vlmcli.engine.config import EngineConfig
    from vlmcli.video.sampling import SamplingMethod, SamplingOptions

VIDEO_MAX_SIDE = 768
"""Frames are decoded at most this many pixels on the long side (decord resizes while
decoding); every processor here resizes further (Qwen <= 768x768 per frame by default,
SmolVLM2 512, LLaVA-OneVision 384), so larger frames would only cost memory."""


def _video(*decls: str, help: str, **kwargs: object) -> typer.models.OptionInfo:
    return typer.Option(*decls, help=help, rich_help_panel="Video", show_default=False, **kwargs)


def _tokens(*decls: str, help: str, **kwargs: object) -> typer.models.OptionInfo:
    return typer.Option(*decls, help=help, rich_help_panel="Visual tokens", show_default=False, **kwargs)


@dataclass(frozen=True)
class VideoOptions:
    sampling: Annotated[
        str,
        _video(help="How frames are chosen: uniform, keyframe (one+ per scene) or dynamic (denser where it changes)."),
    ] = "uniform"
    frames: Annotated[
        Optional[int], _video(help="Sample exactly N frames (per segment for video-summarize).", min=1)
    ] = None
    fps: Annotated[Optional[float], _video(help="Sample F frames per second of video (capped by --max-frames).")] = None
    max_frames: Annotated[
        Optional[int],
        _video(
            help="Most frames per video: 32 by default for ask and describe, 8 for caption-dir, 8 per segment "
            "for video-summarize.",
            min=1,
        ),
    ] = None
    temporal_pool: Annotated[
        Optional[str],
        _tokens(help="Average frames across time before the LM: K (every K), sim[:T] (near-duplicates, cosine >= T).")
    ] = None
    compress: Annotated[
        Optional[str],
        _tokens(help="Compress visual tokens of images and frames: pool[:K] (KxK average) or perceiver:M (M tokens).")
    ] = None
    resampler_weights: Annotated[
        Optional[str], _tokens(help="A trained Perceiver resampler (.safetensors) for --compress perceiver:M.")
    ] = None

    def method(self) -> "SamplingMethod":
        from vlmcli.video.sampling import SamplingMethod

        return SamplingMethod.parse(self.sampling)

    def sampling_options(self, *, default_max_frames: int | None = None) -> "SamplingOptions":
        from vlmcli.video.sampling import SamplingOptions
        from vlmcli.video.sampling.options import DEFAULT_MAX_FRAMES

        most = self.max_frames or default_max_frames or DEFAULT_MAX_FRAMES
        if self.frames is not None and self.max_frames is None:
            most = max(most, self.frames)  # --frames alone raises the default cap
        return SamplingOptions(frames=self.frames, fps=self.fps, max_frames=most)

    def reduction(self) -> TokenReduction:
        weights = Path(self.resampler_weights).expanduser() if self.resampler_weights else None
        return TokenReduction(
            temporal=parse_temporal_pool(self.temporal_pool or "none"),
            compress=parse_compress(self.compress or "none"),
            resampler_weights=weights,
        )

    def check(self) -> None:
        """Parse every value now (ConfigError on a bad one), before inputs are decoded."""
        self.method()
        self.sampling_options()
        self.reduction()

    def apply(self, config: "EngineConfig") -> "EngineConfig":
        """`config` with this run's token reduction."""
        return dataclasses.replace(config, reduction=self.reduction())


with_video_options = with_option_group(VideoOptions, "video")
"""Replace the command's `video: VideoOptions` parameter by the video options."""
