"""LFM2-VL (`lfm2_vl`, e.g. LiquidAI/LFM2-VL-450M) resolution planning.

The image processor (transformers `Lfm2VlImageProcessor`) treats an image one of two ways:

1. Single view (the default for small and medium images): a Qwen-like `smart_resize` to
   whole cells (`encoder_patch_size * downsample_factor` px, 32 for the hub models), the
   pixel count kept within [`min_image_tokens`, `max_image_tokens`] cells (64..256), aspect
   ratio kept. One visual token per cell (the SigLIP2 NaFlex tower sees the real size, the
   projector unshuffles 2x2 patches).
2. Tiles plus a thumbnail, when splitting is on (`do_image_splitting`, or min/max tiles
   not both 1) and the image is "too large": its size rounded to cells exceeds
   `max_image_tokens` cells times `max_pixels_tolerance` (2.0). The image is stretched onto
   the grid of `tile_size` (512) px tiles, between `min_tiles` (2) and `max_tiles` (10),
   whose aspect ratio is closest to the image's (ties go to larger grids when the image is
   larger than half of them), each tile (tile / patch / factor)^2 tokens (256), then, with
   `use_thumbnail`, the single-view resize of step 1 as a thumbnail.

The prompt gets `<|image_start|>`, per tile `<|img_row_R_col_C|>` and its `<image>` run,
then `<|img_thumbnail|>` and the thumbnail's run, then `<|image_end|>`; `visual_tokens`
counts the `<image>` placeholders only.

Resolution policy (`vlmcli.tiling.policy`), mapped onto the native knobs once per call
(`lfm2_vl_settings`; the same for every image, since one processor call shares them), so
the plan is always the processor's own arithmetic with those knobs:

- `--max-tiles N` caps `max_tiles` (min(checkpoint, N)); below 2 (one tile) splitting is
  off and every image gets the single view, which is at most `max_image_tokens` cells.
- `--max-pixels P` caps every view the encoder gets, the thumbnail included: `max_tiles`
  becomes at most floor((P - thumbnail) / tile^2), the thumbnail counted at the most the
  processor lets it have (`thumbnail_bound`: one tile, or `max_image_tokens` cells if
  more); when that is below 2, or P is below `max_image_tokens` cells, splitting is off and
  `max_image_tokens` becomes min(checkpoint, floor(P / cell^2)) (ConfigError "below one"
  when P is below one cell) and `min_image_tokens` at most a quarter of that, so that the
  upscale of small images, which rounds each side up to whole cells, stays within P. A cap never costs more than no flag: fewer tiles or a smaller
  single view.
- `--min-pixels P` (the floor): up to half of `max_image_tokens` cells it raises
  `min_image_tokens` to ceil(P / cell^2) (small images are upscaled to it); above that,
  every image is split (`max_pixels_tolerance` 0) into at least N = ceil(P / tile^2) tiles
  (`min_tiles`) and at most the checkpoint's `max_tiles`, or `FLOOR_MAX_TILES` when N is
  above it (`floor_tiles`), so that the grid nearest the image's aspect among those meeting the
  floor is chosen (a square photo gets a square grid, not a 1 x N or 2 x N/2 strip); N is
  at most 4/5 of that limit (a floor of more: the grids near the limit). Caps win over
  the floor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from vlmcli.errors import ConfigError, InputError
from vlmcli.tiling.plan import ImagePlan
from vlmcli.tiling.policy import FLOOR_SLACK, ResolutionPolicy
from vlmcli.tiling.refusal import about_image

FLOOR_MAX_TILES = 10
"""Most tiles a `--min-pixels` floor may ask for (the hub tokenizers' row/col markers go to 10)."""


@dataclass(frozen=True)
class Lfm2VlSpec:
    """The processor's knobs that token accounting needs. Defaults: LiquidAI/LFM2-VL-450M/1.6B."""

    encoder_patch_size: int = 16
    downsample_factor: int = 2
    tile_size: int = 512
    min_tiles: int = 2
    max_tiles: int = 10
    min_image_tokens: int = 64
    max_image_tokens: int = 256
    max_pixels_tolerance: float = 2.0
    do_image_splitting: bool = True
    use_thumbnail: bool = True

    def __post_init__(self) -> None:
        for name in ("encoder_patch_size", "downsample_factor", "tile_size", "min_tiles", "max_tiles",
                     "min_image_tokens", "max_image_tokens"):  # fmt: skip
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"LFM2-VL {name} must be a positive integer, not {value!r}.")
        if self.max_pixels_tolerance < 0:
            raise ConfigError(f"LFM2-VL max_pixels_tolerance must be >= 0, not {self.max_pixels_tolerance!r}.")

    @property
    def cell(self) -> int:
        """Pixels per side of one visual token (patch x downsample factor)."""
        return self.encoder_patch_size * self.downsample_factor

    @property
    def splits(self) -> bool:
        """Whether large images are cut into tiles (the processor's own test)."""
        return self.do_image_splitting and not self.min_tiles == self.max_tiles == 1

    @property
    def tokens_per_tile(self) -> int:
        return math.ceil((self.tile_size // self.encoder_patch_size) / self.downsample_factor) ** 2

    @property
    def max_num_patches(self) -> int:
        """Patches every view is padded to (the processor's `max_num_patches`)."""
        tile_patches = (self.tile_size // self.encoder_patch_size) ** 2 if self.do_image_splitting else 0
        return max(self.max_image_tokens * self.downsample_factor**2, tile_patches)


def _round_by_factor(number: float, factor: int) -> int:
    return round(number / factor) * factor


def lfm2_vl_smart_resize(spec: Lfm2VlSpec, *, width: int, height: int) -> tuple[int, int]:
    """(width, height) of the single view / thumbnail, with the processor's float operations."""
    factor = spec.cell
    min_pixels = spec.min_image_tokens * spec.encoder_patch_size**2 * spec.downsample_factor**2
    max_pixels = spec.max_image_tokens * spec.encoder_patch_size**2 * spec.downsample_factor**2
    h_bar = max(factor, _round_by_factor(height, factor))
    w_bar = max(factor, _round_by_factor(width, factor))
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return w_bar, h_bar


def _is_too_large(spec: Lfm2VlSpec, *, width: int, height: int) -> bool:
    factor = spec.cell
    h_bar = max(spec.encoder_patch_size, _round_by_factor(height, factor))
    w_bar = max(spec.encoder_patch_size, _round_by_factor(width, factor))
    return h_bar * w_bar > spec.max_image_tokens * spec.encoder_patch_size**2 * spec.downsample_factor**2 * (
        spec.max_pixels_tolerance
    )


def _target_ratios(min_tiles: int, max_tiles: int) -> list[tuple[int, int]]:
    ratios = [
        (w, h)
        for n in range(min_tiles, max_tiles + 1)
        for w in range(1, n + 1)
        for h in range(1, n + 1)
        if min_tiles <= w * h <= max_tiles
    ]
    return sorted(set(ratios), key=lambda x: x[0] * x[1])


def lfm2_vl_grid(spec: Lfm2VlSpec, *, width: int, height: int) -> tuple[int, int]:
    """(cols, rows) of the tile grid (`find_closest_aspect_ratio`, same iteration order)."""
    aspect = width / height
    best_diff, best = float("inf"), (1, 1)
    area = width * height
    for ratio in _target_ratios(spec.min_tiles, spec.max_tiles):
        diff = abs(aspect - ratio[0] / ratio[1])
        if diff < best_diff:
            best_diff, best = diff, ratio
        elif diff == best_diff and area > 0.5 * spec.tile_size * spec.tile_size * ratio[0] * ratio[1]:
            best = ratio
    return best


def _view_tokens(spec: Lfm2VlSpec, *, width: int, height: int) -> int:
    ph = math.ceil((height // spec.encoder_patch_size) / spec.downsample_factor)
    pw = math.ceil((width // spec.encoder_patch_size) / spec.downsample_factor)
    return ph * pw


def thumbnail_bound(spec: Lfm2VlSpec) -> int:
    """Most pixels a split image's thumbnail can have: `smart_resize` keeps it within
    `max_image_tokens` cells except where a thin image's short side is held at one cell,
    and the processor refuses any view over `max_num_patches` (`plan_lfm2_vl_with`)."""
    return max(spec.max_image_tokens * spec.cell**2, spec.max_num_patches * spec.encoder_patch_size**2)


def floor_tiles(spec: Lfm2VlSpec, min_pixels: int) -> tuple[int, int]:
    """(min_tiles, max_tiles) for a floor of `min_pixels` that asks for tiles: at least
    N = ceil(P / tile^2) tiles (2 at the least) and at most the checkpoint's `max_tiles`, or
    when N is above it the limit (`FLOOR_MAX_TILES`), so the processor's nearest-aspect choice has
    grids of the image's own shape among those meeting the floor (a square: 3 x 3 for N = 5
    to 8); exactly N tiles was often only strips (2 x 4, 1 x 5). N is at most limit /
    `FLOOR_SLACK` (8 of 10): a floor above that (up to 10 tiles, or one that no grid within
    the limit meets) gets the grids from there to the limit, never only 1 x 10 or 2 x 5."""
    top = max(spec.max_tiles, FLOOR_MAX_TILES)
    need = max(2, math.ceil(min_pixels / (spec.tile_size * spec.tile_size)))
    need = max(spec.min_tiles, min(need, math.ceil(top / FLOOR_SLACK)))
    return need, (spec.max_tiles if need <= spec.max_tiles else top)


def lfm2_vl_settings(spec: Lfm2VlSpec, policy: ResolutionPolicy) -> Lfm2VlSpec:
    """The checkpoint's knobs with `policy` applied (see the module rules); the processor is
    called with exactly these."""
    if policy.is_native:
        return spec
    knobs = spec
    cell_px = spec.cell * spec.cell
    tile_px = spec.tile_size * spec.tile_size
    # the floor
    if policy.min_pixels is not None:
        cells = math.ceil(policy.min_pixels / cell_px)
        if cells <= spec.max_image_tokens // 2:  # room for smart_resize's rounding up
            knobs = replace(knobs, min_image_tokens=max(knobs.min_image_tokens, cells))
        else:
            least, most = floor_tiles(spec, policy.min_pixels)
            knobs = replace(
                knobs, do_image_splitting=True, max_pixels_tolerance=0.0, min_tiles=least, max_tiles=most,
            )  # fmt: skip
    # the caps
    caps = []
    if policy.max_tiles is not None:
        caps.append(policy.max_tiles)
    if policy.max_pixels is not None:
        if policy.max_pixels < cell_px:
            raise ConfigError(
                f"--max-pixels {policy.max_pixels} is below one {spec.cell}x{spec.cell} cell ({cell_px} px), "
                "the smallest view this model takes."
            )
        thumb = thumbnail_bound(knobs) if knobs.use_thumbnail else 0
        caps.append(max(0, policy.max_pixels - thumb) // tile_px)  # the thumbnail counts too
    if caps:
        most = min(caps)
        single = most < 2 or (policy.max_pixels is not None and policy.max_pixels // cell_px < spec.max_image_tokens)
        if not single and knobs.splits and most < knobs.max_tiles:
            knobs = replace(knobs, max_tiles=most, min_tiles=min(knobs.min_tiles, most))
        if single:
            top = spec.max_image_tokens
            if policy.max_pixels is not None:
                top = min(top, policy.max_pixels // cell_px)
            # min_tiles = max_tiles = 1 turns splitting off; `do_image_splitting` stays as it was,
            # so that views keep being padded to a tile's patches (room for thin images)
            knobs = replace(
                knobs, min_tiles=1, max_tiles=1,
                max_pixels_tolerance=spec.max_pixels_tolerance,
                max_image_tokens=top, min_image_tokens=min(knobs.min_image_tokens, max(1, top // 4)),
            )  # fmt: skip
    return knobs


def plan_lfm2_vl_with(knobs: Lfm2VlSpec, *, width: int, height: int) -> ImagePlan:
    """The processor's plan for one image under exactly these knobs (no policy)."""
    for name, value in {"width": width, "height": height}.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, not {value!r}.")
    view_w, view_h = lfm2_vl_smart_resize(knobs, width=width, height=height)
    view_tokens = _view_tokens(knobs, width=view_w, height=view_h)
    if knobs.splits and _is_too_large(knobs, width=width, height=height):
        cols, rows = lfm2_vl_grid(knobs, width=width, height=height)
        if rows > 1 or cols > 1:
            thumb = view_tokens if knobs.use_thumbnail else 0
            if thumb and (view_w // knobs.encoder_patch_size) * (view_h // knobs.encoder_patch_size) > (
                knobs.max_num_patches
            ):
                raise about_image(
                    InputError(f"A {width}x{height} image's thumbnail is larger than this LFM2-VL processor pads to; pad or crop it to a less elongated shape first."), width=width, height=height
                )
            return ImagePlan(
                width=width, height=height, resized=(cols * knobs.tile_size, rows * knobs.tile_size),
                grid=(rows, cols), tiles=rows * cols + int(knobs.use_thumbnail),
                visual_tokens=rows * cols * knobs.tokens_per_tile + thumb,
            )  # fmt: skip
        # a 1x1 grid: the processor keeps the single view's tokens for the 512-px stretch
        return ImagePlan(
            width=width, height=height, resized=(knobs.tile_size, knobs.tile_size), grid=(1, 1), tiles=1,
            visual_tokens=view_tokens,
        )  # fmt: skip
    if (view_w // knobs.encoder_patch_size) * (view_h // knobs.encoder_patch_size) > knobs.max_num_patches:
        raise about_image(InputError(
            f"A {width}x{height} image is too thin for this LFM2-VL processor: its {view_w}x{view_h} view has more "
            "patches than the processor pads to; pad or crop it to a less elongated shape first."
        ), width=width, height=height)
    return ImagePlan(width=width, height=height, resized=(view_w, view_h), grid=(1, 1), tiles=1,
                     visual_tokens=view_tokens)  # fmt: skip


def plan_lfm2_vl(spec: Lfm2VlSpec, policy: ResolutionPolicy, *, width: int, height: int) -> ImagePlan:
    """The plan for one `width x height` image on an LFM2-VL model under `policy`."""
    return plan_lfm2_vl_with(lfm2_vl_settings(spec, policy), width=width, height=height)
