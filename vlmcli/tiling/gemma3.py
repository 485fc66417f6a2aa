"""Gemma 3 fixed-resolution planning, with optional pan-and-scan crops.

The image processor (transformers `Gemma3ImageProcessor`) squashes every view to the
SigLIP tower's fixed square (`size`, 896 x 896 for gemma-3-4b-it) and each view costs
`image_seq_length` soft tokens (256), written as `<start_of_image>` + 256
`<image_soft_token>` + `<end_of_image>`.

Pan-and-scan (`do_pan_and_scan`, off in the hub checkpoints) adds crops of elongated
images, computed on the original size, exactly as `Gemma3ImageProcessor.pan_and_scan_batched`:

- landscape (w >= h): only when w / h >= `min_ratio_to_activate`; crops =
  clamp(min(floor(w / h + 0.5), floor(w / min_crop_size)), 2, max_num_crops) columns;
  portrait likewise in rows;
- none when a crop (ceil(w / cols) x ceil(h / rows)) is below `min_crop_size`.

Each crop is a further view (`image_seq_length` tokens); the processor also writes the
text "Here is the original image ... and here are some crops ...", which is ordinary
prompt text.

Resolution policy (`vlmcli.tiling.policy`): the only knob is the number of crops.
- `--max-tiles N` caps `pan_and_scan_max_num_crops` at N; since pan-and-scan makes at
  least 2 crops, N = 1 turns it off. `--max-pixels P` counts every view, the global one
  included: at most floor(P / size^2) - 1 crops. The global view always stays, so a P
  below one view is refused (ConfigError), and a cap never turns pan-and-scan on where
  the checkpoint has it off: caps never raise the cost.
- `--min-pixels P` up to one view (size^2) is already met. Above it, pan-and-scan is
  turned on for every aspect ratio (`min_ratio_to_activate` 1.0) with up to
  ceil(P / size^2) crops (at least the checkpoint's `max_num_crops`); pan-and-scan cuts
  round(aspect ratio) crops (at least 2) along the long side, none smaller than
  `min_crop_size`, so the floor is met only as far as the image's shape allows (a square
  gets 2 crops; a small image none): best effort, and the plan (`--dry-run`) says what it
  costs. When caps and the floor disagree, the caps win.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vlmcli.errors import ConfigError
from vlmcli.tiling.plan import ImagePlan
from vlmcli.tiling.policy import ResolutionPolicy


@dataclass(frozen=True)
class Gemma3Spec:
    """What Gemma 3 token accounting needs. Defaults: google/gemma-3-4b-it."""

    image_size: int = 896
    """The square every view is resized to (`image_processor.size`)."""
    image_seq_length: int = 256
    """Soft tokens per view (`processor.image_seq_length` = `config.mm_tokens_per_image`)."""
    do_pan_and_scan: bool = False
    min_crop_size: int = 256
    max_num_crops: int = 4
    min_ratio_to_activate: float = 1.2

    def __post_init__(self) -> None:
        for name in ("image_size", "image_seq_length", "min_crop_size", "max_num_crops"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"Gemma 3 {name} must be a positive integer, not {value!r}.")


@dataclass(frozen=True)
class PanAndScan:
    """The processor's pan-and-scan knobs for one policy."""

    enabled: bool
    max_num_crops: int
    min_ratio_to_activate: float

    def processor_kwargs(self) -> dict[str, object]:
        if not self.enabled:
            return {"do_pan_and_scan": False}
        return {
            "do_pan_and_scan": True,
            "pan_and_scan_max_num_crops": self.max_num_crops,
            "pan_and_scan_min_ratio_to_activate": self.min_ratio_to_activate,
        }


def gemma3_pan_and_scan(spec: Gemma3Spec, policy: ResolutionPolicy) -> PanAndScan:
    """The pan-and-scan settings under `policy`: caps lower the crop count (below 2: off;
    `max_pixels` counts the global view too, and is refused below it), a floor above one
    view turns it on for any aspect ratio with up to ceil(P / size^2) crops."""
    enabled, crops, ratio = spec.do_pan_and_scan, spec.max_num_crops, spec.min_ratio_to_activate
    view = spec.image_size**2
    if policy.min_pixels is not None and policy.min_pixels > view:
        enabled, crops, ratio = True, max(crops, -(-policy.min_pixels // view)), 1.0
    if policy.max_tiles is not None:
        crops = min(crops, policy.max_tiles)
    if policy.max_pixels is not None:
        if policy.max_pixels < view:
            raise ConfigError(
                f"--max-pixels {policy.max_pixels} is below one {spec.image_size}x{spec.image_size} view "
                f"({view} px), the global view this model encodes per image at the least."
            )
        crops = min(crops, policy.max_pixels // view - 1)  # the global view counts too
    if not enabled or crops < 2:
        return PanAndScan(False, spec.max_num_crops, spec.min_ratio_to_activate)
    return PanAndScan(True, crops, ratio)


def gemma3_crop_grid(
    spec: Gemma3Spec, *, width: int, height: int, max_num_crops: int, min_ratio: float
) -> tuple[int, int]:
    """(rows, cols) of pan-and-scan crops, (0, 0) when none (mirrors `pan_and_scan_batched`)."""
    if width >= height:
        if width / height < min_ratio:
            return 0, 0
        cols = min(math.floor(width / spec.min_crop_size), math.floor(width / height + 0.5))
        cols = min(max_num_crops, max(2, cols))
        rows = 1
    else:
        if height / width < min_ratio:
            return 0, 0
        rows = min(math.floor(height / spec.min_crop_size), math.floor(height / width + 0.5))
        rows = min(max_num_crops, max(2, rows))
        cols = 1
    if min(math.ceil(width / cols), math.ceil(height / rows)) < spec.min_crop_size:
        return 0, 0
    return rows, cols


def plan_gemma3(spec: Gemma3Spec, policy: ResolutionPolicy, *, width: int, height: int) -> ImagePlan:
    """Views (global + crops) and soft tokens of one image."""
    knobs = gemma3_pan_and_scan(spec, policy)
    rows, cols = (0, 0)
    if knobs.enabled:
        rows, cols = gemma3_crop_grid(
            spec, width=width, height=height, max_num_crops=knobs.max_num_crops, min_ratio=knobs.min_ratio_to_activate
        )
    crops = rows * cols
    views = 1 + crops
    return ImagePlan(
        width=width,
        height=height,
        resized=(spec.image_size, spec.image_size),
        grid=(rows, cols) if crops else (1, 1),
        tiles=views,
        visual_tokens=views * spec.image_seq_length,
    )
