"""LLaVA-NeXT-Video: LLaVA-NeXT's anyres images plus a native video path.

Images are exactly LLaVA-NeXT's (`LlavaNextAdapter`: per-image `image_sizes`, tiles padded
to one tensor, grid pinpoints following the resolution policy), planned by
`plan_llava_next_video` (= `plan_llava_next`).

Videos: the video processor centre-crops every frame to the tower's size; the model runs the
frames through the same tower, drops CLS, average-pools the patch grid 2x2
(`vision_resampler`), projects, and the (T * g'^2, D) features replace the `<video>` tokens:
no newline, no separator. A frame is thus a g' x g' grid (12 x 12 for the 7B hub
checkpoint), so `--temporal-pool` and `--compress pool:K` / `perceiver:M` work on clips.
Frames have a fixed size and cost (`vlmcli.tiling.llava_next_video`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vlmcli.engine.adapters.base import PreparedVideo
from vlmcli.engine.adapters.llava import LlavaNextAdapter
from vlmcli.engine.cache import Features
from vlmcli.engine.video_input import VideoInput
from vlmcli.errors import ConfigError
from vlmcli.reduction.reducer import TokenLayout
from vlmcli.tiling import ImagePlan
from vlmcli.tiling.llava_next_video import (
    LlavaNextVideoSpec,
    llava_next_video_frame_tokens,
    plan_llava_next_video,
)

if TYPE_CHECKING:
    import torch


def _frame_size(video_processor: Any, default: int) -> tuple[int, int]:
    """(height, width) the video processor crops frames to (the tower's size when unknown)."""
    if video_processor is None:
        return (default, default)
    size = getattr(video_processor, "crop_size", None) if getattr(video_processor, "do_center_crop", False) else None
    size = size if size is not None else getattr(video_processor, "size", None)
    height = size.get("height") if size is not None else None
    width = size.get("width") if size is not None else None
    if height and width:
        return (int(height), int(width))
    return (default, default)


class LlavaNextVideoAdapter(LlavaNextAdapter):
    native_video = True

    def _spec(self) -> LlavaNextVideoSpec:
        config = self.config
        image_size = int(config.vision_config.image_size)
        return LlavaNextVideoSpec(
            image_size=image_size,
            patch_size=int(config.vision_config.patch_size),
            vision_feature_select_strategy=config.vision_feature_select_strategy,
            num_additional_image_tokens=int(getattr(self.processor, "num_additional_image_tokens", 1)),
            image_grid_pinpoints=tuple(tuple(p) for p in config.image_grid_pinpoints),
            frame_size=_frame_size(getattr(self.processor, "video_processor", None), image_size),
            spatial_pool_stride=int(getattr(config, "spatial_pool_stride", 2)),
        )

    def plan_images(self, sizes: list[tuple[int, int]]) -> list[ImagePlan]:
        spec = self._spec()
        multi = len(sizes) > 1
        return [plan_llava_next_video(spec, self.policy, width=w, height=h, multi_image=multi) for w, h in sizes]

    def _video_spec(self, height: int, width: int) -> LlavaNextVideoSpec:
        """The spec with the frame size the processor really produced."""
        from dataclasses import replace

        return replace(self._spec(), frame_size=(int(height), int(width)))

    def split_videos(self, out: Any, videos: list[VideoInput], input_ids: torch.Tensor) -> list[PreparedVideo]:
        pixel_values = out["pixel_values_videos"]  # (V, T_max, 3, H, W) or V tensors (T, 3, H, W)
        height, width = pixel_values[0].shape[-2:]
        spec = self._video_spec(height, width)
        per_frame = llava_next_video_frame_tokens(spec)
        grid = spec.frame_grid
        if grid[0] * grid[1] != per_frame:
            raise ConfigError(f"LLaVA-NeXT-Video frame grid {grid} does not hold the processor's {per_frame} tokens.")
        prepared = []
        for i, video in enumerate(videos):
            frames = len(video)
            groups = self.clip_groups(video, units=frames)
            layout = TokenLayout(units=frames, per_unit=per_frame, grid=grid, tail=0, groups=groups)
            clip = pixel_values[i][None, :frames]  # (1, T, 3, H, W)
            prepared.append(
                PreparedVideo(
                    source=video, inputs={"pixel_values_videos": clip}, layout=layout,
                    visual_tokens=layout.encoder_tokens, resized=(int(width), int(height)),
                )
            )
        return prepared

    def encode_videos(self, videos: list[PreparedVideo]) -> list[Features]:
        """One tower call per clip (clips differ in frame count); each (T * g'^2, D)."""
        features = []
        for video in videos:
            pixel_values = video.inputs["pixel_values_videos"].to(self.model.device, self.vision_dtype)  # (1, T, 3, H, W)
            out = self.model.model.get_video_features(pixel_values_videos=pixel_values, return_dict=True)
            features.append({"embeds": out.pooler_output[0]})  # (T * g'^2, D)
        return features

    def video_replacement(self, video: PreparedVideo, original: str) -> str:
        return self.processor.video_token * self.reducer.count(video.layout)
