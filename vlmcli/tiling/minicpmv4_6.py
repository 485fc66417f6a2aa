"""MiniCPM-V 4.6 slicing (transformers' `minicpmv4_6`, `MiniCPMV4_6ImageProcessor`).

The image processor turns one `width x height` image into a thumbnail plus, for a large
image, a grid of slices, each sized near `scale_resolution`^2 pixels:

1. Grid (`get_sliced_grid`, only with `slice_mode`): ratio = w * h / S^2 (S the
   `scale_resolution`), multiple = min(ceil(ratio), max_slice_nums). multiple <= 1: no
   grid. Otherwise among 1 < n <= max_slice_nums, n in {multiple-1, multiple, multiple+1},
   every rows x cols = n whose log aspect ratio log(cols / rows) is closest to
   log(w / h) (ties: more rows).
2. Thumbnail (`find_best_resize`): when w * h > S^2, or always when there is no grid, the
   image is scaled to area ~S^2 keeping its aspect ratio (h' = int(S / sqrt(w / h)),
   w' = int(h' * w / h)); each side is then rounded to a multiple of patch * merge
   (merge 4 for "16x" downsampling, 2 for "4x"; Python's round, at least one step).
3. Slices (`get_refine_size`): the image is resized so that each of the rows x cols cells
   gets the thumbnail rule with upscaling on, applied to the cell size (w rounded to a
   multiple of cols, h of rows, divided by them); every slice has that one size.

Each crop (thumbnail or slice) of hp x wp patches becomes hp * wp / 16 `<|image_pad|>`
tokens (/ 4 in "4x" mode): a window-attention merger inside the ViT halves each side, the
MLP merger halves it again. The prompt wraps the thumbnail in `<image>...</image>` and each
slice in `<slice>...</slice>` (markers not counted here).

These are float formulas in transformers; they are mirrored operation for operation so
that the plan is exactly what the processor does.

Policy: the native knob is `max_slice_nums`. `--max-tiles` / `--max-pixels` cap it
(`policy.tile_cap(S, global_views=1)` slices, the slice being an S x S tile and the
thumbnail counted as one), lowered further when a particular image would cost more with
fewer slices than without the cap (the grid candidates change with the limit), so a cap
never raises the cost, and, under `--max-pixels P`, while any image's real crops (the
thumbnail and every slice, sides rounded as the processor rounds them) add up to more
than P. An image whose thumbnail alone is over P (a thin image: its short side is at
least one 56-px step) is refused (InputError). `--min-pixels` raises
it to ceil(min_pixels / S^2) slices: a large image may then be cut finer than the
checkpoint's default. The grid follows the image's own area, so a floor above what an
image holds adds no slices to it (the plan shows the real cost).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from vlmcli.errors import ConfigError, InputError
from vlmcli.tiling.plan import ImagePlan
from vlmcli.tiling.policy import ResolutionPolicy
from vlmcli.tiling.refusal import about_image

DOWNSAMPLE_MODES = {"16x": (4, 16), "4x": (2, 4)}
"""downsample_mode -> (merge factor per side applied to the resize step, patches per token)."""


@dataclass(frozen=True)
class MiniCPMV4_6Spec:
    """What MiniCPM-V 4.6 token accounting needs. Defaults: openbmb/MiniCPM-V-4.6's processor."""

    scale_resolution: int = 448
    """`image_processor.scale_resolution`: the side S of the ~S x S thumbnail and slices."""
    patch_size: int = 14
    """`image_processor.patch_size`: ViT patch side in pixels."""
    max_slice_nums: int = 9
    """`image_processor.max_slice_nums`: most slices per image."""
    slice_mode: bool = True
    """`image_processor.slice_mode`: off, every image is one thumbnail."""
    downsample_mode: str = "16x"
    """`image_processor.downsample_mode`: "16x" (16 patches per token) or "4x"."""

    def __post_init__(self) -> None:
        for name in ("scale_resolution", "patch_size", "max_slice_nums"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"MiniCPM-V {name} must be a positive integer, not {value!r}.")
        if self.downsample_mode not in DOWNSAMPLE_MODES:
            raise ConfigError(
                f"MiniCPM-V downsample_mode must be one of {sorted(DOWNSAMPLE_MODES)}, not {self.downsample_mode!r}."
            )

    @property
    def step(self) -> int:
        """Pixels every resized side is a multiple of: patch * merge."""
        return self.patch_size * DOWNSAMPLE_MODES[self.downsample_mode][0]

    @property
    def patches_per_token(self) -> int:
        return DOWNSAMPLE_MODES[self.downsample_mode][1]


def ensure_divide(length: float, divisor: int) -> int:
    """`length` rounded (Python's round) to a multiple of `divisor`, at least `divisor`."""
    return max(round(length / divisor) * divisor, divisor)


def best_resize(
    spec: MiniCPMV4_6Spec, *, height: float, width: float, allow_upscale: bool
) -> tuple[int, int]:
    """(height, width) of a crop: area ~S^2 when large (or upscaling), sides rounded to `spec.step`."""
    scale = spec.scale_resolution
    if height * width > scale * scale or allow_upscale:
        aspect_ratio = width / height
        height = int(scale / math.sqrt(aspect_ratio))
        width = int(height * aspect_ratio)
    return ensure_divide(height, spec.step), ensure_divide(width, spec.step)


def sliced_grid(*, height: int, width: int, scale: int, max_slice_nums: int) -> tuple[int, int] | None:
    """(rows, cols) of slices, or None when the image is not sliced (`get_sliced_grid`)."""
    log_ratio = math.log(width / height)
    ratio = width * height / (scale * scale)
    multiple = min(math.ceil(ratio), max_slice_nums)
    if multiple <= 1:
        return None
    best, min_error = (1, 1), float("inf")
    for slices in (multiple - 1, multiple, multiple + 1):
        if slices == 1 or slices > max_slice_nums:
            continue
        for rows in range(1, slices + 1):
            if slices % rows:
                continue
            cols = slices // rows
            error = abs(log_ratio - math.log(cols / rows))
            if error < min_error or (error == min_error and rows > best[0]):
                best, min_error = (rows, cols), error
    return best


@dataclass(frozen=True)
class MiniCPMV4_6Layout:
    """How the processor cuts one image: the thumbnail and the slices (grid None: none)."""

    thumbnail: tuple[int, int]
    """(height, width) of the thumbnail in pixels."""
    grid: tuple[int, int] | None
    """(rows, cols) of slices."""
    slice_size: tuple[int, int]
    """(height, width) of every slice ((0, 0) without a grid)."""

    @property
    def slices(self) -> int:
        return self.grid[0] * self.grid[1] if self.grid else 0


def minicpmv4_6_layout(spec: MiniCPMV4_6Spec, *, width: int, height: int) -> MiniCPMV4_6Layout:
    """The thumbnail and slices the image processor makes of a `width x height` image."""
    for name, value in {"width": width, "height": height}.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, not {value!r}.")
    grid = None
    if spec.slice_mode:
        grid = sliced_grid(
            height=height, width=width, scale=spec.scale_resolution, max_slice_nums=spec.max_slice_nums
        )
    thumbnail = best_resize(spec, height=height, width=width, allow_upscale=grid is None)
    if grid is None:
        return MiniCPMV4_6Layout(thumbnail=thumbnail, grid=None, slice_size=(0, 0))
    rows, cols = grid
    refine_height, refine_width = ensure_divide(height, rows), ensure_divide(width, cols)
    cell = best_resize(spec, height=refine_height / rows, width=refine_width / cols, allow_upscale=True)
    return MiniCPMV4_6Layout(thumbnail=thumbnail, grid=grid, slice_size=cell)


def crop_tokens(spec: MiniCPMV4_6Spec, size: tuple[int, int]) -> int:
    """Visual tokens of one (height, width) crop: its patches / 16 (or / 4 in "4x" mode)."""
    height, width = size
    return (height // spec.patch_size) * (width // spec.patch_size) // spec.patches_per_token


def layout_tokens(spec: MiniCPMV4_6Spec, layout: MiniCPMV4_6Layout) -> int:
    return crop_tokens(spec, layout.thumbnail) + layout.slices * crop_tokens(spec, layout.slice_size)


def layout_pixels(layout: MiniCPMV4_6Layout) -> int:
    """Pixels the vision tower gets for one image: the thumbnail and every slice."""
    return layout.thumbnail[0] * layout.thumbnail[1] + layout.slices * layout.slice_size[0] * layout.slice_size[1]


def _cost(spec: MiniCPMV4_6Spec, limit: int, *, width: int, height: int) -> int:
    """Visual tokens of a `width x height` image with `max_slice_nums` = `limit`."""
    capped = replace(spec, max_slice_nums=limit)
    return layout_tokens(capped, minicpmv4_6_layout(capped, width=width, height=height))


def _pixels(spec: MiniCPMV4_6Spec, limit: int, *, width: int, height: int) -> int:
    """Pixels encoded for a `width x height` image with `max_slice_nums` = `limit`."""
    capped = replace(spec, max_slice_nums=limit)
    return layout_pixels(minicpmv4_6_layout(capped, width=width, height=height))


def minicpmv4_6_slice_limit(
    spec: MiniCPMV4_6Spec, policy: ResolutionPolicy, sizes: list[tuple[int, int]]
) -> int:
    """The one `max_slice_nums` to pass for a prompt's (width, height) images under `policy`.

    The floor raises the checkpoint's limit to ceil(min_pixels / S^2); the caps lower it to
    `tile_cap(S, global_views=1)`, and further (down to 1: no slices) while any of the images
    would cost more than it does under the policy without caps or, under `max_pixels`, get
    more pixels than that (thumbnail included). InputError for an image whose thumbnail
    alone has more pixels than `max_pixels`."""
    tile = spec.scale_resolution
    policy.tile_cap(tile)  # a pixel cap below one slice is refused, as for every tiled family
    if policy.is_native:
        return spec.max_slice_nums
    floor, cap = policy.tile_bounds(tile, global_views=1)  # the thumbnail counts as a tile
    most = max(spec.max_slice_nums, floor) if spec.slice_mode else spec.max_slice_nums
    if policy.max_pixels is None and (cap is None or cap >= most):
        return most
    uncapped = [_cost(spec, most, width=w, height=h) for w, h in sizes]
    limit = most if cap is None else min(most, cap)

    def over(limit: int) -> bool:
        return any(
            _cost(spec, limit, width=w, height=h) > u
            or (policy.max_pixels is not None and _pixels(spec, limit, width=w, height=h) > policy.max_pixels)
            for (w, h), u in zip(sizes, uncapped)
        )

    while limit > 1 and over(limit):
        limit -= 1
    if policy.max_pixels is not None:
        _check_thumbnails(spec, policy.max_pixels, sizes)
    return limit


def _check_thumbnails(spec: MiniCPMV4_6Spec, max_pixels: int, sizes: list[tuple[int, int]]) -> None:
    """InputError for an image whose thumbnail alone (its least cost) is over `max_pixels`."""
    for width, height in sizes:
        thumbnail = minicpmv4_6_layout(replace(spec, max_slice_nums=1), width=width, height=height).thumbnail
        if thumbnail[0] * thumbnail[1] > max_pixels:
            raise about_image(InputError(
                f"A {width}x{height} image is at least a {thumbnail[1]}x{thumbnail[0]} thumbnail "
                f"({thumbnail[0] * thumbnail[1]} px) on this model, more than --max-pixels {max_pixels}; "
                "raise --max-pixels or crop it to a less elongated shape."
            ), width=width, height=height)


def plan_minicpmv4_6(spec: MiniCPMV4_6Spec, policy: ResolutionPolicy, *, width: int, height: int) -> ImagePlan:
    """The plan for one `width x height` image on a MiniCPM-V 4.6 model under `policy`."""
    limit = minicpmv4_6_slice_limit(spec, policy, [(width, height)])
    spec = replace(spec, max_slice_nums=limit)
    layout = minicpmv4_6_layout(spec, width=width, height=height)
    if layout.grid is None:
        canvas, grid = layout.thumbnail, (1, 1)
    else:
        grid = layout.grid
        canvas = (layout.slice_size[0] * grid[0], layout.slice_size[1] * grid[1])
    return ImagePlan(
        width=width,
        height=height,
        resized=(canvas[1], canvas[0]),
        grid=grid,
        tiles=1 + layout.slices,
        visual_tokens=layout_tokens(spec, layout),
    )
