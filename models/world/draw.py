"""Pure drawing helpers: shapes, words and non-overlapping placement on a PIL canvas.

Every function takes a `numpy.random.Generator` (or no randomness at all), so an example
is a pure function of its seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from models.world.vocab import COLORS, SHAPES

Box = tuple[int, int, int, int]  # (left, top, right, bottom), right/bottom exclusive


@dataclass(frozen=True, kw_only=True)
class Thing:
    """One drawn object: what it is and where (for questions and captions)."""

    shape: str
    color: str
    box: Box

    def __post_init__(self) -> None:
        if self.shape not in SHAPES or self.color not in COLORS:
            raise ValueError(f"unknown shape/color {self.shape!r}/{self.color!r}")
        left, top, right, bottom = self.box
        if right <= left or bottom <= top:
            raise ValueError(f"empty box {self.box}")

    @property
    def center(self) -> tuple[float, float]:
        left, top, right, bottom = self.box
        return (left + right) / 2, (top + bottom) / 2


def background(rng: np.random.Generator, *, width: int, height: int) -> Image.Image:
    """A light, nearly flat background: a random pale grey-ish tint with faint noise."""
    base = rng.integers(225, 256, size=3)  # (3,) pale tint
    noise = rng.integers(-6, 7, size=(height, width, 1))  # (H, W, 1) same on every channel
    pixels = np.clip(base[None, None, :] + noise, 0, 255).astype(np.uint8)  # (H, W, 3)
    return Image.fromarray(pixels, "RGB")


def draw_thing(image: Image.Image, thing: Thing) -> None:
    """Draw `thing` filled with its colour, in place."""
    draw_plain(image, shape=thing.shape, box=thing.box, fill=COLORS[thing.color])


def draw_plain(image: Image.Image, *, shape: str, box: Box, fill: tuple[int, int, int]) -> None:
    """Draw a `shape` filling `box` with any RGB `fill`, in place."""
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = box
    if shape == "circle":
        draw.ellipse((left, top, right - 1, bottom - 1), fill=fill)
    elif shape == "square":
        draw.rectangle((left, top, right - 1, bottom - 1), fill=fill)
    else:  # triangle, apex up
        draw.polygon([((left + right - 1) / 2, top), (left, bottom - 1), (right - 1, bottom - 1)], fill=fill)


@lru_cache(maxsize=None)
def font(size: int) -> ImageFont.FreeTypeFont:
    """PIL's built-in scalable font (no font files needed) at `size` px."""
    return ImageFont.load_default(size=size)


def word_extent(word: str, *, size: int) -> tuple[int, int]:
    """(width, height) of the ink of `word` at font `size`."""
    left, top, right, bottom = font(size).getbbox(word)
    return right - left, bottom - top


def draw_word(image: Image.Image, word: str, *, xy: tuple[int, int], size: int, fill: tuple[int, int, int]) -> Box:
    """Write `word` with its ink's top-left corner at `xy`; returns the ink box."""
    left, top, right, bottom = font(size).getbbox(word)
    x, y = xy
    ImageDraw.Draw(image).text((x - left, y - top), word, font=font(size), fill=fill)
    return (x, y, x + right - left, y + bottom - top)


def overlaps(a: Box, b: Box, *, gap: int) -> bool:
    return not (a[2] + gap <= b[0] or b[2] + gap <= a[0] or a[3] + gap <= b[1] or b[3] + gap <= a[1])


class NoRoom(RuntimeError):
    """No free spot for a box; callers re-draw the whole layout."""


def place(
    rng: np.random.Generator,
    *,
    size: tuple[int, int],
    canvas: tuple[int, int],
    taken: list[Box],
    gap: int = 4,
    x_range: tuple[int, int] | None = None,
    tries: int = 200,
) -> Box:
    """A box of `size` (w, h) inside `canvas` (w, h), at least `gap` px from every box in
    `taken`, with its left edge in `x_range` if given. Appends it to `taken`.

    Raises `NoRoom` when no spot is found in `tries` draws (earlier boxes can block the
    canvas; `images._things` then re-draws the layout).
    """
    w, h = size
    cw, ch = canvas
    lo, hi = x_range if x_range is not None else (gap, cw - w - gap)
    for _ in range(tries):
        x = int(rng.integers(lo, max(lo, hi) + 1))
        y = int(rng.integers(gap, ch - h - gap + 1))
        box = (x, y, x + w, y + h)
        if not any(overlaps(box, other, gap=gap) for other in taken):
            taken.append(box)
            return box
    raise NoRoom(f"no free {w}x{h} spot on a {cw}x{ch} canvas with {len(taken)} objects")


def pick(rng: np.random.Generator, options: tuple[str, ...] | list[str], k: int = 1) -> list[str]:
    """`k` distinct items of `options`, in random order."""
    idx = rng.choice(len(options), size=k, replace=False)
    return [options[int(i)] for i in idx]
