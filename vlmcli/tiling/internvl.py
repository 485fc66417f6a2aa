"""InternVL dynamic tiling (transformers' `internvl`, image processor `GotOcr2ImageProcessor`).

With `crop_to_patches` (the InternVL processor turns it on by default) the processor:

1. lists every (cols, rows) grid with min_patches <= cols * rows <= max_patches, sorted by
   tile count (stable: cols, then rows, ascending before the sort);
2. picks the grid whose aspect ratio cols / rows is closest to width / height; on a tie a
   later (larger) grid wins while the image area is more than half the grid's pixel area
   (`get_optimal_tiled_canvas`);
3. resizes the image to (cols * tile, rows * tile), cuts it row-major into tiles, and adds
   the whole image squashed to one tile (the thumbnail) when there is more than one tile.

Without `crop_to_patches` the image is squashed to one tile. Every tile becomes
`image_seq_length` `<IMG_CONTEXT>` tokens ((tile / patch)^2 * downsample_ratio^2: 256 for
InternVL3's 448-px tiles), wrapped once per image in `<img>` ... `</img>` (not counted).

Policy: `--max-tiles` / `--max-pixels` cap `max_patches` (the smaller of the cap and the
checkpoint's, so never more tiles than the default: the capped grid list is a prefix of
the default one, see `internvl_patch_bounds`); `--max-pixels P` counts every tile the
encoder gets, the thumbnail of a split included: at most P // tile^2 - 1 crops (one crop,
the unsplit image with no thumbnail, when that is below 2). `--min-pixels` raises
`min_patches` to ceil(P / tile^2) crops (and `max_patches` with it when needed), caps
winning.
"""

from __future__ import annotations

from dataclasses import dataclass

from vlmcli.errors import ConfigError
from vlmcli.tiling.plan import ImagePlan
from vlmcli.tiling.policy import ResolutionPolicy


@dataclass(frozen=True)
class InternVLSpec:
    """What InternVL token accounting needs. Defaults: InternVL3-1B-hf."""

    tile: int = 448
    """`image_processor.size` (height == width): the tile side in pixels."""
    image_seq_length: int = 256
    """`processor.image_seq_length`: tokens per tile."""
    min_patches: int = 1
    """`image_processor.min_patches`."""
    max_patches: int = 12
    """`image_processor.max_patches`."""
    crop_to_patches: bool = True
    """The effective `crop_to_patches` (the processor's default, True, over the image processor's)."""

    def __post_init__(self) -> None:
        for name in ("tile", "image_seq_length", "min_patches", "max_patches"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"InternVL {name} must be a positive integer, not {value!r}.")


def internvl_aspect_ratios(min_patches: int, max_patches: int) -> list[tuple[int, int]]:
    """(cols, rows) grids with min <= cols * rows <= max, by tile count (`get_all_supported_aspect_ratios`)."""
    grids = [
        (cols, rows)
        for cols in range(1, max_patches + 1)
        for rows in range(1, max_patches + 1)
        if min_patches <= cols * rows <= max_patches
    ]
    return sorted(grids, key=lambda g: g[0] * g[1])


def internvl_grid(*, width: int, height: int, tile: int, min_patches: int, max_patches: int) -> tuple[int, int]:
    """(cols, rows) the processor picks for a `width x height` image (`get_optimal_tiled_canvas`)."""
    aspect_ratio = width / height
    area = width * height
    best_diff = float("inf")
    best = (1, 1)
    for grid in internvl_aspect_ratios(min_patches, max_patches):
        diff = abs(aspect_ratio - grid[0] / grid[1])
        if diff < best_diff:
            best_diff, best = diff, grid
        elif diff == best_diff and area > 0.5 * tile * tile * grid[0] * grid[1]:
            best = grid
    return best


def internvl_patch_bounds(spec: InternVLSpec, policy: ResolutionPolicy) -> tuple[int, int]:
    """(min_patches, max_patches) to pass to the processor so it honours `policy`.

    The caps lower `max_patches` (never below 1, never above the checkpoint's unless the
    floor asks for more; `max_pixels` counts the thumbnail a split adds); the floor raises
    `min_patches` to ceil(min_pixels / tile^2)."""
    if policy.is_native:
        return spec.min_patches, spec.max_patches
    floor, most = policy.tile_range(spec.tile, native_most=spec.max_patches, global_views=1)  # + the thumbnail
    least = min(max(spec.min_patches, floor), most)
    return least, most


def plan_internvl(spec: InternVLSpec, policy: ResolutionPolicy, *, width: int, height: int) -> ImagePlan:
    """The plan for one `width x height` image on an InternVL model under `policy`."""
    for name, value in {"width": width, "height": height}.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, not {value!r}.")
    if not spec.crop_to_patches:
        if policy.min_pixels is not None and policy.min_tiles(spec.tile) > 1:
            raise ConfigError(
                f"--min-pixels {policy.min_pixels} needs more than one tile, but this InternVL "
                "checkpoint does not crop images to tiles (crop_to_patches is off)."
            )
        policy.tile_cap(spec.tile)  # a pixel cap below one tile is refused, as for every tiled family
        return ImagePlan(width, height, (spec.tile, spec.tile), (1, 1), 1, spec.image_seq_length)
    least, most = internvl_patch_bounds(spec, policy)
    cols, rows = internvl_grid(width=width, height=height, tile=spec.tile, min_patches=least, max_patches=most)
    crops = cols * rows
    tiles = crops + 1 if crops > 1 else 1
    return ImagePlan(
        width=width,
        height=height,
        resized=(cols * spec.tile, rows * spec.tile),
        grid=(rows, cols),
        tiles=tiles,
        visual_tokens=tiles * spec.image_seq_length,
    )
