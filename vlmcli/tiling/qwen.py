"""Qwen2-VL / Qwen2.5-VL / Qwen3-VL native dynamic resolution.

Qwen resizes every image to a size whose sides are multiples of `factor = patch_size *
merge_size` (28 for Qwen2/2.5-VL, 32 for Qwen3-VL) and whose area lies in
[min_pixels, max_pixels]; the vision tower then sees (h / patch) x (w / patch) patches and
merges each `merge_size x merge_size` block into one visual token. There are no tiles and
no global view.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vlmcli.errors import ConfigError, InputError
from vlmcli.tiling.plan import ImagePlan
from vlmcli.tiling.policy import ResolutionPolicy
from vlmcli.tiling.refusal import about_image

MAX_ASPECT_RATIO = 200
"""smart_resize rejects images whose long side exceeds 200x the short side."""

NOMINAL_TILE_MERGED_PATCHES = 16
"""A Qwen "tile" for `ResolutionPolicy.max_tiles` is 16x16 merged patches = 256 tokens."""


def too_elongated(*, width: int, height: int) -> bool:
    """Whether the long side exceeds `MAX_ASPECT_RATIO` x the short side (smart_resize refuses it)."""
    return max(height, width) / min(height, width) > MAX_ASPECT_RATIO


def round_by_factor(number: float, factor: int) -> int:
    """The multiple of `factor` nearest to `number` (Python's round: halves go to even)."""
    return round(number / factor) * factor


def ceil_by_factor(number: float, factor: int) -> int:
    """The smallest multiple of `factor` >= `number`."""
    return math.ceil(number / factor) * factor


def floor_by_factor(number: float, factor: int) -> int:
    """The largest multiple of `factor` <= `number`."""
    return math.floor(number / factor) * factor


def smart_resize(*, height: int, width: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """(height, width) an image is resized to by Qwen's image processor. Rules, in order:

    1. Reject (ValueError) when max(h, w) / min(h, w) > 200.
    2. Round each side to the nearest multiple of `factor`.
    3. If that area exceeds `max_pixels`, scale both sides by sqrt(max_pixels / (h*w)) and
       floor them to multiples of `factor` (at least `factor`): area <= max_pixels unless a
       side hit that `factor` floor.
    4. Else if the area is below `min_pixels`, scale up by sqrt(min_pixels / (h*w)) and ceil
       to multiples of `factor`: area >= min_pixels (it may then exceed max_pixels when the
       two bounds are closer than one row of factor-sized cells).

    Identical to transformers' qwen2_vl `smart_resize` (same float operations). Note step 2
    rounds sides below factor/2 to 0, so tiny images always take the step-4 path.
    """
    if too_elongated(width=width, height=height):
        aspect_ratio = max(height, width) / min(height, width)
        raise ValueError(f"absolute aspect ratio must be smaller than {MAX_ASPECT_RATIO}, got {aspect_ratio}")
    h_bar = round_by_factor(height, factor)
    w_bar = round_by_factor(width, factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, floor_by_factor(height / beta, factor))
        w_bar = max(factor, floor_by_factor(width / beta, factor))
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = ceil_by_factor(height * beta, factor)
        w_bar = ceil_by_factor(width * beta, factor)
    return h_bar, w_bar


def _check_positive_ints(**values: int) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, not {value!r}.")


def qwen_visual_tokens(
    *, height: int, width: int, patch_size: int, merge_size: int, min_pixels: int, max_pixels: int
) -> tuple[int, tuple[int, int, int], tuple[int, int]]:
    """(tokens, grid_thw, (resized_height, resized_width)) for one image.

    grid_thw = (1, resized_h / patch_size, resized_w / patch_size), as the processor's
    `image_grid_thw`; tokens = grid_h * grid_w / merge_size^2 (the `<|image_pad|>` count).
    Raises ConfigError for bad settings, InputError for an image over the aspect limit."""
    _check_positive_ints(
        height=height,
        width=width,
        patch_size=patch_size,
        merge_size=merge_size,
        min_pixels=min_pixels,
        max_pixels=max_pixels,
    )
    try:
        resized_h, resized_w = smart_resize(
            height=height, width=width, factor=patch_size * merge_size, min_pixels=min_pixels, max_pixels=max_pixels
        )
    except ValueError:
        raise about_image(InputError(
            f"A {width}x{height} image is too elongated for Qwen models (the long side may be at most "
            f"{MAX_ASPECT_RATIO}x the short side); crop it first."
        ), width=width, height=height) from None
    grid_thw = (1, resized_h // patch_size, resized_w // patch_size)
    tokens = grid_thw[1] * grid_thw[2] // (merge_size * merge_size)
    return tokens, grid_thw, (resized_h, resized_w)


@dataclass(frozen=True)
class QwenSpec:
    """What Qwen token accounting needs from a checkpoint. Defaults: Qwen2-VL's processor."""

    patch_size: int = 14
    """`image_processor.patch_size` (= vision_config.patch_size; 16 for Qwen3-VL)."""
    merge_size: int = 2
    """`image_processor.merge_size` (= vision_config.spatial_merge_size)."""
    min_pixels: int = 56 * 56
    """`image_processor.size["shortest_edge"]` (older configs: `min_pixels`)."""
    max_pixels: int = 28 * 28 * 1280
    """`image_processor.size["longest_edge"]` (older configs: `max_pixels`)."""

    def __post_init__(self) -> None:
        _check_positive_ints(
            patch_size=self.patch_size,
            merge_size=self.merge_size,
            min_pixels=self.min_pixels,
            max_pixels=self.max_pixels,
        )
        if self.min_pixels > self.max_pixels:
            raise ConfigError(f"min_pixels ({self.min_pixels}) must not exceed max_pixels ({self.max_pixels}).")

    @property
    def factor(self) -> int:
        return self.patch_size * self.merge_size

    @property
    def nominal_tile_size(self) -> int:
        """Side of a nominal tile (256 visual tokens): 448 for Qwen2-VL, 512 for Qwen3-VL."""
        return NOMINAL_TILE_MERGED_PATCHES * self.factor


def qwen_pixel_bounds(spec: QwenSpec, policy: ResolutionPolicy) -> tuple[int, int]:
    """(min_pixels, max_pixels) for smart_resize under `policy`.

    The floor is the policy's `min_pixels`, never below the checkpoint's own (a low floor
    does not lower what the model sees; `max_pixels` is the flag that spends fewer tokens).
    max_pixels is the checkpoint's, raised to the floor when that is larger, then lowered
    to every cap set (`max_pixels`; `max_tiles` nominal tiles): a cap never raises it.
    min_pixels is never above max_pixels (caps win). Raises ConfigError when a cap is below
    one factor x factor cell. smart_resize's downscale branch can still land below the
    floor (it floors both sides); `qwen_resized_size` lifts such an image back above it."""
    cell = spec.factor * spec.factor
    floor = spec.min_pixels if policy.min_pixels is None else max(policy.min_pixels, spec.min_pixels)
    max_pixels = min([max(spec.max_pixels, floor, cell), *pixel_caps(spec, policy)])
    return min(floor, max_pixels), max_pixels


def pixel_caps(spec: QwenSpec, policy: ResolutionPolicy) -> list[int]:
    """The pixel caps `policy` sets for one image (`--max-pixels`, `--max-tiles` nominal tiles);
    ConfigError for one below a single factor x factor cell."""
    cell = spec.factor * spec.factor
    caps = []
    if policy.max_pixels is not None:
        caps.append(policy.max_pixels)
    if policy.max_tiles is not None:
        caps.append(policy.max_tiles * spec.nominal_tile_size**2)
    if caps and min(caps) < cell:
        raise ConfigError(f"--max-pixels {min(caps)} is below one {spec.factor}x{spec.factor} cell for this model.")
    return caps


def qwen_resized_size(spec: QwenSpec, policy: ResolutionPolicy, *, width: int, height: int) -> tuple[int, int]:
    """(height, width) the model sees a `width x height` image at under `policy`:
    smart_resize within `qwen_pixel_bounds`, except that under a policy floor an image
    smart_resize puts outside [floor, cap] (its downscale branch floors both sides, below
    the floor; its upscale branch ceils them, past a cap close to the floor) gets the size
    `floor_size` picks instead: within the floor and the caps whenever whole cells allow
    (when the caps lowered the floor to them: smart_resize's own size).
    The processor only keeps such a size when handed the image already resized to it
    (`qwen_prompt_bounds`). Raises InputError for an image over the aspect limit,
    ConfigError when no size of whole cells lies between the floor and a cap."""
    low, high = qwen_pixel_bounds(spec, policy)
    _, _, (resized_h, resized_w) = qwen_visual_tokens(
        height=height, width=width, patch_size=spec.patch_size, merge_size=spec.merge_size,
        min_pixels=low, max_pixels=high,
    )
    if policy.min_pixels is None:
        return resized_h, resized_w
    caps = pixel_caps(spec, policy)
    if resized_h * resized_w >= low and resized_h * resized_w <= min(caps, default=resized_h * resized_w):
        return resized_h, resized_w
    beta = math.sqrt(low / (height * width))
    return floor_size(
        height=height, width=width, resized=(resized_h, resized_w), beta=beta, factor=spec.factor, low=low, caps=caps
    )


def lifted(*, height: int, width: int, beta: float, factor: int, caps: list[int]) -> tuple[int, int] | None:
    """(height, width) scaled by `beta` with both sides ceil()ed to `factor` (a floor's upscale,
    as smart_resize's own upscale branch rounds), or None when that exceeds a cap."""
    lifted_h = max(factor, ceil_by_factor(height * beta, factor))
    lifted_w = max(factor, ceil_by_factor(width * beta, factor))
    return None if lifted_h * lifted_w > min(caps, default=lifted_h * lifted_w) else (lifted_h, lifted_w)


def floor_size(
    *, height: int, width: int, resized: tuple[int, int], beta: float, factor: int, low: int, caps: list[int]
) -> tuple[int, int]:
    """(height, width) for a `width x height` image that smart_resize put at `resized`, outside
    a floor of `low` pixels and the `caps`: the `lifted` size when it is within the caps;
    else, when the floor is below the caps, the size of whole `factor` cells within
    [low, cap] nearest the image's aspect (`window_size`: the aspect bends, as smart_resize's
    rounding bends it at small sizes), ConfigError when there is none. When the caps won over
    the floor (`qwen_pixel_bounds` lowered it to a cap, as `--truncate` or `--max-tiles`
    do), `resized`: smart_resize's own size (its upscale branch may pass the cap by a row
    of cells, or more for a thin image whose short side is held at one cell)."""
    size = lifted(height=height, width=width, beta=beta, factor=factor, caps=caps)
    if size is not None:
        return size
    cap = min(caps)  # lifted only fails under a cap
    if low >= cap:  # the caps won over the floor: smart_resize's own size at bounds (cap, cap)
        return resized
    size = window_size(height=height, width=width, factor=factor, low=low, high=cap)
    if size is None:
        cell = factor * factor
        below, above = cap // cell * cell, -(-low // cell) * cell
        raise about_image(ConfigError(
            f"--min-pixels and --max-pixels (or --max-tiles) leave no size for this model: it sees whole "
            f"{factor}x{factor}-px cells ({cell} px each), and no size of them has between {low} and {cap} px "
            f"for a {width}x{height} image (the nearest: {below} and {above} px); widen the range."
        ), width=width, height=height)
    return size


def window_size(*, height: int, width: int, factor: int, low: int, high: int) -> tuple[int, int] | None:
    """(h, w), both multiples of `factor`, with low <= h * w <= high and an aspect ratio of
    at most `MAX_ASPECT_RATIO` (the processor refuses more), nearest the image's aspect (in
    log ratio), then the most pixels, then the fewest rows; None when there is none."""
    cell = factor * factor
    fewest, most = max(1, -(-low // cell)), high // cell  # cells in all
    if fewest > most:
        return None
    target = math.log(height / width)
    best: tuple[tuple[float, int, int], tuple[int, int]] | None = None
    rows_limit = min(most, math.isqrt(MAX_ASPECT_RATIO * most))
    for rows in range(1, rows_limit + 1):
        lo_cols, hi_cols = max(1, -(-fewest // rows)), most // rows
        if lo_cols > hi_cols:
            continue
        ideal = rows * width / height
        for cols in {min(max(c, lo_cols), hi_cols) for c in (math.floor(ideal), math.ceil(ideal), hi_cols)}:
            if max(rows, cols) > MAX_ASPECT_RATIO * min(rows, cols):
                continue
            key = (round(abs(math.log(rows / cols) - target), 9), -rows * cols, rows)  # 2:3 and 3:2 tie
            if best is None or key < best[0]:
                best = (key, (rows * factor, cols * factor))
    return None if best is None else best[1]


def widened_bounds(
    low: int, high: int, planned: list[tuple[int, int]], own: list[tuple[int, int]], *, frames: int = 1
) -> tuple[int, int, bool]:
    """(low, high, resize) for a processor call whose images are `planned` (height, width) where its
    smart_resize alone gives `own`: the bounds as they are when both agree; else resize (hand the
    images over already at their planned size) with the bounds widened to hold them (area x frames)."""
    if planned == own:
        return low, high, False
    areas = [frames * h * w for h, w in planned]
    return min([low, *areas]), max([high, *areas]), True


def qwen_prompt_bounds(
    spec: QwenSpec, policy: ResolutionPolicy, sizes: list[tuple[int, int]]
) -> tuple[int, int, bool]:
    """(min_pixels, max_pixels, resize) for the processor call of one prompt's
    (width, height) images: `qwen_pixel_bounds`, unless an image's `qwen_resized_size` is
    not what smart_resize gives; then `resize` is True (hand the processor every image
    already at its `qwen_resized_size`) and the bounds are widened to hold those sizes, so
    smart_resize keeps each one as it is (whole factor multiples within the bounds)."""
    low, high = qwen_pixel_bounds(spec, policy)
    planned = [qwen_resized_size(spec, policy, width=w, height=h) for w, h in sizes]
    own = [smart_resize(height=h, width=w, factor=spec.factor, min_pixels=low, max_pixels=high) for w, h in sizes]
    return widened_bounds(low, high, planned, own)


def plan_qwen(spec: QwenSpec, policy: ResolutionPolicy, *, width: int, height: int) -> ImagePlan:
    """The plan for one `width x height` image on a Qwen-VL model under `policy`."""
    resized_h, resized_w = qwen_resized_size(spec, policy, width=width, height=height)
    tokens = (resized_h // spec.patch_size) * (resized_w // spec.patch_size) // (spec.merge_size**2)
    return ImagePlan(
        width=width, height=height, resized=(resized_w, resized_h), grid=(1, 1), tiles=1, visual_tokens=tokens
    )


FRAME_FLOOR = 1.05
"""With `cap_pixels_per_frame`, transformers floors each frame's pixel cap at
1.05 * shortest_edge (qwen-vl-utils' rule); `qwen_video_size` keeps that floor under the cap."""


def qwen_video_size(
    spec: QwenSpec, policy: ResolutionPolicy, *, frames: int, per_clip: bool, capped: bool
) -> tuple[int, int]:
    """(shortest_edge, longest_edge) for a Qwen video processor so every frame of a clip of
    `frames` frames gets the policy's per-frame pixels, as an image would.

    `spec` holds the video processor's native `size` bounds. Qwen2/2.5-VL (`per_clip`
    False) bound each frame; Qwen3-VL (`per_clip` True) bounds the clip's t*h*w, so its
    native per-frame bounds are the totals / `frames` and the result is scaled back.
    `capped` is the processor's `cap_pixels_per_frame`: the per-frame floor is then
    1.05 * shortest_edge (and Qwen3-VL's shortest_edge stays per frame), so without a
    policy floor the minimum is lowered to keep that floor under the cap."""
    if frames < 1:
        raise ConfigError(f"a clip needs at least one frame, not {frames}.")
    if per_clip:
        per_frame_min = spec.min_pixels if capped else max(1, spec.min_pixels // frames)
        spec = QwenSpec(
            patch_size=spec.patch_size,
            merge_size=spec.merge_size,
            min_pixels=min(per_frame_min, max(1, spec.max_pixels // frames)),
            max_pixels=max(1, spec.max_pixels // frames),
        )
    low, high = qwen_pixel_bounds(spec, policy)
    if capped and policy.min_pixels is None:
        low = min(low, int(high / FRAME_FLOOR))
    if not per_clip:
        return low, high
    return (low if capped else low * frames), high * frames
