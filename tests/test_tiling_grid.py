"""Anyres grid choice (`vlmcli.tiling.grid`) and PIL tiling (`vlmcli.tiling.tiler`)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from vlmcli.errors import ConfigError
from vlmcli.tiling import (
    Grid,
    choose_grid,
    cut_tiles,
    fit_content,
    grid_for,
    pinpoints_for,
    select_best_resolution,
    thumbnail,
)

sides = st.integers(min_value=1, max_value=6000)
small_sides = st.integers(min_value=1, max_value=300)
tile_sizes = st.sampled_from([8, 14, 28, 64, 336])
tile_caps = st.integers(min_value=1, max_value=12)


def _aspect_kept(width: int, height: int, grid: Grid) -> bool:
    """One side fills its canvas exactly; the other is the proportional size, ceil()ed
    (or clamped), so it is within 1 px of exact."""
    exact_h = height * grid.resized_width / width
    exact_w = width * grid.resized_height / height
    return abs(grid.resized_height - exact_h) <= 1 or abs(grid.resized_width - exact_w) <= 1


@settings(max_examples=200, deadline=None)
@given(width=sides, height=sides, tile=tile_sizes, max_tiles=tile_caps)
def test_choose_grid_properties(width, height, tile, max_tiles):
    grid = choose_grid(width=width, height=height, tile_size=tile, max_tiles=max_tiles)
    assert 1 <= grid.num_tiles <= max_tiles
    assert grid.tile_size == tile
    # the content fits the canvas and touches it on at least one side
    assert 1 <= grid.resized_width <= grid.canvas_width
    assert 1 <= grid.resized_height <= grid.canvas_height
    assert grid.resized_width == grid.canvas_width or grid.resized_height == grid.canvas_height
    assert _aspect_kept(width, height, grid)
    # tiles cover the canvas exactly, row-major, each within the tile size
    boxes = grid.tile_boxes()
    assert len(boxes) == grid.num_tiles
    assert sum((r - l) * (b - t) for l, t, r, b in boxes) == grid.canvas_width * grid.canvas_height
    assert all(r - l == tile and b - t == tile for l, t, r, b in boxes)
    assert boxes == sorted(boxes, key=lambda box: (box[1], box[0]))


@settings(max_examples=200, deadline=None)
@given(width=sides, height=sides, tile=tile_sizes, max_tiles=tile_caps)
def test_choose_grid_is_the_best_candidate(width, height, tile, max_tiles):
    """No other allowed grid keeps more of the image, or as much with less waste."""

    def score(rows: int, cols: int) -> tuple[int, int]:
        scale = min(cols * tile / width, rows * tile / height)
        kept = min(int(width * scale) * int(height * scale), width * height)
        return kept, -(rows * cols * tile * tile - kept)

    grid = choose_grid(width=width, height=height, tile_size=tile, max_tiles=max_tiles)
    best = score(grid.rows, grid.cols)
    for h, w in pinpoints_for(max_tiles, tile):
        assert score(h // tile, w // tile) <= best


@settings(max_examples=60, deadline=None)
@given(width=small_sides, height=small_sides, tile=st.sampled_from([8, 16, 28]), max_tiles=st.integers(1, 6))
def test_cut_tiles_cover_the_image(width, height, tile, max_tiles):
    image = Image.new("RGB", (width, height), (255, 255, 255))
    grid = choose_grid(width=width, height=height, tile_size=tile, max_tiles=max_tiles)
    tiles = cut_tiles(image, grid)
    assert len(tiles) == grid.num_tiles <= max_tiles
    assert all(t.size == (tile, tile) and t.mode == "RGB" for t in tiles)
    # stitch the tiles back: the white content is exactly the centred content box
    canvas = np.zeros((grid.canvas_height, grid.canvas_width), dtype=bool)  # (H, W)
    for t, (left, top, right, bottom) in zip(tiles, grid.tile_boxes()):
        canvas[top:bottom, left:right] = np.asarray(t)[..., 0] > 0
    left, top = grid.offset
    expected = np.zeros_like(canvas)
    expected[top : top + grid.resized_height, left : left + grid.resized_width] = True
    assert (canvas == expected).all()


def test_choose_grid_examples():
    # 16:9 photo into up to 4 CLIP tiles: 2x2, content 672x378 centred
    grid = choose_grid(width=1920, height=1080, tile_size=336, max_tiles=4)
    assert (grid.rows, grid.cols, grid.resized_width, grid.resized_height) == (2, 2, 672, 378)
    assert grid.offset == (0, 147)
    # a 1:10 strip becomes a column; a 10:1 strip a row
    assert (choose_grid(width=100, height=1000, tile_size=100, max_tiles=10).rows) == 10
    assert (choose_grid(width=1000, height=100, tile_size=100, max_tiles=10).cols) == 10
    # tiny images are not upscaled into more tiles: upscaling earns nothing
    assert choose_grid(width=16, height=16, tile_size=336, max_tiles=9).num_tiles == 1
    # min_tiles forces a larger grid
    assert choose_grid(width=16, height=16, tile_size=336, max_tiles=9, min_tiles=4).num_tiles == 4


def test_choose_grid_thin_image_keeps_one_pixel():
    """transformers' rule: if every grid scales a side to 0 px, all "keep" nothing and the
    least wasteful grid wins; the content side is ceil()ed to 1 px."""
    grid = choose_grid(width=5000, height=1, tile_size=336, max_tiles=4)
    assert (grid.rows, grid.cols, grid.resized_width, grid.resized_height) == (1, 1, 336, 1)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"width": 0, "height": 10, "tile_size": 8, "max_tiles": 1},
        {"width": 10, "height": 10, "tile_size": 0, "max_tiles": 1},
        {"width": 10, "height": 10, "tile_size": 8, "max_tiles": 0},
        {"width": 10, "height": 10, "tile_size": 8, "max_tiles": 2, "min_tiles": 3},
        {"width": 10.0, "height": 10, "tile_size": 8, "max_tiles": 2},
    ],
)
def test_choose_grid_rejects_bad_settings(kwargs):
    with pytest.raises(ConfigError):
        choose_grid(**kwargs)


def test_pinpoints_for_orders_by_rows_then_cols():
    assert pinpoints_for(3, 10) == [(10, 10), (10, 20), (10, 30), (20, 10), (30, 10)]
    assert pinpoints_for(4, 1, min_tiles=3) == [(1, 3), (1, 4), (2, 2), (3, 1), (4, 1)]
    with pytest.raises(ValueError):
        pinpoints_for(0, 10)


def test_select_best_resolution_rules():
    # more kept area wins over less waste; the first wins exact ties
    assert select_best_resolution((100, 100), [(50, 50), (100, 200), (200, 100)]) == (100, 200)
    with pytest.raises(ValueError):
        select_best_resolution((10, 10), [])


def test_fit_content_and_grid_validation():
    assert fit_content((1080, 1920), (672, 672)) == (378, 672)
    assert fit_content((1000, 100), (336, 336)) == (336, 34)  # ceil(33.6)
    assert grid_for(width=1, height=1, rows=1, cols=2, tile_size=10).resized_width == 10
    with pytest.raises(ValueError):
        Grid(1, 1, 10, 11, 10)  # content larger than canvas
    with pytest.raises(ValueError):
        Grid(0, 1, 10, 5, 5)


def test_thumbnail_letterboxes_into_one_tile():
    image = Image.new("RGB", (200, 100), (255, 0, 0))
    thumb = thumbnail(image, 64)
    assert thumb.size == (64, 64)
    pixels = np.asarray(thumb)  # (H, W, C)
    assert pixels[32, 32].tolist() == [255, 0, 0]
    assert pixels[0, 32].tolist() == [0, 0, 0] and pixels[63, 32].tolist() == [0, 0, 0]
    assert (pixels[..., 0] > 0).sum() == 64 * 32
    assert thumbnail(image, 64, fill=(1, 2, 3)).getpixel((0, 0)) == (1, 2, 3)


def test_cut_tiles_keeps_mode():
    image = Image.new("L", (30, 10), 200)
    tiles = cut_tiles(image, choose_grid(width=30, height=10, tile_size=10, max_tiles=3))
    assert [t.mode for t in tiles] == ["L"] * 3
    assert all(np.asarray(t).min() > 0 for t in tiles)
