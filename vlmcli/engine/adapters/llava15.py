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

from vlmcli.engine.adapters.base import Adapter, PreparedImage
from vlmcli.engine.cache import Features
from vlmcli.engine.families import Family
from vlmcli.engine.reduction import TokenLayout
from vlmcli.engine.request import ImageInput
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


class LlavaAdapter(Adapter):
    """LLaVA 1.5: the processor's single view, or vlmcli's tiles under a resolution policy."""

    family = Family.LLAVA

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
        pixel_values = out["pixel_values"]  # (N, 3, H, W): the processor's single views
        per_view = int((input_ids == self.image_token_id).sum()) // max(len(images), 1)
        height, width = pixel_values.shape[-2:]
        plans = self.plan_images([(im.image.width, im.image.height) for im in images])
        prepared = []
        for i, (image, plan) in enumerate(zip(images, plans)):
            if plan.tiles == 1:
                inputs, written = {"pixel_values": pixel_values[i : i + 1]}, None
            else:
                inputs, written = {"pixel_values": self._tile(image, plan)}, per_view
            views = inputs["pixel_values"].shape[0]
            prepared.append(
                PreparedImage(
                    source=image,
                    inputs=inputs,
                    visual_tokens=views * per_view,
                    resized=(int(width), int(height)),
                    processor_tokens=written,
                )
            )
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

    def encode(self, images: list[PreparedImage]) -> list[Features]:
        """Every view of every image, `tiles_per_call` views per tower call (all on GPUs); per
        image its views' features, in order."""
        import torch

        pixel_values = torch.cat([im.inputs["pixel_values"] for im in images])  # (V, 3, H, W)
        pixel_values = pixel_values.to(self.model.device, self.vision_dtype)
        step = self.tiles_per_call or len(pixel_values)
        per_view = []  # V tensors, each (p^2, D)
        for start in range(0, len(pixel_values), step):
            out = self.model.model.get_image_features(pixel_values=pixel_values[start : start + step], return_dict=True)
            per_view += list(out.pooler_output)
        features, start = [], 0
        for im in images:
            views = int(im.inputs["pixel_values"].shape[0])
            embeds = torch.cat([f.reshape(-1, f.shape[-1]) for f in per_view[start : start + views]])  # (views*p^2, D)
            features.append({"embeds": embeds})
            start += views
        return features
