"""Dynamic-resolution planning: how each image is resized and tiled, and what it costs.

Everything here except `tiler` (PIL crops) is pure integer arithmetic, so a plan
(`ImagePlan`) can be printed by `--dry-run` before any model loads. Each family module
mirrors its transformers processor exactly and maps the shared `ResolutionPolicy` onto
the family's native knobs; the engine's per-family adapters call these functions.
"""

from vlmcli.tiling.budget import largest_fitting, lowered_policy
from vlmcli.tiling.grid import Grid, choose_grid, fit_content, grid_for, pinpoints_for, select_best_resolution
from vlmcli.tiling.idefics3 import (
    Idefics3Layout,
    Idefics3Spec,
    idefics3_image_seq_len,
    idefics3_layout,
    idefics3_longest_edge,
    idefics3_prompt_tokens,
    idefics3_video_edge,
    plan_idefics3,
)
from vlmcli.tiling.llava import (
    LlavaNextSpec,
    LlavaOnevisionSpec,
    LlavaSpec,
    SelectStrategy,
    anyres_canvas,
    anyres_input_size,
    anyres_pinpoints,
    anyres_visual_tokens,
    parse_anyres_max,
    plan_llava15,
    plan_llava_next,
)
from vlmcli.tiling.plan import ImagePlan
from vlmcli.tiling.policy import ResolutionPolicy
from vlmcli.tiling.qwen import (
    QwenSpec,
    plan_qwen,
    qwen_pixel_bounds,
    qwen_prompt_bounds,
    qwen_resized_size,
    qwen_video_size,
    qwen_visual_tokens,
    smart_resize,
)
from vlmcli.tiling.tiler import cut_tiles, global_and_tiles, thumbnail

__all__ = [
    "Grid",
    "Idefics3Layout",
    "Idefics3Spec",
    "ImagePlan",
    "LlavaNextSpec",
    "LlavaOnevisionSpec",
    "LlavaSpec",
    "QwenSpec",
    "ResolutionPolicy",
    "SelectStrategy",
    "anyres_canvas",
    "anyres_input_size",
    "anyres_pinpoints",
    "anyres_visual_tokens",
    "choose_grid",
    "cut_tiles",
    "fit_content",
    "global_and_tiles",
    "grid_for",
    "idefics3_image_seq_len",
    "idefics3_layout",
    "idefics3_longest_edge",
    "idefics3_prompt_tokens",
    "idefics3_video_edge",
    "largest_fitting",
    "lowered_policy",
    "parse_anyres_max",
    "pinpoints_for",
    "plan_idefics3",
    "plan_llava15",
    "plan_llava_next",
    "plan_qwen",
    "qwen_pixel_bounds",
    "qwen_prompt_bounds",
    "qwen_resized_size",
    "qwen_video_size",
    "qwen_visual_tokens",
    "select_best_resolution",
    "smart_resize",
    "thumbnail",
]
