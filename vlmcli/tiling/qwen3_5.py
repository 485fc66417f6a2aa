"""Qwen3.5 (`qwen3_5`) image planning: Qwen3-VL's `smart_resize`, unchanged.

Qwen3.5 checkpoints load transformers' `Qwen3VLProcessor` (the `Qwen2VLImageProcessor`
with 16-px patches and a 2x2 merge): the image is resized to multiples of 32 px with
`shortest_edge <= h * w <= longest_edge` and every 2x2 block of patches is one
`<|image_pad|>` token. The native knobs are the same `min_pixels`/`max_pixels` bounds, so
the policy maps exactly as for Qwen-VL (`vlmcli.tiling.qwen.qwen_pixel_bounds`): caps take
min(checkpoint, cap), a `--min-pixels` floor above the default upscales.
"""

from __future__ import annotations

from vlmcli.tiling.plan import ImagePlan
from vlmcli.tiling.policy import ResolutionPolicy
from vlmcli.tiling.qwen import QwenSpec, plan_qwen

Qwen3_5Spec = (
    QwenSpec  # patch_size, merge_size, min_pixels, max_pixels: the same four numbers
)


def plan_qwen3_5(
    spec: Qwen3_5Spec, policy: ResolutionPolicy, *, width: int, height: int
) -> ImagePlan:
    """How `Qwen3VLProcessor` resizes one image for a Qwen3.5 checkpoint, and its token cost."""
    return plan_qwen(spec, policy, width=width, height=height)
