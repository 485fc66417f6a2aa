"""MiniCPM-V 4.6 (transformers' native `minicpmv4_6`, e.g. openbmb/MiniCPM-V-4.6).

The processor cuts each image into a thumbnail plus a grid of slices
(`vlmcli.tiling.minicpmv4_6`) and writes, per image,
`<image_id>N</image_id><image>` + thumbnail tokens + `</image>` then one
`<slice>` + tokens + `</slice>` per slice, rows separated by "\\n". It packs the crops of
every image of the call NaViT-style into ONE tensor: `pixel_values` (1, 3, patch, sum of
crop patches * patch) with `target_sizes` (crops, 2) in patches, so nothing is per image
along the first dimension. Here each image's crops are cut out of that packing (its crop
count is 1 + its `<slice>` markers), and `encode` packs the crops of all images of a batch
again for one `get_image_features` call, whose `pooler_output` is one (tokens, D) tensor
per crop (vision attention, window merger and MLP merger all work within a crop, so the
features of an image do not depend on what it is packed with). The features replace the
`<|image_pad|>` tokens; the decoder is Qwen3.5's hybrid one with 1-D positions (it
broadcasts them to its MRoPE axes), so merging and positions are the base adapter's.

Resolution: the native knob is `max_slice_nums`, one per processor call
(`minicpmv4_6_slice_limit`). Videos come as frames (images with time markers): the
model's own video path (`<|video_pad|>` frames through the same tower) is not wired here.
`--compress` works per crop when every crop of an image has the same token grid.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from vlmcli.engine.adapters.base import Adapter, PreparedImage
from vlmcli.engine.adapters.prompt import resize_runs
from vlmcli.engine.cache import Features
from vlmcli.errors import ConfigError
from vlmcli.media.image_input import ImageInput
from vlmcli.reduction.reducer import TokenLayout
from vlmcli.tiling import ImagePlan, ResolutionPolicy
from vlmcli.tiling.minicpmv4_6 import (
    MiniCPMV4_6Spec,
    minicpmv4_6_slice_limit,
    plan_minicpmv4_6,
)

if TYPE_CHECKING:
    import torch

MERGE = 4  # patches per token side: the ViT window merger (2x2) then the MLP merger (2x2)


class MiniCPMV4_6Adapter(Adapter):
    """Crops of all images packed in one NaViT sequence, cut per image here."""

    def _spec(self) -> MiniCPMV4_6Spec:
        processor = self.processor.image_processor
        return MiniCPMV4_6Spec(
            scale_resolution=int(processor.scale_resolution),
            patch_size=int(processor.patch_size),
            max_slice_nums=int(processor.max_slice_nums),
            slice_mode=bool(processor.slice_mode),
            downsample_mode=str(processor.downsample_mode),
        )

    def _limit(self, sizes: list[tuple[int, int]]) -> int:
        return minicpmv4_6_slice_limit(self._spec(), self.policy, sizes)

    def plan_images(self, sizes: list[tuple[int, int]]) -> list[ImagePlan]:
        spec = replace(self._spec(), max_slice_nums=self._limit(sizes))
        return [plan_minicpmv4_6(spec, ResolutionPolicy(), width=w, height=h) for w, h in sizes]

    def processor_kwargs(self, sizes: list[tuple[int, int]]) -> dict[str, Any]:
        if self.policy.is_native or not sizes:
            return {}
        return {"images_kwargs": {"max_slice_nums": self._limit(sizes)}}

    # -- prompt ----------------------------------------------------------------
    def split_images(self, out: Any, images: list[ImageInput], input_ids: torch.Tensor) -> list[PreparedImage]:
        pixel_values = out["pixel_values"]  # (1, 3, P, N): every crop's patches side by side
        target_sizes = out["target_sizes"]  # (crops, 2) in patches
        patch = int(pixel_values.shape[2])
        entries = [e for e in out["text_replacement_offsets"][0] if e["type"] == "image"]
        prepared, crop, column = [], 0, 0
        for image, entry in zip(images, entries, strict=True):
            crops = 1 + entry["replacement"].count(self.processor.slice_start_token)
            sizes = target_sizes[crop : crop + crops]  # (k, 2)
            width = int((sizes[:, 0] * sizes[:, 1]).sum()) * patch
            inputs = {"pixel_values": pixel_values[..., column : column + width], "target_sizes": sizes}
            tokens = entry["replacement"].count(self.processor.image_token)
            height_px, width_px = (int(v) * patch for v in sizes[0])
            prepared.append(PreparedImage(source=image, inputs=inputs, visual_tokens=tokens, resized=(width_px, height_px)))
            crop, column = crop + crops, column + width
        return prepared

    def image_layout(self, image: PreparedImage) -> TokenLayout:
        """One unit per crop (thumbnail, then slices row-major) on its token grid when every
        crop has the same grid; otherwise one unit with no grid."""
        grids = {(int(h) // MERGE, int(w) // MERGE) for h, w in image.inputs["target_sizes"].tolist()}
        if self._spec().downsample_mode != "16x" or len(grids) != 1:
            return TokenLayout(units=1, per_unit=image.visual_tokens)
        (grid,) = grids
        crops = int(image.inputs["target_sizes"].shape[0])
        return TokenLayout(units=crops, per_unit=grid[0] * grid[1], grid=grid)

    def image_replacement(self, image: PreparedImage, original: str) -> str:
        layout = image.layout
        assert layout is not None
        if layout.grid is None:
            raise ConfigError(
                "This MiniCPM-V image's thumbnail and slices have different token grids, so they "
                "cannot be compressed per crop; drop --compress for it."
            )
        new = self.reducer.unit_tokens(layout)
        return resize_runs(original, self.processor.image_token, per_unit=layout.per_unit, new_per_unit=new)

    # -- vision ----------------------------------------------------------------
    def encode(self, images: list[PreparedImage]) -> list[Features]:
        """Every crop of every image in one tower call; per image (tokens, D)."""
        import torch

        device = self.model.device
        pixel_values = torch.cat([im.inputs["pixel_values"] for im in images], dim=-1)  # (1, 3, P, N)
        target_sizes = torch.cat([im.inputs["target_sizes"] for im in images])  # (crops, 2)
        out = self.model.model.get_image_features(
            pixel_values=pixel_values.to(device, self.vision_dtype),
            target_sizes=target_sizes.to(device),
            return_dict=True,
        )
        per_crop = list(out.pooler_output)  # crops tensors, each (T_c, D)
        features, start = [], 0
        for im in images:
            count = int(im.inputs["target_sizes"].shape[0])
            features.append({"embeds": torch.cat(per_crop[start : start + count])})  # (T, D)
            start += count
        return features
