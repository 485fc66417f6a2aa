"""PaliGemma fixed-resolution planning.

The image processor (`SiglipImageProcessor`) squashes every image to the SigLIP tower's
fixed square (`size`: 224, 448 or 896 on the hub), and each image costs `image_seq_length`
`<image>` tokens ((size / patch)^2: 256, 1024, 4096), written before `<bos>` and the prompt.

Resolution policy (`vlmcli.tiling.policy`): PaliGemma has no native knob (one view, no
tiles, no other sizes a checkpoint was trained at), so the one view is both the least and
the most the model can take (`paligemma_check`):
- `--max-tiles N` (N >= 1) and a `--max-pixels` of at least the view change nothing (a cap
  on the default never raises the cost); a `--max-pixels` below the view is refused
  (ConfigError, "below one ... view"), as every family refuses a cap below its least
  (Gemma 3: its global view; FastVLM: one cell);
- a `--min-pixels` up to the view is already met; one above it is refused (ConfigError):
  the floor is applied, never ignored, and this model cannot show more of an image.
"""

from __future__ import annotations

from dataclasses import dataclass

from vlmcli.errors import ConfigError
from vlmcli.tiling.plan import ImagePlan
from vlmcli.tiling.policy import ResolutionPolicy


@dataclass(frozen=True)
class PaliGemmaSpec:
    """What PaliGemma token accounting needs. Defaults: google/paligemma2-3b-pt-224."""

    image_size: int = 224
    """The square every image is resized to (`image_processor.size`)."""
    image_seq_length: int = 256
    """`<image>` tokens per image (`processor.image_seq_length`)."""

    def __post_init__(self) -> None:
        for name in ("image_size", "image_seq_length"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"PaliGemma {name} must be a positive integer, not {value!r}.")


def paligemma_check(spec: PaliGemmaSpec, policy: ResolutionPolicy) -> None:
    """ConfigError when `policy` asks for less or more than the one fixed view (module docstring)."""
    side, view = spec.image_size, spec.image_size**2
    if policy.max_pixels is not None and policy.max_pixels < view:
        raise ConfigError(
            f"--max-pixels {policy.max_pixels} is below one {side}x{side} view ({view} px), the one fixed view "
            "this model encodes per image; leave --max-pixels out or set it to at least that."
        )
    if policy.min_pixels is not None and policy.min_pixels > view:
        raise ConfigError(
            f"--min-pixels {policy.min_pixels} is above this model's one fixed {side}x{side} view ({view} px): "
            f"it sees every image at that size and cannot show more; leave --min-pixels out or set it to at most {view}."
        )


def plan_paligemma(spec: PaliGemmaSpec, policy: ResolutionPolicy, *, width: int, height: int) -> ImagePlan:
    """One fixed view per image; ConfigError for a policy outside it (`paligemma_check`)."""
    paligemma_check(spec, policy)
    return ImagePlan(
        width=width,
        height=height,
        resized=(spec.image_size, spec.image_size),
        grid=(1, 1),
        tiles=1,
        visual_tokens=spec.image_seq_length,
    )
