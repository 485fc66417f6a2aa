"""The `--min-pixels` floor on anyres grids (LLaVA-NeXT/OneVision, vlmcli's LLaVA 1.5 tiles).

transformers' `select_best_resolution` ranks canvases by effective resolution capped at
the original size, so for an image smaller than the grid every canvas ties and the least
padded (smallest) one wins: a floor that only offered bigger canvases got a 1 x N strip
with the image in one corner crop and N-1 crops of padding. A floor instead asks for the
image content itself, upscaled keeping aspect, to be at least `min_pixels`:

1. Each candidate canvas is rated by what it would show: its crops and the area of the
   image fitted into it (`fit_content`).
2. Among the canvases showing at least the floor, the one with the fewest crops wins,
   then the one showing most; ties keep the earliest candidate.
3. When none reaches the floor (a cap is lower), the one showing most wins, then the one
   with fewest crops: caps win over the floor.

LLaVA-NeXT's processor makes its own choice, so the image is handed to it already
resized to the chosen canvas's content box (`anyres_input_size`): for that box every
canvas that holds it unscaled ties, and the least padded of them wins, which is the
chosen canvas or one at least as good (no more crops, no less content).
"""

from __future__ import annotations

from vlmcli.tiling.grid import fit_content

FLOOR_SEARCH = 4
"""A floor of P pixels may use up to 4 x ceil(P / tile^2) crops: the fewest that hold an
image of any usual shape (a square needs 4 crops for a floor of just over 1 tile, a 3:1
image 6 for 3 tiles); the grid with the fewest crops that reaches the floor is chosen."""


def shown_area(original_size: tuple[int, int], canvas: tuple[int, int]) -> int:
    """Pixels of an image of `original_size` (height, width) fitted into `canvas` (height, width)."""
    height, width = fit_content(original_size, canvas)
    return height * width


def crops_of(canvas: tuple[int, int], tile_size: int) -> int:
    """Tiles of a (height, width) canvas."""
    return (canvas[0] // tile_size) * (canvas[1] // tile_size)


def floor_canvas(
    original_size: tuple[int, int], candidates: tuple[tuple[int, int], ...], *, tile_size: int, min_pixels: int
) -> tuple[int, int]:
    """The (height, width) candidate canvas the floor picks for an image of `original_size`
    (height, width): module rules 1-3. `candidates` must not be empty."""
    rated = [(crops_of(c, tile_size), shown_area(original_size, c), i) for i, c in enumerate(candidates)]
    meeting = [r for r in rated if r[1] >= min_pixels]
    if meeting:
        best = min(meeting, key=lambda r: (r[0], -r[1], r[2]))
    else:
        best = min(rated, key=lambda r: (-r[1], r[0], r[2]))
    return candidates[best[2]]
