"""Cut a PIL image into the tiles a `Grid` describes (the only module here that touches pixels).

The image is resized (bicubic) to the grid's content size, pasted centred on a canvas of
`rows x cols` tiles filled with `fill` (black, as LLaVA-NeXT pads before normalising), and
the canvas is cut row-major: tile i is at row i // cols, column i % cols.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vlmcli.tiling.grid import Grid, grid_for

if TYPE_CHECKING:  # PIL loads only when pixels are cut, so planning stays import-light
    from PIL import Image

Fill = int | tuple[int, ...]


def _canvas(image: "Image.Image", grid: Grid, fill: Fill) -> "Image.Image":
    from PIL import Image

    content = image.resize((grid.resized_width, grid.resized_height), Image.Resampling.BICUBIC)
    canvas = Image.new(image.mode, (grid.canvas_width, grid.canvas_height), fill)  # (W, H)
    canvas.paste(content, grid.offset)
    return canvas


def cut_tiles(image: "Image.Image", grid: Grid, *, fill: Fill = 0) -> "list[Image.Image]":
    """The grid's `rows * cols` tiles of `grid.tile_size` px squares, row-major."""
    canvas = _canvas(image, grid, fill)
    return [canvas.crop(box) for box in grid.tile_boxes()]


def thumbnail(image: "Image.Image", tile_size: int, *, fill: Fill = 0) -> "Image.Image":
    """The whole image letterboxed into one `tile_size` square (aspect kept, centred): the
    global view added after the crops of a multi-tile grid."""
    grid = grid_for(width=image.width, height=image.height, rows=1, cols=1, tile_size=tile_size)
    return _canvas(image, grid, fill)


def global_and_tiles(image: "Image.Image", grid: Grid, *, fill: Fill = 0) -> "list[Image.Image]":
    """The encoder views of a tiled image, in feature order: the global thumbnail first, then
    the grid's tiles row-major (LLaVA-NeXT's order; vlmcli's LLaVA 1.5 tiling uses it)."""
    return [thumbnail(image, grid.tile_size, fill=fill), *cut_tiles(image, grid, fill=fill)]
