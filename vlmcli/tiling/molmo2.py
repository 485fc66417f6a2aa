"""Molmo 2 multi-crop planning: a low-resolution view plus overlapping high-resolution crops.

Mirrors transformers' `Molmo2ImageProcessor` (`compute_crop_geometry`, `select_tiling`,
`get_image_grid_and_crops`) in exact integer/rational arithmetic:

- crops are squares of `crop_size` px (378 on the hub) cut from a canvas, `patch_size` px
  patches (14); neighbouring crops overlap by `left + right` margin patches (4 + 4), so each
  crop adds a window of `crop_patches - left - right` patches (19);
- the tiling (rows, cols), rows * cols <= `max_crops` (8), is chosen for the image minus
  the margins: candidates sorted by (area, rows), each needing the scale
  min(rows * window / h, cols * window / w); if every candidate shrinks the image, the
  one that shrinks it least (first of ties), else the one that enlarges it least;
- the canvas is rows * window + margins by cols * window + margins px; its patch grid is
  pooled `pooling_size` (2x2) with ceil, as is the low-resolution view's (one crop: 27
  patches -> 14x14 = 196 tokens);
- visual tokens (`<im_patch>`) = low-res rows * cols + canvas rows * cols; the prompt also
  holds `<im_col>` after every row and start/end markers, which are text.

Resolution policy (`vlmcli.tiling.policy`): the one native knob is `max_crops`.
`--max-tiles N` and `--max-pixels P` cap it (at N, at floor(P / crop^2)); `--min-pixels P`
raises it to ceil(P / crop^2) when that is above the default. Raising `max_crops` only
offers larger tilings: the processor still picks the smallest one that covers the image,
so a small image keeps its size (best effort; `--dry-run` shows the plan). The low-res
view is not counted as a tile of the canvas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from vlmcli.errors import ConfigError
from vlmcli.tiling.plan import ImagePlan
from vlmcli.tiling.policy import ResolutionPolicy

_INF = float("inf")


@dataclass(frozen=True)
class Molmo2Spec:
    """What Molmo 2 token accounting needs. Defaults: allenai/Molmo2-8B."""

    crop_size: int = 378
    """Square side of every crop and of the low-res view (`image_processor.size`)."""
    patch_size: int = 14
    max_crops: int = 8
    left_margin: int = 4
    """Overlap margins in patches (`overlap_margins`)."""
    right_margin: int = 4
    pooling_h: int = 2
    pooling_w: int = 2

    def __post_init__(self) -> None:
        for name in ("crop_size", "patch_size", "max_crops", "pooling_h", "pooling_w"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"Molmo 2 {name} must be a positive integer, not {value!r}.")
        if self.left_margin < 0 or self.right_margin < 0 or self.window_patches < 1:
            raise ConfigError(
                f"Molmo 2 overlap margins {self.left_margin}+{self.right_margin} leave no window in a "
                f"{self.crop_patches}-patch crop."
            )

    @property
    def crop_patches(self) -> int:
        return self.crop_size // self.patch_size

    @property
    def window_patches(self) -> int:
        return self.crop_patches - self.left_margin - self.right_margin

    @property
    def window_size(self) -> int:
        return self.window_patches * self.patch_size

    @property
    def margin_size(self) -> int:
        return (self.left_margin + self.right_margin) * self.patch_size


def _scale(target: int, size: int) -> Fraction | float:
    """target / size as the processor's float division gives it (size <= 0 for tiny images)."""
    return _INF if size == 0 else Fraction(target, size)


def select_tiling(height: int, width: int, *, window: int, max_crops: int) -> tuple[int, int]:
    """(rows, cols) of crops for a `height` x `width` area (`select_tiling` in transformers)."""
    tilings = sorted(
        (
            (rows, cols)
            for rows in range(1, max_crops + 1)
            for cols in range(1, max_crops + 1)
            if rows * cols <= max_crops
        ),
        key=lambda t: (t[0] * t[1], t[0]),
    )
    scales = [min(_scale(rows * window, height), _scale(cols * window, width)) for rows, cols in tilings]
    if all(s < 1 for s in scales):
        best = max(scales)  # the least shrinking; max() / index() keep the first of ties
    else:
        best = min(s for s in scales if s >= 1)  # the least enlarging
    return tilings[scales.index(best)]


def molmo2_max_crops(spec: Molmo2Spec, policy: ResolutionPolicy) -> int:
    """The `max_crops` that applies `policy` (caps lower it, a floor raises it)."""
    _, most = policy.tile_range(spec.crop_size, native_most=spec.max_crops, slack=1.0)  # its grids go up to `most`
    return most


def _pooled(patches: int, pool: int) -> int:
    return math.ceil(patches / pool)


def plan_molmo2(spec: Molmo2Spec, policy: ResolutionPolicy, *, width: int, height: int) -> ImagePlan:
    """Crop grid, canvas and `<im_patch>` count of one `width` x `height` image."""
    max_crops = molmo2_max_crops(spec, policy)
    rows, cols = select_tiling(
        height - spec.margin_size, width - spec.margin_size, window=spec.window_size, max_crops=max_crops
    )
    canvas_h = rows * spec.window_size + spec.margin_size
    canvas_w = cols * spec.window_size + spec.margin_size
    high = _pooled(canvas_h // spec.patch_size, spec.pooling_h) * _pooled(canvas_w // spec.patch_size, spec.pooling_w)
    low = _pooled(spec.crop_patches, spec.pooling_h) * _pooled(spec.crop_patches, spec.pooling_w)
    return ImagePlan(
        width=width,
        height=height,
        resized=(canvas_w, canvas_h),
        grid=(rows, cols),
        tiles=rows * cols + 1,
        visual_tokens=low + high,
    )


def molmo2_frame_tokens(*, crop_size: int, patch_size: int, pooling: tuple[int, int]) -> tuple[int, int]:
    """(rows, cols) of pooled tokens of one video frame (frames are resized to one crop)."""
    patches = crop_size // patch_size
    return _pooled(patches, pooling[0]), _pooled(patches, pooling[1])
