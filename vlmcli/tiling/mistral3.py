"""Mistral 3 (Pixtral vision encoder) variable-resolution planning.

The image processor (transformers `PixtralImageProcessor`, what `mistral3` checkpoints
load) keeps the image's aspect ratio and never cuts tiles:

1. If either side exceeds `size["longest_edge"]` (1540 for Mistral-Small-3.1), the image
   is scaled down by ratio = max(height / edge, width / edge), each side floor()ed; smaller
   images are not upscaled.
2. Each side is then rounded UP to a whole number of cells, a cell being
   `patch_size * spatial_merge_size` px (14 x 2 = 28 for Mistral-Small-3.1): the canvas.
3. Every cell is one visual `[IMG]` token (the 2x2 patch merger), written row by row with
   an `[IMG_BREAK]` after each row and `[IMG_END]` instead of the last break, so an image
   of rows x cols cells costs rows * cols `[IMG]` tokens plus rows text markers.

`visual_tokens` here counts the `[IMG]` placeholders (what the features replace); the
markers are ordinary prompt tokens.

Resolution policy (`vlmcli.tiling.policy`). The native knob is `longest_edge`. Pixtral has
no tiles, so, as for Qwen, a nominal tile is 16 x 16 cells (448 px for Mistral-Small-3.1),
i.e. 256 visual tokens; `--max-tiles N` is a cap of N nominal tiles' pixels on the canvas.

- Caps (`--max-tiles`, `--max-pixels`): the edge becomes the largest, at most the
  checkpoint's `longest_edge`, whose canvas has at most the capped pixels, so a cap never
  costs more than no flag. ConfigError when even a one-cell-thick canvas is above the cap.
- Floor (`--min-pixels`): the edge is raised (beyond the checkpoint's `longest_edge`, at
  most to the vision tower's `image_size`, the largest grid its 2-D RoPE covers) until the
  canvas has at least that many pixels; images whose long side is below the raised edge
  are upscaled to it (aspect kept, short side rounded, at least 1 px), which the processor
  alone never does. When a cap and the floor disagree, the caps win.

The adapter (`vlmcli.engine.adapters.mistral3`) applies each image's edge through the
processor's own resize, per image (one call's `size` would be shared by every image).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vlmcli.errors import ConfigError, InputError
from vlmcli.tiling.plan import ImagePlan
from vlmcli.tiling.policy import ResolutionPolicy
from vlmcli.tiling.refusal import about_image

NOMINAL_TILE_CELLS = 16
"""A nominal tile is 16 x 16 cells (256 visual tokens), like Qwen's."""


@dataclass(frozen=True)
class Mistral3Spec:
    """What Mistral 3 token accounting needs. Defaults: Mistral-Small-3.1-24B-Instruct-2503."""

    longest_edge: int = 1540
    """`image_processor.size["longest_edge"]`."""
    patch_size: int = 14
    """`processor.patch_size` (the vision tower's patch)."""
    spatial_merge_size: int = 2
    """`processor.spatial_merge_size` (= `config.spatial_merge_size`)."""
    max_edge: int = 1540
    """Largest edge a `--min-pixels` floor may raise to: the vision tower's `image_size`."""

    def __post_init__(self) -> None:
        for name in ("longest_edge", "patch_size", "spatial_merge_size", "max_edge"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"Mistral 3 {name} must be a positive integer, not {value!r}.")

    @property
    def cell(self) -> int:
        """Pixels per side of one visual token (patch x spatial merge)."""
        return self.patch_size * self.spatial_merge_size

    @property
    def tile(self) -> int:
        """The nominal tile's side in pixels (16 cells)."""
        return NOMINAL_TILE_CELLS * self.cell


def pixtral_content_size(*, width: int, height: int, edge: int) -> tuple[int, int]:
    """(width, height) after step 1 with `longest_edge = edge`, exactly as transformers'
    `get_resize_output_image_size` computes it (same float operations); when `edge` is above
    the long side (only a floor asks for that), the upscale vlmcli applies (aspect kept,
    rounded, >= 1)."""
    long_side = max(width, height)
    if edge > long_side:
        if width >= height:
            return edge, max(1, round(height * edge / width))
        return max(1, round(width * edge / height)), edge
    ratio = max(height / edge, width / edge)
    if ratio > 1:
        height = math.floor(height / ratio)
        width = math.floor(width / ratio)
    return width, height


def pixtral_canvas(*, width: int, height: int, edge: int, cell: int) -> tuple[int, int]:
    """(width, height) of the canvas the processor feeds the tower: step 1, then each side
    rounded up to whole cells ((side - 1) // cell + 1 cells; 0 for a 0-px side)."""
    w, h = pixtral_content_size(width=width, height=height, edge=edge)
    return ((w - 1) // cell + 1) * cell, ((h - 1) // cell + 1) * cell


def mistral3_edge(spec: Mistral3Spec, policy: ResolutionPolicy, *, width: int, height: int) -> int:
    """The `longest_edge` this image is processed with under `policy` (see the module rules)."""
    for name, value in {"width": width, "height": height}.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, not {value!r}.")
    cell = spec.cell

    def pixels(edge: int) -> int:
        w, h = pixtral_canvas(width=width, height=height, edge=edge, cell=cell)
        return w * h

    edge = min(spec.longest_edge, max(width, height))  # same canvas as longest_edge; never an upscale
    if policy.min_pixels is not None and pixels(edge) < policy.min_pixels:
        top = max(spec.max_edge, edge)
        # the canvas grows with the edge: bisect the smallest edge that reaches the floor
        if pixels(top) < policy.min_pixels:
            edge = top
        else:
            low, high = edge, top  # pixels(low) < floor <= pixels(high)
            while high - low > 1:
                mid = (low + high) // 2
                if pixels(mid) >= policy.min_pixels:
                    high = mid
                else:
                    low = mid
            edge = high
    caps = []
    if policy.max_pixels is not None:
        caps.append(policy.max_pixels)
    if policy.max_tiles is not None:
        caps.append(policy.max_tiles * spec.tile * spec.tile)
    if caps and pixels(edge) > min(caps):
        cap = min(caps)
        # the smallest usable edge keeps a >= 1 px short side
        least = 1
        while pixels(least) == 0:
            least += 1
        if pixels(least) > cap:
            raise about_image(ConfigError(
                f"--max-pixels/--max-tiles allow {cap} px, below one {pixels(least)}-px canvas, the smallest "
                f"a {width}x{height} image takes on this model."
            ), width=width, height=height)
        low, high = least, edge  # pixels(low) <= cap < pixels(high)
        while high - low > 1:
            mid = (low + high) // 2
            if pixels(mid) <= cap:
                low = mid
            else:
                high = mid
        edge = low
    if pixels(edge) == 0:
        raise about_image(
            InputError(f"A {width}x{height} image is too thin for this model (a side would be 0 px); pad or crop it to a less elongated shape first."), width=width, height=height
        )
    return edge


def plan_mistral3(spec: Mistral3Spec, policy: ResolutionPolicy, *, width: int, height: int) -> ImagePlan:
    """The plan for one `width x height` image on a Mistral 3 model under `policy`."""
    edge = mistral3_edge(spec, policy, width=width, height=height)
    canvas_w, canvas_h = pixtral_canvas(width=width, height=height, edge=edge, cell=spec.cell)
    rows, cols = canvas_h // spec.cell, canvas_w // spec.cell
    if rows * cols == 1:  # transformers' Mistral3 squeezes a one-token image's features to a vector and fails
        raise about_image(InputError(
            f"A {width}x{height} image fills a single {spec.cell}-px cell, one visual token, which Mistral 3 "
            f"cannot encode in transformers; upscale it to at least {2 * spec.cell} px on a side first."
        ), width=width, height=height)
    return ImagePlan(
        width=width, height=height, resized=(canvas_w, canvas_h), grid=(1, 1), tiles=1, visual_tokens=rows * cols
    )
