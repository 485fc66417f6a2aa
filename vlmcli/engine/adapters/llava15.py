"""LLaVA 1.5 (`model_type` "llava"): one fixed-size view per image, plus vlmcli's own tiling.

Without a resolution policy the adapter is transformers' path exactly: the processor
resizes the short side to the tower's input size, centre-crops a square, and writes one
run of `<image>` tokens (p^2 patches, CLS dropped under "default") per image.

With `--min-pixels` above one view (`--max-tiles` / `--max-pixels` are caps and never tile)
vlmcli tiles the image itself, since LLaVA 1.5 has no native knob
(`vlmcli.tiling.plan_llava15` chooses the grid): the image is
letterboxed into a rows x cols canvas of tower-sized tiles (padding in the processor's
mean colour, as LLaVA 1.5's own "pad" preprocessing), cut row-major, and a letterboxed
global thumbnail is put first (LLaVA-NeXT's order). All views of all images of a batch go
through the vision tower together (in calls of `tiles_per_call` on CPU, one call on GPUs);
each view's features are concatenated, thumbnail
first, into one run of (1 + rows*cols) * p^2 `<image>` tokens. LLaVA 1.5 has no
`image_newline` embedding and was never trained on tiles, so no separator is added: the
model sees the views as one long image sequence. A grid of one crop is the untiled
default view (no thumbnail), exactly like no flag.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from vlmcli.engine.adapters.base import PreparedImage
from vlmcli.engine.adapters.generic import GenericAdapter
from vlmcli.media.image_input import ImageInput
from vlmcli.reduction.reducer import TokenLayout
from vlmcli.tiling import ImagePlan, LlavaSpec, global_and_tiles, grid_for, plan_llava15

if TYPE_CHECKING:
    import torch


def llava_spec(config: Any, processor: Any) -> LlavaSpec:
    """The LLaVA tiling spec of a checkpoint (tower input, patch, CLS handling)."""
    return LlavaSpec(
        image_size=int(config.vision_config.image_size),
        patch_size=int(config.vision_config.patch_size),
        vision_feature_select_strategy=config.vision_feature_select_strategy,
        num_additional_image_tokens=int(getattr(processor, "num_additional_image_tokens", 1)),
    )


class LlavaAdapter(GenericAdapter):
    """LLaVA 1.5: the processor's single view, or vlmcli's tiles under a resolution policy.

    transformers' common interface (`GenericAdapter`) but for the tiling: a tiled image's
    rows of `pixel_values` are its views, encoded `tiles_per_call` at a time.
    """

    @property
    def rows_per_call(self) -> int | None:  # type: ignore[override]
        return self.tiles_per_call

    def _spec(self) -> LlavaSpec:
        return llava_spec(self.config, self.processor)

    def plan_images(self, sizes: list[tuple[int, int]]) -> list[ImagePlan]:
        spec = self._spec()
        return [plan_llava15(spec, self.policy, width=w, height=h) for w, h in sizes]

    def _fill(self) -> tuple[int, ...]:
        """Padding colour: the processor's mean, so padding normalises to zero."""
        mean = getattr(self.processor.image_processor, "image_mean", None) or (0.0, 0.0, 0.0)
        return tuple(int(round(255 * m)) for m in mean)

    def _tile(self, image: ImageInput, plan: ImagePlan) -> "torch.Tensor":
        """Pixel values of the thumbnail then the tiles, (1 + rows*cols, 3, S, S)."""
        rows, cols = plan.grid
        grid = grid_for(width=plan.width, height=plan.height, rows=rows, cols=cols, tile_size=self._spec().image_size)
        views = global_and_tiles(image.image, grid, fill=self._fill())
        out = self.processor.image_processor(views, do_resize=False, do_center_crop=False, return_tensors="pt")
        return out["pixel_values"]  # (1 + rows*cols, 3, S, S)

    def split_images(self, out: Any, images: list[ImageInput], input_ids: "torch.Tensor") -> list[PreparedImage]:
        """The processor's single views; a tiled image's pixels become its views (thumbnail, tiles)."""
        prepared = super().split_images(out, images, input_ids)  # (1, 3, H, W) and one view's tokens each
        plans = self.plan_images([(im.image.width, im.image.height) for im in images])
        for image, plan in zip(prepared, plans):
            if plan.tiles > 1:
                image.processor_tokens = image.visual_tokens  # the processor wrote one view
                image.inputs = {"pixel_values": self._tile(image.source, plan)}  # (views, 3, S, S)
                image.visual_tokens *= int(image.inputs["pixel_values"].shape[0])
        return prepared

    def image_layout(self, image: PreparedImage) -> TokenLayout:
        """One unit per view (thumbnail, then tiles), each a p x p grid of patch tokens."""
        views = int(image.inputs["pixel_values"].shape[0])
        per_view = image.visual_tokens // views  # `prepare` asks before any reduction
        side = math.isqrt(per_view)  # (image / patch)^2 without CLS ("default" strategy)
        return TokenLayout(units=views, per_unit=per_view, grid=(side, side) if side * side == per_view else None)

    def image_replacement(self, image: PreparedImage, original: str) -> str:
        """LLaVA's expansion is only `<image>` tokens: one run of the image's (reduced) count."""
        return self.processor.image_token * image.visual_tokens
