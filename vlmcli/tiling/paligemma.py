"""PaliGemma fixed-resolution planning.

The image processor (`SiglipImageProcessor`) squashes every image to the SigLIP tower's
fixed square (`size`: 224, 448 or 896 on the hub), and each image costs `image_seq_length`
`<image>` tokens ((size / patch)^2: 256, 1024, 4096), written before `<bos>` and the prompt.

Resolution policy (`vlmcli.tiling.policy`): PaliGemma has no native knob (one view, no
tiles, no other sizes a checkpoint was trained at), so:
- `--max-tiles` / `--max-pixels` are caps on the default, which is already the least the
  model can take: they change nothing (a cap never raises the cost);
- `--min-pixels` cannot raise the fixed view: it is ignored, and the plan (`--dry-run`)
  shows the fixed size and cost, as for LLaVA-OneVision's fixed video frames.
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


def plan_paligemma(spec: PaliGemmaSpec, policy: ResolutionPolicy, *, width: int, height: int) -> ImagePlan:
    """One fixed view per image, whatever the policy (see the module docstring)."""
    del policy  # no native knob: caps change nothing, the floor cannot raise the fixed view
    return ImagePlan(
        width=width,
        height=height,
        resized=(spec.image_size, spec.image_size),
        grid=(1, 1),
        tiles=1,
        visual_tokens=spec.image_seq_length,
    )
