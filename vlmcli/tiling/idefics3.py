"""Idefics3 / SmolVLM image splitting.

The image processor (transformers `Idefics3ImageProcessor`; SmolVLM's is the same code)
turns one image into tiles in three steps:

1. Resize so the longest edge is exactly `longest_edge` (up- or down-scaling), the other
   side int()-truncated and bumped to even, at least 1; then shrink so no side exceeds 4096.
2. With splitting on, stretch both sides up to multiples of the tile `max_image_size`
   (long side first; the short side is recomputed from the new long side, then ceil()ed):
   this is the tile canvas, and the aspect ratio is only approximately kept.
3. If the canvas is larger than one tile, cut it into rows x cols tiles and append the
   whole image squashed to one tile (the global view); otherwise the canvas (exactly one
   tile) is the only image. With splitting off, the image is squashed to one tile.

Every encoder image becomes `image_seq_len` visual tokens (pixel shuffle already
applied), so tokens = (rows * cols + 1) * image_seq_len when split, else image_seq_len.
The prompt also carries textual markers around them (see `idefics3_prompt_tokens`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vlmcli.errors import ConfigError, InputError
from vlmcli.tiling.plan import ImagePlan
from vlmcli.tiling.policy import ResolutionPolicy
from vlmcli.tiling.refusal import about_image

MAX_IMAGE_SIZE = 4096
"""transformers' absolute cap on either side after step 1."""


def rescale_to_longest_edge(*, height: int, width: int, longest_edge: int) -> tuple[int, int]:
    """Step 1a: (height, width) with the longest side set to `longest_edge`; the other side
    int(long / aspect), plus one if odd, at least 1 (`_resize_output_size_rescale_to_max_len`)."""
    aspect_ratio = width / height
    if width >= height:
        width = longest_edge
        height = int(width / aspect_ratio)
        if height % 2 != 0:
            height += 1
    else:
        height = longest_edge
        width = int(height * aspect_ratio)
        if width % 2 != 0:
            width += 1
    return max(height, 1), max(width, 1)


def scale_below(*, height: int, width: int, max_len: int = MAX_IMAGE_SIZE) -> tuple[int, int]:
    """Step 1b: shrink so neither side exceeds `max_len`, keeping aspect, at least 1
    (`_resize_output_size_scale_below_upper_bound`)."""
    aspect_ratio = width / height
    if width >= height and width > max_len:
        width = max_len
        height = int(width / aspect_ratio)
    elif height > width and height > max_len:
        height = max_len
        width = int(height * aspect_ratio)
    return max(height, 1), max(width, 1)


def stretch_to_tiles(*, height: int, width: int, tile: int) -> tuple[int, int]:
    """Step 2: (height, width) stretched up to multiples of `tile`, long side first
    (`resize_for_vision_encoder`)."""
    aspect_ratio = width / height
    if width >= height:
        width = math.ceil(width / tile) * tile
        height = math.ceil(int(width / aspect_ratio) / tile) * tile
    else:
        height = math.ceil(height / tile) * tile
        width = math.ceil(int(height * aspect_ratio) / tile) * tile
    return height, width


@dataclass(frozen=True)
class Idefics3Layout:
    """How the processor splits one image. rows == cols == 0 means not split (as in
    transformers' `rows`/`cols` outputs)."""

    rows: int
    cols: int
    canvas_width: int
    canvas_height: int

    @property
    def split(self) -> bool:
        return self.rows > 0

    @property
    def encoder_images(self) -> int:
        """Images the vision encoder sees: tiles + the global view, or 1."""
        return self.rows * self.cols + 1 if self.split else 1

    @property
    def crops(self) -> int:
        """Full-resolution crops (the global view not counted): 1 when not split."""
        return self.rows * self.cols if self.split else 1


def idefics3_layout(
    *, width: int, height: int, longest_edge: int, max_image_size: int, do_image_splitting: bool = True
) -> Idefics3Layout:
    """The split the real image processor makes of a `width x height` image (module rules).

    Raises ConfigError for non-positive settings, InputError if the image degenerates to
    a zero-pixel side (cannot happen for positive sizes in practice)."""
    settings = {"width": width, "height": height, "longest_edge": longest_edge, "max_image_size": max_image_size}
    for name, value in settings.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, not {value!r}.")
    if not do_image_splitting:
        return Idefics3Layout(0, 0, max_image_size, max_image_size)
    h, w = rescale_to_longest_edge(height=height, width=width, longest_edge=longest_edge)
    h, w = scale_below(height=h, width=w)
    h, w = stretch_to_tiles(height=h, width=w, tile=max_image_size)
    if h < 1 or w < 1:
        raise about_image(
            InputError(f"A {width}x{height} image is too thin for Idefics3 tiling."), width=width, height=height
        )
    if h > max_image_size or w > max_image_size:
        return Idefics3Layout(math.ceil(h / max_image_size), math.ceil(w / max_image_size), w, h)
    return Idefics3Layout(0, 0, w, h)


def idefics3_image_seq_len(*, image_size: int, patch_size: int, scale_factor: int) -> int:
    """Visual tokens per encoder image: int((image_size // patch_size)^2 / scale_factor^2),
    e.g. 169 for Idefics3 (364/14, x2 shuffle) and 64 for SmolVLM-256M (512/16, x4)."""
    return int(((image_size // patch_size) ** 2) / (scale_factor**2))


def idefics3_prompt_tokens(layout: Idefics3Layout, *, image_seq_len: int, double_newline_tokens: int = 1) -> int:
    """All prompt tokens one image expands to, markers included, assuming each marker
    (`<fake_token_around_image>`, `<global-img>`, `<row_i_col_j>`, "\\n") is one token and
    "\\n\\n" is `double_newline_tokens` tokens (transformers' `_get_num_multimodal_tokens`)."""
    total = image_seq_len + 3
    if layout.split:
        row_length = (image_seq_len + 2) * layout.cols + 1
        total += (double_newline_tokens - 1) + row_length * layout.rows
    return total


@dataclass(frozen=True)
class Idefics3Spec:
    """What Idefics3/SmolVLM token accounting needs. Defaults: Idefics3-8B's processor."""

    longest_edge: int = 4 * 364
    """`image_processor.size["longest_edge"]` (SmolVLM: 2048 for 512-px tiles)."""
    max_image_size: int = 364
    """`image_processor.max_image_size["longest_edge"]`: the tile side (SmolVLM: 512)."""
    image_seq_len: int = 169
    """`processor.image_seq_len` (see `idefics3_image_seq_len`)."""
    do_image_splitting: bool = True
    """`image_processor.do_image_splitting`."""

    def __post_init__(self) -> None:
        for name in ("longest_edge", "max_image_size", "image_seq_len"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"Idefics3 {name} must be a positive integer, not {value!r}.")


def idefics3_longest_edge(spec: Idefics3Spec, policy: ResolutionPolicy, *, width: int, height: int) -> int:
    """The `size={"longest_edge": ...}` to pass for this image so its split honours `policy`.

    Start from the checkpoint's `longest_edge`. A floor (`min_pixels`) whose crops the split
    does not reach raises it to the smallest multiple of the tile that reaches them (at most
    4096, transformers' limit: the largest split this image can have). The caps then lower
    it to the largest edge, no longer than that, whose split has at most the capped crops
    (the tile itself, one crop, when none has): a cap never raises the edge, so it never
    costs more tokens than the same policy without it. `max_pixels` counts every encoder
    image, the global view of a split included (at most max_pixels // tile^2 - 1 crops)."""
    tile = spec.max_image_size
    if not spec.do_image_splitting:
        return spec.longest_edge
    floor, cap = policy.tile_bounds(tile, global_views=1)  # max_pixels counts the global view of a split

    def crops(edge: int) -> int:
        return idefics3_layout(width=width, height=height, longest_edge=edge, max_image_size=tile).crops

    multiples = [k * tile for k in range(1, MAX_IMAGE_SIZE // tile + 1)] or [tile]
    edge = spec.longest_edge
    if crops(edge) < floor:
        raised = [e for e in multiples if e > edge]
        edge = next((e for e in raised if crops(e) >= floor), max(raised, default=edge))
    if cap is not None and crops(edge) > cap:
        edge = max([e for e in multiples if e < edge and crops(e) <= cap], default=tile)
    return edge


def plan_idefics3(spec: Idefics3Spec, policy: ResolutionPolicy, *, width: int, height: int) -> ImagePlan:
    """The plan for one `width x height` image on an Idefics3/SmolVLM model under `policy`."""
    edge = idefics3_longest_edge(spec, policy, width=width, height=height)
    layout = idefics3_layout(
        width=width,
        height=height,
        longest_edge=edge,
        max_image_size=spec.max_image_size,
        do_image_splitting=spec.do_image_splitting,
    )
    return ImagePlan(
        width=width,
        height=height,
        resized=(layout.canvas_width, layout.canvas_height),
        grid=(max(layout.rows, 1), max(layout.cols, 1)),
        tiles=layout.encoder_images,
        visual_tokens=layout.encoder_images * spec.image_seq_len,
    )


MIN_VIDEO_EDGE = 2
"""The shortest long side a SmolVLM2 video frame may be resized to: at 1 px the frame is
1x1, which torch's antialiased resize (the video processor's) fails on with an internal
assert, so `--max-pixels` below a 2-px frame is refused rather than passed on."""


def _video_frame_pixels(edge: int, *, long_side: int, short_side: int) -> int:
    """Pixels of a frame whose long side is `edge` (the short side kept in proportion, at least 1)."""
    return edge * max(1, edge * short_side // long_side)


def idefics3_video_least_pixels(*, width: int, height: int) -> int:
    """The least `--max-pixels` SmolVLM2 can honour for `width x height` video frames: the
    pixels of the frame at a `MIN_VIDEO_EDGE` long side."""
    return _video_frame_pixels(MIN_VIDEO_EDGE, long_side=max(width, height), short_side=min(width, height))


def idefics3_video_edge(longest_edge: int, policy: ResolutionPolicy, *, width: int, height: int) -> int:
    """SmolVLM2's video `size["longest_edge"]` for `width x height` frames under `policy`.

    Video frames are never split: each is resized so its long side is `longest_edge`, then
    squashed to one tile, so a frame always costs `image_seq_len` tokens. The policy can only
    lower the detail kept: the edge becomes the largest whose resized frame has at most
    `max_pixels` pixels (never above the checkpoint's edge, at least `MIN_VIDEO_EDGE`: a
    `max_pixels` below that frame is a ConfigError naming the least value, which also stops
    `--truncate` there); `max_tiles` (>= 1) and `min_pixels` change nothing for frames."""
    for name, value in {"longest_edge": longest_edge, "width": width, "height": height}.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, not {value!r}.")
    if policy.max_pixels is None:
        return longest_edge
    long_side, short_side = max(width, height), min(width, height)
    least = idefics3_video_least_pixels(width=width, height=height)
    if policy.max_pixels < least and longest_edge >= MIN_VIDEO_EDGE:
        raise ConfigError(
            f"--max-pixels {policy.max_pixels} is below {least} px, the smallest a {width}x{height} video frame "
            f"can be resized to for this model (a {MIN_VIDEO_EDGE}-px long side); pass at least {least}."
        )
    edge = math.isqrt(policy.max_pixels * long_side // short_side)
    while edge > MIN_VIDEO_EDGE and _video_frame_pixels(edge, long_side=long_side, short_side=short_side) > (
        policy.max_pixels
    ):
        edge -= 1
    return max(min(MIN_VIDEO_EDGE, longest_edge), min(edge, longest_edge))
