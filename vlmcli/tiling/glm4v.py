"""GLM-4.1V / GLM-4.5V (`glm4v`) native dynamic resolution.

`Glm4vImageProcessor` is Qwen2-VL's scheme (14-px patches merged 2x2, sides multiples of
28 px, one `<|image|>` per merged patch) with GLM's own `smart_resize`, which differs in
three ways, all mirrored here:

1. an image is two frames (`temporal_patch_size`): its pixel bounds `size["shortest_edge"]`
   / `size["longest_edge"]` are compared with 2 * h * w, so the area bounds of one image
   are half the configured numbers;
2. a side below one 28-px cell is first scaled up (both sides, `int` truncation) to reach it;
3. the scale factors are computed with the frame count inside the square root.

The native knobs are those two `size` numbers; the policy maps onto them as for Qwen-VL
(`vlmcli.tiling.qwen.qwen_pixel_bounds` on the per-image area, then times the frame count):
caps take min(checkpoint, cap), a `--min-pixels` floor above the default upscales, one
below it changes nothing. As Qwen's, GLM's smart_resize can land below the floor (its
downscale branch floors both sides when rounding passed the bound) or past a cap close to
it (its upscale branch ceils them): `glm4v_resized_size` picks a size within both, and `glm4v_prompt_bounds` says how the processor keeps that
size (the image handed over already resized, the bounds widened to hold it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vlmcli.errors import ConfigError, InputError
from vlmcli.tiling.plan import ImagePlan
from vlmcli.tiling.policy import ResolutionPolicy
from vlmcli.tiling.refusal import about_image
from vlmcli.tiling.qwen import (
    MAX_ASPECT_RATIO, QwenSpec, floor_size, pixel_caps, qwen_pixel_bounds, too_elongated, widened_bounds,
)


def glm4v_smart_resize(
    *,
    num_frames: int,
    height: int,
    width: int,
    temporal_factor: int,
    factor: int,
    min_pixels: int,
    max_pixels: int,
) -> tuple[int, int]:
    """(height, width) as transformers' glm4v `smart_resize` (same float operations)."""
    if num_frames < temporal_factor:
        raise ValueError(f"t:{num_frames} must be larger than temporal_factor:{temporal_factor}")
    if height < factor or width < factor:
        scale = max(factor / height, factor / width)
        height = int(height * scale)
        width = int(width * scale)
    if too_elongated(width=width, height=height):
        raise ValueError(f"absolute aspect ratio must be smaller than {MAX_ASPECT_RATIO}")
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    t_bar = round(num_frames / temporal_factor) * temporal_factor
    if t_bar * h_bar * w_bar > max_pixels:
        beta = math.sqrt((num_frames * height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif t_bar * h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (num_frames * height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


@dataclass(frozen=True)
class Glm4vSpec:
    """What GLM-4V token accounting needs from a checkpoint (defaults: GLM-4.1V's processor)."""

    patch_size: int = 14
    merge_size: int = 2
    temporal_patch_size: int = 2
    shortest_edge: int = 112 * 112
    """`image_processor.size["shortest_edge"]`: the lower bound of temporal_patch_size * h * w."""
    longest_edge: int = 28 * 28 * 15000
    """`image_processor.size["longest_edge"]`: the upper bound of temporal_patch_size * h * w."""

    def __post_init__(self) -> None:
        for name in (
            "patch_size",
            "merge_size",
            "temporal_patch_size",
            "shortest_edge",
            "longest_edge",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, not {value!r}.")

    @property
    def factor(self) -> int:
        return self.patch_size * self.merge_size

    def per_image(self) -> QwenSpec:
        """The same bounds as one image's area (what `ResolutionPolicy` pixels mean)."""
        t = self.temporal_patch_size
        low = max(1, self.shortest_edge // t)
        high = max(low, self.longest_edge // t)
        return QwenSpec(
            patch_size=self.patch_size,
            merge_size=self.merge_size,
            min_pixels=low,
            max_pixels=high,
        )


def glm4v_size(spec: Glm4vSpec, policy: ResolutionPolicy) -> tuple[int, int]:
    """(shortest_edge, longest_edge) for the image processor's `size` under `policy`.

    Native policy: the checkpoint's own numbers. Otherwise the per-image area bounds of
    `qwen_pixel_bounds` (caps never above the checkpoint's bound) times the frame count."""
    if policy.is_native:
        return spec.shortest_edge, spec.longest_edge
    low, high = qwen_pixel_bounds(spec.per_image(), policy)
    t = spec.temporal_patch_size
    return low * t, high * t


def _smart_resize(spec: Glm4vSpec, *, width: int, height: int, low: int, high: int) -> tuple[int, int]:
    """(height, width) from `glm4v_smart_resize` for one image (two frames) within `low`..`high`."""
    if width < 1 or height < 1:
        raise InputError(f"an image must have a positive size, not {width}x{height}.")
    try:
        return glm4v_smart_resize(
            num_frames=spec.temporal_patch_size,
            height=height,
            width=width,
            temporal_factor=spec.temporal_patch_size,
            factor=spec.factor,
            min_pixels=low,
            max_pixels=high,
        )
    except ValueError:
        raise about_image(InputError(
            f"A {width}x{height} image is too elongated for GLM-4V models (the long side may be at most "
            f"{MAX_ASPECT_RATIO}x the short side); crop it first."
        ), width=width, height=height) from None


def glm4v_resized_size(spec: Glm4vSpec, policy: ResolutionPolicy, *, width: int, height: int) -> tuple[int, int]:
    """(height, width) the model sees a `width x height` image at under `policy`: GLM's
    smart_resize within `glm4v_size`, except that under a policy floor an image that it puts
    outside [floor, cap] (per image: `glm4v_size`'s low / frames) gets `qwen.floor_size`'s
    size instead: scaled up as its upscale branch would (tiny sides first raised to one
    cell, both sides ceil()ed to the factor), or, past a cap, the size of whole cells within
    [floor, cap] nearest the image's aspect (ConfigError when there is none; when the caps
    lowered the floor to them, GLM's smart_resize's own size). The processor only keeps
    such a size when handed the image already resized to it (`glm4v_prompt_bounds`)."""
    low, high = glm4v_size(spec, policy)
    resized_h, resized_w = _smart_resize(spec, width=width, height=height, low=low, high=high)
    t, factor = spec.temporal_patch_size, spec.factor
    if policy.is_native or policy.min_pixels is None:
        return resized_h, resized_w
    caps = pixel_caps(spec.per_image(), policy)
    if t * resized_h * resized_w >= low and resized_h * resized_w <= min(caps, default=resized_h * resized_w):
        return resized_h, resized_w
    if height < factor or width < factor:  # GLM's first step, as smart_resize takes it
        scale = max(factor / height, factor / width)
        height, width = int(height * scale), int(width * scale)
    beta = math.sqrt(low / (t * height * width))
    return floor_size(
        height=height, width=width, resized=(resized_h, resized_w), beta=beta, factor=factor, low=low // t, caps=caps
    )


def glm4v_prompt_bounds(
    spec: Glm4vSpec, policy: ResolutionPolicy, sizes: list[tuple[int, int]]
) -> tuple[int, int, bool]:
    """(shortest_edge, longest_edge, resize) for the processor call of one prompt's (width,
    height) images: `glm4v_size`, unless an image's `glm4v_resized_size` is not what GLM's
    smart_resize gives; then `resize` is True (hand the processor every image already at its
    `glm4v_resized_size`) and the bounds are widened to hold those sizes (times the frame
    count), so smart_resize keeps each one as it is (whole cells within the bounds)."""
    low, high = glm4v_size(spec, policy)
    planned = [glm4v_resized_size(spec, policy, width=w, height=h) for w, h in sizes]
    own = [_smart_resize(spec, width=w, height=h, low=low, high=high) for w, h in sizes]
    return widened_bounds(low, high, planned, own, frames=spec.temporal_patch_size)


def plan_glm4v(spec: Glm4vSpec, policy: ResolutionPolicy, *, width: int, height: int) -> ImagePlan:
    """How `Glm4vImageProcessor` resizes one `width x height` image under `policy` (handed
    over as `glm4v_prompt_bounds` says), and its tokens."""
    resized_h, resized_w = glm4v_resized_size(spec, policy, width=width, height=height)
    tokens = (resized_h // spec.patch_size) * (resized_w // spec.patch_size) // spec.merge_size**2
    return ImagePlan(
        width=width,
        height=height,
        resized=(resized_w, resized_h),
        grid=(1, 1),
        tiles=1,
        visual_tokens=tokens,
    )
