"""FastVLM single-view planning: one square view, one token per 64-px cell.

The processor (`LlavaProcessor` around a `CLIPImageProcessor`, as transformers' FastVLM
conversion writes it) resizes the shortest edge to `size.shortest_edge` (1024 on the hub),
centre-crops `crop_size` (1024 x 1024) and writes (crop_h // 64) * (crop_w // 64) `<image>`
tokens (`patch_size` 64: FastViTHD's total stride; no CLS, the "full" strategy): 256 on the
hub, whatever the image's size or aspect ratio (the crop drops the long side's ends).

Resolution policy (`vlmcli.tiling.policy`): FastViTHD is convolutional with conditional
(convolutional) position encodings, so it takes any multiple of 64 px; the paper scales
FastVLM's input resolution rather than tiling. The native knobs are the processor's
`size.shortest_edge` and `crop_size`, set together to one square side S:

- `--max-pixels P` caps S at the largest multiple of 64 with S^2 <= P (never above the
  checkpoint's side); below one 64 x 64 cell it is refused;
- `--max-tiles N`: FastVLM has one view and no tiles, so any N >= 1 changes nothing;
- `--min-pixels P` above the default view raises S to the smallest multiple of 64 with
  S^2 >= P (at most `MAX_SIDE`, or the checkpoint's side if larger); a cap wins over it.

No policy, no kwargs: the processor's own settings, exactly as transformers runs them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vlmcli.errors import ConfigError
from vlmcli.tiling.plan import ImagePlan
from vlmcli.tiling.policy import ResolutionPolicy

MAX_SIDE = 4096
"""Largest square side a `--min-pixels` floor may raise the view to (4096 tokens at 64 px)."""


def _positive(value: object, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"FastVLM {name} must be a positive integer, not {value!r}.")


@dataclass(frozen=True)
class FastVlmSpec:
    """What FastVLM token accounting needs. Defaults: KamilaMila/FastVLM-0.5B."""

    image_size: int = 1024
    """The square view: `crop_size` height = width (= `size.shortest_edge` on the hub)."""
    shortest_edge: int = 1024
    """`image_processor.size["shortest_edge"]`: the resize before the crop."""
    patch_size: int = 64
    """`processor.patch_size`: pixels per visual token along each side."""

    def __post_init__(self) -> None:
        for name in ("image_size", "shortest_edge", "patch_size"):
            _positive(getattr(self, name), name)
        if self.image_size < self.patch_size:
            raise ConfigError(f"FastVLM crop {self.image_size} px is below one {self.patch_size}-px cell.")

    @property
    def native_tokens(self) -> int:
        cells = self.image_size // self.patch_size
        return cells * cells


def fast_vlm_side(spec: FastVlmSpec, policy: ResolutionPolicy) -> int:
    """The square side (crop and shortest edge) under `policy`; the checkpoint's own when
    neither the floor nor a cap moves it (see the module docstring)."""
    cell = spec.patch_size
    side = spec.image_size
    if policy.min_pixels is not None and policy.min_pixels > side * side:
        wanted = -(-(math.isqrt(policy.min_pixels - 1) + 1) // cell) * cell  # smallest k*cell with k^2 cell^2 >= P
        side = min(wanted, max(MAX_SIDE // cell * cell, side))
    if policy.max_pixels is not None:
        capped = math.isqrt(policy.max_pixels) // cell * cell
        if capped < cell:
            raise ConfigError(
                f"--max-pixels {policy.max_pixels} is below one {cell}x{cell} cell ({cell * cell} px) for this model."
            )
        side = min(side, capped)  # caps win, and never raise
    return side


def fast_vlm_processor_kwargs(spec: FastVlmSpec, policy: ResolutionPolicy) -> dict[str, object]:
    """`images_kwargs` for the processor call: {} when the checkpoint's own view stands."""
    side = fast_vlm_side(spec, policy)
    if side == spec.image_size:
        return {}
    return {"size": {"shortest_edge": side}, "crop_size": {"height": side, "width": side}}


def plan_fast_vlm(spec: FastVlmSpec, policy: ResolutionPolicy, *, width: int, height: int) -> ImagePlan:
    """One square view per image: `resized` is the crop the tower sees."""
    _positive(width, "width")
    _positive(height, "height")
    side = fast_vlm_side(spec, policy)
    cells = side // spec.patch_size
    return ImagePlan(
        width=width,
        height=height,
        resized=(side, side),
        grid=(1, 1),
        tiles=1,
        visual_tokens=cells * cells,
    )
