"""LLaVA-family visual-token accounting: LLaVA 1.5, LLaVA-NeXT and LLaVA-OneVision.

Per encoder image, a ViT with `image_size` input and `patch_size` patches yields
p = image_size // patch_size patches per side, p^2 tokens plus `num_additional_image_tokens`
(1 for CLIP's CLS, 0 for SigLIP); the "default" feature-select strategy drops the first.

LLaVA 1.5 has one fixed-size image: p^2 (+extra, -1 for "default") tokens. vlmcli adds its
own anyres tiling on top (`plan_llava15`): a grid of crops plus a thumbnail, each one image.

LLaVA-NeXT "anyres" (transformers `_get_number_of_features`): pick the pinpoint canvas with
`select_best_resolution`; its crops are stitched into a (p*rows) x (p*cols) feature map;
the rows (or columns) that only cover padding are removed ("unpadding", computed from the
original size with round(., 7) then int()); each remaining feature row gets one newline
embedding; the base image (whole picture squashed to one crop) adds p^2 (+extra). Finally
"default" subtracts 1.

LLaVA-OneVision: same, with no CLS, plus "anyres_max_N" pooling: when the unpadded map
has more than ~N crops' worth of features (ratio sqrt(h*w / (N*p^2)) > 1.1) both sides
are int()-divided by that ratio. With several images in one prompt, each image is the
base view only: p^2 + 1 newline.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, replace

from vlmcli.errors import ConfigError
from vlmcli.tiling.anyres_floor import FLOOR_SEARCH, crops_of, floor_canvas, shown_area
from vlmcli.tiling.grid import fit_content, grid_for, pinpoints_for, select_best_resolution
from vlmcli.tiling.plan import ImagePlan
from vlmcli.tiling.policy import ResolutionPolicy

Pinpoints = tuple[tuple[int, int], ...]
"""Candidate canvases as (height, width) pairs, as in `image_grid_pinpoints`."""


class SelectStrategy(str, enum.Enum):
    """`vision_feature_select_strategy`: DEFAULT drops the first (CLS) token, FULL keeps all."""

    DEFAULT = "default"
    FULL = "full"


def _positive(value: object, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, not {value!r}.")


def _check_size(width: int, height: int) -> None:
    _positive(width, "width")
    _positive(height, "height")


def _strategy(value: object) -> SelectStrategy:
    try:
        return SelectStrategy(value)
    except ValueError:
        raise ConfigError(f"vision_feature_select_strategy must be 'default' or 'full', not {value!r}.") from None


def _pinpoints(value: object, tile: int) -> Pinpoints:
    try:
        points = tuple((int(h), int(w)) for h, w in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ConfigError(f"image_grid_pinpoints must be (height, width) pairs, not {value!r}.") from None
    if not points or any(h < tile or w < tile or h % tile or w % tile for h, w in points):
        raise ConfigError(f"image_grid_pinpoints must be non-empty multiples of the {tile}px crop, not {value!r}.")
    return points


def parse_anyres_max(vision_aspect_ratio: str) -> int:
    """N from OneVision's `vision_aspect_ratio` "anyres_max_N"."""
    prefix = "anyres_max_"
    tail = vision_aspect_ratio[len(prefix) :] if vision_aspect_ratio.startswith(prefix) else ""
    if not tail.isdigit() or int(tail) < 1:
        raise ConfigError(f"vision_aspect_ratio must look like 'anyres_max_9', not {vision_aspect_ratio!r}.")
    return int(tail)


def unpadded_feature_size(
    *, orig_height: int, orig_width: int, patches_height: int, patches_width: int, scale_height: int, scale_width: int
) -> tuple[int, int]:
    """(rows, cols) of the stitched anyres feature map left after removing padding rows
    or columns (transformers' `_get_unpadded_features`, before newlines)."""
    current_height = patches_height * scale_height
    current_width = patches_width * scale_width
    if orig_width / orig_height > current_width / current_height:
        new_height = int(round(orig_height * (current_width / orig_width), 7))
        current_height -= ((current_height - new_height) // 2) * 2
    else:
        new_width = int(round(orig_width * (current_height / orig_height), 7))
        current_width -= ((current_width - new_width) // 2) * 2
    return current_height, current_width


def pool_to_max_patches(*, height: int, width: int, patches: int, max_num_patches: int) -> tuple[int, int]:
    """OneVision "anyres_max_N": shrink a (height, width) feature map by
    ratio = sqrt(h*w / (N * patches^2)) when ratio > 1.1 (each side int(side // ratio))."""
    ratio = math.sqrt(height * width / (max_num_patches * patches**2))
    if ratio > 1.1:
        return int(height // ratio), int(width // ratio)
    return height, width


@dataclass(frozen=True)
class LlavaSpec:
    """What LLaVA 1.5 (and vlmcli's tiling for it) needs. Defaults: llava-1.5-7b-hf."""

    image_size: int = 336
    """`vision_config.image_size` (= the processor's crop size): the tile side."""
    patch_size: int = 14
    """`vision_config.patch_size` (processor `patch_size`)."""
    vision_feature_select_strategy: SelectStrategy = SelectStrategy.DEFAULT
    """`config.vision_feature_select_strategy`."""
    num_additional_image_tokens: int = 1
    """processor `num_additional_image_tokens`: 1 for CLIP towers (CLS), 0 for SigLIP."""

    def __post_init__(self) -> None:
        _positive(self.image_size, "image_size")
        _positive(self.patch_size, "patch_size")
        if self.num_additional_image_tokens < 0:
            raise ConfigError("num_additional_image_tokens must be >= 0.")
        object.__setattr__(self, "vision_feature_select_strategy", _strategy(self.vision_feature_select_strategy))

    @property
    def patches_per_side(self) -> int:
        return self.image_size // self.patch_size

    @property
    def tokens_per_image(self) -> int:
        """Tokens of one encoder image: p^2 + extra, minus 1 under "default"."""
        dropped = 1 if self.vision_feature_select_strategy is SelectStrategy.DEFAULT else 0
        return self.patches_per_side**2 + self.num_additional_image_tokens - dropped


@dataclass(frozen=True)
class LlavaNextSpec(LlavaSpec):
    """What LLaVA-NeXT needs. Defaults: llava-v1.6 (CLIP-336, five 2-3 tile canvases)."""

    image_grid_pinpoints: Pinpoints = ((336, 672), (672, 336), (672, 672), (1008, 336), (336, 1008))
    """`config.image_grid_pinpoints` (= `image_processor.image_grid_pinpoints`)."""
    max_num_patches: int | None = None
    """N of OneVision's `config.vision_aspect_ratio` "anyres_max_N" (see `parse_anyres_max`);
    None (LLaVA-NeXT) disables the pooling."""
    multi_image_base_only: bool = False
    """OneVision: in a prompt with several images each uses only its base view (p^2 + 1)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "image_grid_pinpoints", _pinpoints(self.image_grid_pinpoints, self.image_size))
        if self.max_num_patches is not None:
            _positive(self.max_num_patches, "max_num_patches")


@dataclass(frozen=True)
class LlavaOnevisionSpec(LlavaNextSpec):
    """What LLaVA-OneVision needs. Defaults: llava-onevision-*-ov-hf (SigLIP-384, grids up to 6x6)."""

    image_size: int = 384
    patch_size: int = 14
    vision_feature_select_strategy: SelectStrategy = SelectStrategy.FULL
    num_additional_image_tokens: int = 0
    """OneVision's processor has no such knob: SigLIP has no CLS, so this stays 0."""
    image_grid_pinpoints: Pinpoints = tuple((r * 384, c * 384) for r in range(1, 7) for c in range(1, 7))
    max_num_patches: int | None = 9
    multi_image_base_only: bool = True


def anyres_canvas(spec: LlavaNextSpec, *, width: int, height: int) -> tuple[int, int]:
    """The (height, width) pinpoint canvas `select_best_resolution` picks for this image."""
    return select_best_resolution((height, width), spec.image_grid_pinpoints)


def anyres_visual_tokens(spec: LlavaNextSpec, *, width: int, height: int, multi_image: bool = False) -> int:
    """Image placeholder tokens for one `width x height` image (module docstring rules);
    `multi_image` (several images in the prompt) matters only with `multi_image_base_only`."""
    _check_size(width, height)
    p = spec.patches_per_side
    dropped = 1 if spec.vision_feature_select_strategy is SelectStrategy.DEFAULT else 0
    if multi_image and spec.multi_image_base_only:
        return p * p + 1 - dropped
    best_height, best_width = anyres_canvas(spec, width=width, height=height)
    rows, cols = unpadded_feature_size(
        orig_height=height,
        orig_width=width,
        patches_height=p,
        patches_width=p,
        scale_height=best_height // spec.image_size,
        scale_width=best_width // spec.image_size,
    )
    if spec.max_num_patches is not None:
        rows, cols = pool_to_max_patches(height=rows, width=cols, patches=p, max_num_patches=spec.max_num_patches)
    base = p * p + spec.num_additional_image_tokens
    return rows * cols + rows + base - dropped


def _base_view_check(spec: LlavaNextSpec, policy: ResolutionPolicy) -> None:
    """A LLaVA-NeXT/OneVision image is at least one crop plus its base view: two tiles,
    both counted by `max_pixels`."""
    least = 2 * spec.image_size**2
    if policy.max_pixels is not None and policy.max_pixels < least:
        raise ConfigError(
            f"--max-pixels {policy.max_pixels} is below the two {spec.image_size}x{spec.image_size} tiles "
            f"(one crop and the base view, {least} px) this model encodes per image at the least; "
            f"use --max-pixels {least} or more."
        )


def anyres_pinpoints(spec: LlavaNextSpec, policy: ResolutionPolicy) -> Pinpoints:
    """The `image_grid_pinpoints` to use under `policy`.

    The caps keep the checkpoint's canvases of at most the capped crops (every grid up to
    the cap when none is that small), so a cap never adds a canvas larger than the
    checkpoint's; `max_pixels` counts the base view too (crops <= max_pixels // tile^2 - 1).
    A floor (`min_pixels`) adds every grid of up to `FLOOR_SEARCH` x ceil(min_pixels /
    tile^2) crops (within the caps) after those: the image's own canvas is then picked by
    `anyres_input_size`, which hands the processor a size for which it picks that canvas."""
    tile = spec.image_size
    native = spec.image_grid_pinpoints
    native_most = max(crops_of(pt, tile) for pt in native)
    fewest, cap = policy.tile_bounds(tile, global_views=1)
    most = native_most if cap is None else min(native_most, cap)
    kept = tuple(pt for pt in native if crops_of(pt, tile) <= most) or tuple(pinpoints_for(most, tile))
    if policy.min_pixels is None:
        return kept
    reach = max(native_most, math.ceil(fewest * FLOOR_SEARCH))
    reach = reach if cap is None else min(reach, cap)
    return kept + tuple(pt for pt in pinpoints_for(reach, tile) if pt not in kept)


def anyres_input_size(
    spec: LlavaNextSpec, policy: ResolutionPolicy, *, width: int, height: int, multi_image: bool = False
) -> tuple[int, int]:
    """(width, height) to hand the processor this image at under `policy`: the original,
    except under a floor (`min_pixels`), where it is the content box of the canvas
    `floor_canvas` picks (see `vlmcli.tiling.anyres_floor`).

    The floor is never below what the model shows with no floor (the same policy without
    `min_pixels`), so a low floor never lowers the resolution; it may drop padding crops."""
    _check_size(width, height)
    if policy.min_pixels is None or (multi_image and spec.multi_image_base_only):
        return width, height
    original = (height, width)
    native = anyres_pinpoints(spec, replace(policy, min_pixels=None))
    floor = max(policy.min_pixels, shown_area(original, select_best_resolution(original, native)))
    pinpoints = anyres_pinpoints(spec, policy)
    canvas = floor_canvas(original, pinpoints, tile_size=spec.image_size, min_pixels=floor)
    as_is = select_best_resolution(original, pinpoints)
    if crops_of(as_is, spec.image_size) <= crops_of(canvas, spec.image_size) and shown_area(
        original, as_is
    ) >= shown_area(original, canvas):
        return width, height  # the processor's own choice is as good: no resize of ours
    box_height, box_width = fit_content(original, canvas)
    return box_width, box_height


def plan_llava_next(
    spec: LlavaNextSpec, policy: ResolutionPolicy, *, width: int, height: int, multi_image: bool = False
) -> ImagePlan:
    """The plan for one image on LLaVA-NeXT or (with a `LlavaOnevisionSpec`) OneVision:
    the processor's choice for the image at `anyres_input_size`. `tiles` counts the crops
    plus the base view; `resized` is the content box inside the chosen canvas."""
    _check_size(width, height)
    if multi_image and spec.multi_image_base_only:
        tokens = anyres_visual_tokens(spec, width=width, height=height, multi_image=True)
        size = (spec.image_size, spec.image_size)
        return ImagePlan(width=width, height=height, resized=size, grid=(1, 1), tiles=1, visual_tokens=tokens)
    _base_view_check(spec, policy)
    fed_width, fed_height = anyres_input_size(spec, policy, width=width, height=height)
    spec = replace(spec, image_grid_pinpoints=anyres_pinpoints(spec, policy))
    best_height, best_width = anyres_canvas(spec, width=fed_width, height=fed_height)
    content_h, content_w = fit_content((fed_height, fed_width), (best_height, best_width))
    rows, cols = best_height // spec.image_size, best_width // spec.image_size
    return ImagePlan(
        width=width,
        height=height,
        resized=(content_w, content_h),
        grid=(rows, cols),
        tiles=rows * cols + 1,
        visual_tokens=anyres_visual_tokens(spec, width=fed_width, height=fed_height),
    )


def plan_llava15(spec: LlavaSpec, policy: ResolutionPolicy, *, width: int, height: int) -> ImagePlan:
    """The plan for one image on LLaVA 1.5 with vlmcli's tiling (the model was not trained
    with tiles; see `vlmcli.engine.adapters.llava`).

    The model's default is one view (image_size^2 pixels seen), so only a floor above that
    tiles: among every grid of up to `FLOOR_SEARCH` x ceil(min_pixels / image_size^2) crops
    (fewer when a cap is lower: caps win) `floor_canvas` picks the one with the fewest crops
    whose letterboxed content reaches the floor; the caps alone never tile. A one-crop grid
    is the model's own single view: the processor's resize + centre crop to one
    `image_size` square, so `resized` is that square. A larger grid letterboxes the image
    into rows x cols crops (`resized` is the content box) and adds a global thumbnail,
    encoded first: tiles = rows*cols + 1; `max_pixels` counts the thumbnail too. Every
    encoder image costs `spec.tokens_per_image`."""
    _check_size(width, height)
    tile = spec.image_size
    fewest, cap = policy.tile_bounds(tile, global_views=1)
    rows = cols = 1
    if policy.min_pixels is not None and policy.min_pixels > tile * tile:
        reach = math.ceil(fewest * FLOOR_SEARCH) if cap is None else min(math.ceil(fewest * FLOOR_SEARCH), cap)
        if cap is None or cap > 1:
            candidates = tuple(pinpoints_for(reach, tile))
            canvas = floor_canvas((height, width), candidates, tile_size=tile, min_pixels=policy.min_pixels)
            rows, cols = canvas[0] // tile, canvas[1] // tile
    if rows * cols == 1:
        resized, tiles = (tile, tile), 1
    else:
        grid = grid_for(width=width, height=height, rows=rows, cols=cols, tile_size=tile)
        resized, tiles = (grid.resized_width, grid.resized_height), grid.num_tiles + 1
    return ImagePlan(
        width=width,
        height=height,
        resized=resized,
        grid=(rows, cols),
        tiles=tiles,
        visual_tokens=tiles * spec.tokens_per_image,
    )
