"""LLaVA-NeXT-Video visual-token accounting (transformers `LlavaNextVideoProcessor`).

Images are LLaVA-NeXT's anyres images, token for token (`plan_llava_next`, same grid
pinpoints, same CLS handling), so `plan_llava_next_video` is that planner on a
`LlavaNextVideoSpec`.

Videos have their own path: every frame is resized (shortest edge) and centre-cropped by
the video processor to `frame_size`, goes through the same vision tower, loses CLS (video
always uses the "default" strategy), and the (h/p) x (w/p) patch features are average-pooled
with `spatial_pool_stride` before the projector. The processor writes
(h // p) * (w // p) // 4 `<video>` tokens per frame (`replace_video_token`), no newline and
no separator; the model's pooler gives (h/p/stride)^2 per frame on square frames. The two
agree for square crops whose patch side is even with stride 2 (every hub checkpoint:
336 px / 14 = 24 -> 12 x 12 = 144 tokens a frame); other video settings are refused
(`LlavaNextVideoSpec.check_video`), images still work.

Frames have a fixed size and cost (the tower's learned positions fix it, like
LLaVA-OneVision): `--max-pixels`/`--max-tiles` cannot lower it and `--min-pixels` cannot
raise it.
"""

from __future__ import annotations

from dataclasses import dataclass

from vlmcli.errors import ConfigError
from vlmcli.tiling.llava import LlavaNextSpec, plan_llava_next
from vlmcli.tiling.plan import ImagePlan
from vlmcli.tiling.policy import ResolutionPolicy


@dataclass(frozen=True)
class LlavaNextVideoSpec(LlavaNextSpec):
    """What LLaVA-NeXT-Video needs. Defaults: llava-hf/LLaVA-NeXT-Video-7B-hf (CLIP-336)."""

    frame_size: tuple[int, int] = (336, 336)
    """(height, width) of a processed frame: the video processor's `crop_size`."""
    spatial_pool_stride: int = 2
    """`config.spatial_pool_stride`."""

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "frame_size", tuple(int(v) for v in self.frame_size))

    def check_video(self) -> None:
        """ConfigError unless the processor's frame count equals the model's pooled features
        (checked when a video is given, so images work whatever the video settings)."""
        height, width = self.frame_size
        if height != width or height != self.image_size:
            raise ConfigError(
                f"LLaVA-NeXT-Video frames must be square crops of the tower's size ({self.image_size} px), "
                f"not {width}x{height}."
            )
        side = height // self.patch_size
        if self.spatial_pool_stride != 2 or side % 2:
            raise ConfigError(
                "LLaVA-NeXT-Video's processor counts (h/p)*(w/p)//4 video tokens a frame: it needs a 2x2 "
                f"pool on an even patch grid, not stride {self.spatial_pool_stride} on {side}x{side}."
            )

    @property
    def frame_grid(self) -> tuple[int, int]:
        """(rows, cols) of one frame's tokens after the spatial pooling."""
        side = self.frame_size[0] // self.patch_size // self.spatial_pool_stride
        return (side, side)


def llava_next_video_frame_tokens(spec: LlavaNextVideoSpec) -> int:
    """`<video>` tokens per frame, as the processor writes them (ConfigError where the model
    would disagree)."""
    spec.check_video()
    height, width = spec.frame_size
    return (height // spec.patch_size) * (width // spec.patch_size) // 4


def plan_llava_next_video(
    spec: LlavaNextVideoSpec, policy: ResolutionPolicy, *, width: int, height: int, multi_image: bool = False
) -> ImagePlan:
    """The plan for one image: LLaVA-NeXT's anyres, with the same policy mapping (grid pinpoints)."""
    return plan_llava_next(spec, policy, width=width, height=height, multi_image=multi_image)
