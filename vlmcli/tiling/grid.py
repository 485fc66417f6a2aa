"""Anyres grid choice (LLaVA-NeXT style), as pure integer arithmetic.

An image of `width x height` is scaled, keeping its aspect ratio, to fit a canvas of
`rows x cols` square tiles; the canvas is padded (centred) and cut into tiles. Among the
candidate canvases the chosen one

1. maximises the *effective resolution*: min(area of the scaled image, original area), so
   upscaling beyond the original earns nothing, then
2. minimises the *wasted* area: canvas area - effective resolution.

Ties keep the earliest candidate. These are exactly transformers'
`select_best_resolution` rules (image_processing_utils), including its truncation of the
scaled size with int(); `fit_content` is its `get_patch_output_size`.

Sizes follow transformers' order where they mirror it: `(height, width)`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vlmcli.errors import ConfigError, InputError
from vlmcli.tiling.refusal import about_image


@dataclass(frozen=True)
class Grid:
    """A tile layout for one image: `rows x cols` tiles of `tile_size` px, holding the image
    scaled to `resized_width x resized_height` and centred on the canvas."""

    rows: int
    cols: int
    tile_size: int
    resized_width: int
    """Width of the scaled image content (<= canvas width); padding fills the rest."""
    resized_height: int
    """Height of the scaled image content (<= canvas height)."""

    def __post_init__(self) -> None:
        for name in ("rows", "cols", "tile_size", "resized_width", "resized_height"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Grid.{name} must be a positive int, got {value!r}")
        if self.resized_width > self.canvas_width or self.resized_height > self.canvas_height:
            raise ValueError(
                f"Grid content {self.resized_width}x{self.resized_height} exceeds its canvas "
                f"{self.canvas_width}x{self.canvas_height}"
            )

    @property
    def num_tiles(self) -> int:
        return self.rows * self.cols

    @property
    def canvas_width(self) -> int:
        return self.cols * self.tile_size

    @property
    def canvas_height(self) -> int:
        return self.rows * self.tile_size

    @property
    def offset(self) -> tuple[int, int]:
        """(left, top) of the content on the canvas: the padding is split evenly, the odd
        pixel going right/bottom (LLaVA-NeXT's `_get_padding_size`)."""
        return (
            (self.canvas_width - self.resized_width) // 2,
            (self.canvas_height - self.resized_height) // 2,
        )

    def tile_boxes(self) -> list[tuple[int, int, int, int]]:
        """Canvas boxes (left, top, right, bottom) of every tile, row-major."""
        t = self.tile_size
        return [(c * t, r * t, (c + 1) * t, (r + 1) * t) for r in range(self.rows) for c in range(self.cols)]


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, not {value!r}.")


def pinpoints_for(max_tiles: int, tile_size: int, *, min_tiles: int = 1) -> list[tuple[int, int]]:
    """Every canvas `(rows * tile_size, cols * tile_size)` as (height, width) with
    min_tiles <= rows * cols <= max_tiles, ordered by rows then cols (the order decides
    ties in `select_best_resolution`)."""
    if max_tiles < 1 or tile_size < 1 or min_tiles < 1:
        raise ValueError(f"max_tiles, tile_size and min_tiles must be >= 1, got {max_tiles}, {tile_size}, {min_tiles}")
    return [
        (rows * tile_size, cols * tile_size)
        for rows in range(1, max_tiles + 1)
        for cols in range(1, max_tiles // rows + 1)
        if rows * cols >= min_tiles
    ]


def select_best_resolution(
    original_size: tuple[int, int], possible_resolutions: list[tuple[int, int]] | list[list[int]]
) -> tuple[int, int]:
    """The (height, width) among `possible_resolutions` that keeps the most of an image of
    `original_size` (height, width), then wastes the least; see the module docstring.

    Same choice as transformers' function, quirks included: when every candidate scales a
    very thin image to 0 px on one side (e.g. 5000x1 into 336-px tiles) all effective
    resolutions are 0 and the least wasteful candidate (first on ties) wins. Raises
    ValueError only for an empty candidate list (where transformers returns None)."""
    original_height, original_width = original_size
    best_fit = None
    max_effective_resolution = 0
    min_wasted_resolution = float("inf")
    for height, width in possible_resolutions:
        scale = min(width / original_width, height / original_height)
        downscaled_width, downscaled_height = int(original_width * scale), int(original_height * scale)
        effective_resolution = min(downscaled_width * downscaled_height, original_width * original_height)
        wasted_resolution = (width * height) - effective_resolution
        if effective_resolution > max_effective_resolution or (
            effective_resolution == max_effective_resolution and wasted_resolution < min_wasted_resolution
        ):
            max_effective_resolution = effective_resolution
            min_wasted_resolution = wasted_resolution
            best_fit = (height, width)
    if best_fit is None:
        raise ValueError("select_best_resolution needs at least one candidate resolution")
    return best_fit


def fit_content(original_size: tuple[int, int], target_resolution: tuple[int, int]) -> tuple[int, int]:
    """(height, width) of an image of `original_size` scaled, keeping aspect, to fit
    `target_resolution`: the binding side equals the target, the other is ceil()ed and
    clamped (transformers' `get_patch_output_size`)."""
    original_height, original_width = original_size
    target_height, target_width = target_resolution
    scale_w = target_width / original_width
    scale_h = target_height / original_height
    if scale_w < scale_h:
        return min(math.ceil(original_height * scale_w), target_height), target_width
    return target_height, min(math.ceil(original_width * scale_h), target_width)


def grid_for(*, width: int, height: int, rows: int, cols: int, tile_size: int) -> Grid:
    """The `rows x cols` grid holding a `width x height` image, content fitted by `fit_content`."""
    _check_positive(width=width, height=height, rows=rows, cols=cols, tile_size=tile_size)
    resized_height, resized_width = fit_content((height, width), (rows * tile_size, cols * tile_size))
    if resized_width < 1 or resized_height < 1:
        raise about_image(
            InputError(f"A {width}x{height} image is too thin to fit a {rows}x{cols} grid of {tile_size}px tiles."), width=width, height=height
        )
    return Grid(rows, cols, tile_size, resized_width, resized_height)


def choose_grid(*, width: int, height: int, tile_size: int, max_tiles: int, min_tiles: int = 1) -> Grid:
    """The anyres grid (min_tiles <= rows*cols <= max_tiles) that keeps most of a
    `width x height` image and wastes least, with the image fitted inside it.

    Raises ConfigError for impossible settings. A very thin image still gets a grid: its
    short side is ceil()ed to at least 1 px of content."""
    _check_positive(width=width, height=height, tile_size=tile_size, max_tiles=max_tiles)
    if min_tiles < 1 or min_tiles > max_tiles:
        raise ConfigError(f"min_tiles must be between 1 and max_tiles ({max_tiles}), not {min_tiles}.")
    candidates = pinpoints_for(max_tiles, tile_size, min_tiles=min_tiles)
    best_height, best_width = select_best_resolution((height, width), candidates)
    return grid_for(
        width=width, height=height, rows=best_height // tile_size, cols=best_width // tile_size, tile_size=tile_size
    )
