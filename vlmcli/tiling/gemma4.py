"""Gemma 4 resolution planning: one aspect-preserving view under a soft-token budget.

The image processors (transformers `Gemma4ImageProcessor` and `Gemma4UnifiedImageProcessor`,
`get_aspect_ratio_preserving_size`) resize every image, up or down, to the largest size
that keeps its aspect ratio, has both sides multiples of `k * patch_size` (k =
`pooling_kernel_size`) and at most `max_soft_tokens * k^2` patches:

- f = sqrt(max_patches * patch^2 / (h * w)); h' = floor(f * h / m) * m, w' likewise
  (m = k * patch);
- a side that rounds to 0 becomes m, the other floor(long / short) * m, at most
  (max_patches / k^2) * m (very elongated images);

and each image costs (h' / patch) * (w' / patch) / k^2 soft tokens, written as `<|image>`
+ that many `<|image|>` + `<image|>`. No tiles: one view per image. Video frames go the
same way with the video processor's own (smaller) budget.

`max_soft_tokens` is the one knob and takes only the values `SOFT_TOKEN_BUDGETS` (70, 140,
280, 560, 1120; 280 for images in the hub checkpoints). A view of b soft tokens is at most
b * (k * patch)^2 pixels, and the cost grows with b, so the resolution policy
(`vlmcli.tiling.policy`) picks a budget:

- `--max-pixels P`: the largest budget up to the checkpoint's whose views fit in P pixels
  (the smallest budget when none does: the floor of what the processor accepts);
- `--max-tiles N`: met by every budget (one view); it changes nothing;
- `--min-pixels P`: the smallest budget from the checkpoint's up whose views may reach P
  pixels (1120 when none does). The resize is floored to multiples of m, so a view may
  fall just short of P: best effort, and the plan (`--dry-run`) says what it costs.
  When the caps and the floor disagree, the caps win.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vlmcli.errors import ConfigError
from vlmcli.tiling.plan import ImagePlan
from vlmcli.tiling.policy import ResolutionPolicy
from vlmcli.tiling.refusal import about_image

SOFT_TOKEN_BUDGETS = (70, 140, 280, 560, 1120)
"""The `max_soft_tokens` values the Gemma 4 processors accept."""


@dataclass(frozen=True)
class Gemma4Spec:
    """What Gemma 4 token accounting needs. Defaults: google/gemma-4-E2B-it images."""

    patch_size: int = 16
    pooling_kernel_size: int = 3
    max_soft_tokens: int = 280
    """The checkpoint's budget (`image_processor.max_soft_tokens`)."""

    def __post_init__(self) -> None:
        for name in ("patch_size", "pooling_kernel_size", "max_soft_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"Gemma 4 {name} must be a positive integer, not {value!r}.")
        if self.max_soft_tokens not in SOFT_TOKEN_BUDGETS:
            raise ConfigError(f"Gemma 4 max_soft_tokens must be one of {SOFT_TOKEN_BUDGETS}, not {self.max_soft_tokens}.")

    @property
    def side_multiple(self) -> int:
        """m: both resized sides are multiples of k * patch_size."""
        return self.pooling_kernel_size * self.patch_size

    def view_pixels(self, budget: int) -> int:
        """Most pixels of a view under `budget` soft tokens: budget * m^2."""
        return budget * self.side_multiple**2


def gemma4_resize(spec: Gemma4Spec, *, width: int, height: int, budget: int) -> tuple[int, int]:
    """(width, height) of the view under `budget` soft tokens (mirrors
    `get_aspect_ratio_preserving_size`, float arithmetic included)."""
    if width < 1 or height < 1:
        raise ConfigError(f"image size must be positive, got {width}x{height}")
    k, patch, m = spec.pooling_kernel_size, spec.patch_size, spec.side_multiple
    max_patches = budget * k * k
    factor = math.sqrt(max_patches * patch**2 / (height * width))
    new_h = math.floor(factor * height / m) * m
    new_w = math.floor(factor * width / m) * m
    if new_h == 0 and new_w == 0:
        raise about_image(
            ConfigError(f"a {width}x{height} image cannot be resized for Gemma 4 (both sides below {m} px)."), width=width, height=height
        )
    longest = (max_patches // (k * k)) * m
    if new_h == 0:
        new_h, new_w = m, min(math.floor(width / height) * m, longest)
    elif new_w == 0:
        new_w, new_h = m, min(math.floor(height / width) * m, longest)
    return new_w, new_h


def gemma4_soft_tokens(spec: Gemma4Spec, *, width: int, height: int) -> int:
    """Soft tokens of a resized (width, height) view."""
    patch, k = spec.patch_size, spec.pooling_kernel_size
    return (height // patch) * (width // patch) // (k * k)


def gemma4_budget(spec: Gemma4Spec, policy: ResolutionPolicy) -> int:
    """`max_soft_tokens` under `policy`: the floor raises it, the caps lower it (caps win)."""
    budget = spec.max_soft_tokens
    if policy.min_pixels is not None:
        enough = [b for b in SOFT_TOKEN_BUDGETS if b >= budget and spec.view_pixels(b) >= policy.min_pixels]
        budget = enough[0] if enough else SOFT_TOKEN_BUDGETS[-1]
    if policy.max_pixels is not None:
        fitting = [b for b in SOFT_TOKEN_BUDGETS if b <= spec.max_soft_tokens and spec.view_pixels(b) <= policy.max_pixels]
        cap = fitting[-1] if fitting else SOFT_TOKEN_BUDGETS[0]
        budget = min(budget, cap)
    return budget


def plan_gemma4(spec: Gemma4Spec, policy: ResolutionPolicy, *, width: int, height: int) -> ImagePlan:
    """The one view of an image and its soft tokens."""
    resized = gemma4_resize(spec, width=width, height=height, budget=gemma4_budget(spec, policy))
    return ImagePlan(
        width=width,
        height=height,
        resized=resized,
        grid=(1, 1),
        tiles=1,
        visual_tokens=gemma4_soft_tokens(spec, width=resized[0], height=resized[1]),
    )
