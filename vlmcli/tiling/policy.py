"""`ResolutionPolicy`: the one resolution setting shared by every model family.

Users say how much of an image the model may look at with three numbers that mean the
same for every family; each family module turns them into its native knobs:

    family            native knob(s)                        mapped by
    Qwen2/2.5/3-VL    min_pixels / max_pixels (smart_resize) `qwen.qwen_pixel_bounds`
    Idefics3/SmolVLM  size.longest_edge (+ image splitting)  `idefics3.idefics3_longest_edge`
    LLaVA-NeXT / OV   image_grid_pinpoints (anyres)          `llava.anyres_pinpoints`
    LLaVA 1.5         none: vlmcli's own grid + thumbnail    `llava.plan_llava15`
    LLaVA-NeXT-Video  as LLaVA-NeXT (frames: fixed size)     `llava_next_video.plan_llava_next_video`
    InternVL          min_patches / max_patches (448 tiles)  `internvl.plan_internvl`
    Idefics2          longest/shortest_edge + splitting      `idefics2.plan_idefics2`
    Mistral 3         size.longest_edge (Pixtral)            `mistral3.plan_mistral3`
    Qwen3.5           as Qwen3-VL                            `qwen3_5.plan_qwen3_5`
    GLM-4.xV          size shortest/longest_edge (2 frames)  `glm4v.plan_glm4v`
    LFM2-VL           min/max_image_tokens, 512-px tiles     `lfm2_vl.plan_lfm2_vl`
    Gemma 3           pan-and-scan crops (896-px views)      `gemma3.plan_gemma3`
    PaliGemma         none: one fixed view (outside: refused) `paligemma.plan_paligemma`

A tiled family's "tile" is its vision encoder's square input (LLaVA: the crop size, e.g.
336; Idefics3: `max_image_size.longest_edge`, e.g. 364 or 512). Qwen has no tiles; for it
a nominal tile is 16x16 merged patches (448 px for Qwen2-VL, 512 px for Qwen3-VL), i.e.
256 visual tokens.

`None` everywhere means "the model's native default", so an all-`None` policy reproduces
what transformers' processor would do on its own.

Caps and the floor are not symmetric. `max_tiles` and `max_pixels` are caps: each family
takes the smaller of the cap and its own default, so a cap never makes an image cost more
than it does with no flag (`tests/test_tiling_caps.py` checks this for every family).
`min_pixels` is the one way to ask for more: a floor above the model's default is applied
(the image is upscaled, or gets more tiles, beyond the default) and the plan shows the
resulting size; when a cap and the floor disagree, the caps win.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vlmcli.errors import ConfigError

FLOOR_SLACK = 1.25
"""A floor above a tiled family's default asks for at least ceil(P / tile^2) crops and at
most a quarter more, so that a grid of the image's own shape is among the choices."""


def _check_positive(value: object, name: str) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer or unset, not {value!r}.")


@dataclass(frozen=True)
class ResolutionPolicy:
    """How many pixels (and tiles) of each image a model may look at."""

    max_tiles: int | None = None
    """Most full-resolution crops per image, not counting the global/thumbnail view that
    some families add; a cap on the model's default, never a raise. LLaVA 1.5: caps
    vlmcli's crop grid (which only `min_pixels` makes larger than the single view).
    LLaVA-NeXT/OneVision: keeps the checkpoint's `image_grid_pinpoints` of <= max_tiles
    crops (every grid up to max_tiles when none is that small). Idefics3/SmolVLM:
    `longest_edge` becomes the largest multiple of the tile, up to the checkpoint's edge,
    whose split has <= max_tiles crops. Qwen: max_pixels becomes at most max_tiles nominal
    tiles (see the module docstring)."""
    max_pixels: int | None = None
    """Most pixels the vision encoder gets per image, again a cap on the default: for tiled
    families every encoded view counts, the global/base/thumbnail view included (at most
    max_pixels // tile^2 - 1 crops when split, `tile_cap(global_views=...)`; each family
    module says how it counts its extra view); resized height*width for Qwen (smart_resize's
    `max_pixels` becomes the smaller of this and the checkpoint's)."""
    min_pixels: int | None = None
    """Fewest pixels of the image content the model sees; smaller images are upscaled, also
    beyond the model's default; a floor below the model's own default changes nothing.
    Qwen: the smart_resize `min_pixels` (never below the checkpoint's; `max_pixels` raised
    to it), and an image smart_resize puts outside [floor, cap] gets a size of whole cells
    within them (`qwen.qwen_resized_size`; ConfigError when none exists). PaliGemma: a
    floor above its one fixed view is refused (ConfigError), as a cap below it is. LLaVA-NeXT/OneVision and LLaVA 1.5: the grid with the
    fewest crops whose content reaches the floor (`anyres_floor`). Idefics3 raises
    `longest_edge` until the split has ceil(min_pixels / tile^2) crops, at most to 4096 px.
    When a cap and this floor disagree, the caps win."""

    def __post_init__(self) -> None:
        _check_positive(self.max_tiles, "max_tiles")
        _check_positive(self.max_pixels, "max_pixels")
        _check_positive(self.min_pixels, "min_pixels")
        if self.min_pixels is not None and self.max_pixels is not None and self.min_pixels > self.max_pixels:
            raise ConfigError(
                f"--min-pixels {self.min_pixels} is larger than --max-pixels {self.max_pixels}; "
                "the floor must not exceed the cap."
            )

    @property
    def is_native(self) -> bool:
        """True when nothing is set: every family keeps its checkpoint's own settings."""
        return self.max_tiles is None and self.max_pixels is None and self.min_pixels is None

    def tile_cap(self, tile_size: int, *, global_views: int = 0) -> int | None:
        """Most crops allowed for a family whose tiles are `tile_size` px squares, or None
        when neither `max_tiles` nor `max_pixels` is set. Raises ConfigError when
        `max_pixels` is below a single tile.

        `max_pixels` counts every image the encoder sees: with `global_views` (the global or
        thumbnail views a family adds to a split image) the crops get max_pixels // tile^2
        minus those views, at least 1 (a family's unsplit single view, which has none)."""
        caps = []
        if self.max_tiles is not None:
            caps.append(self.max_tiles)
        if self.max_pixels is not None:
            by_pixels = self.max_pixels // (tile_size * tile_size)
            if by_pixels < 1:
                raise ConfigError(
                    f"--max-pixels {self.max_pixels} is below one {tile_size}x{tile_size} tile "
                    f"({tile_size * tile_size} px) for this model."
                )
            caps.append(max(1, by_pixels - global_views))
        return min(caps) if caps else None

    def min_tiles(self, tile_size: int) -> int:
        """Fewest crops required for `tile_size` px tiles: ceil(min_pixels / tile^2), at least 1."""
        if self.min_pixels is None:
            return 1
        return max(1, math.ceil(self.min_pixels / (tile_size * tile_size)))

    def tile_bounds(self, tile_size: int, *, global_views: int = 0) -> tuple[int, int | None]:
        """(fewest, most) crops for `tile_size` px tiles; most is None when uncapped. The
        floor never exceeds the cap (caps win); `global_views` as in `tile_cap`."""
        cap = self.tile_cap(tile_size, global_views=global_views)
        floor = self.min_tiles(tile_size)
        return (floor if cap is None else min(floor, cap)), cap

    def tile_range(
        self, tile_size: int, *, native_most: int, slack: float = FLOOR_SLACK, global_views: int = 0
    ) -> tuple[int, int]:
        """(fewest, most) crops for a tiled family whose default allows at most `native_most`
        crops: the floor may raise the most above the default (to `slack` times the floor:
        exactly the floor's count, 113 crops, is only a 1 x 113 strip, with less resolution
        than no floor), the caps only lower it; `global_views` as in `tile_cap`."""
        floor, cap = self.tile_bounds(tile_size, global_views=global_views)
        most = max(native_most, math.ceil(floor * slack) if floor > native_most else floor)
        return floor, most if cap is None else min(most, cap)
