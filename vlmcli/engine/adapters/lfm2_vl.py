"""LFM2-VL (`lfm2_vl`, e.g. LiquidAI/LFM2-VL-450M).

transformers' common interface (`GenericAdapter`) with SigLIP2 NaFlex inputs: the processor
returns one row of `pixel_values` per view (the tiles of a split image row-major, then its
thumbnail; or the single view), each padded to the same number of patches, with
`pixel_attention_mask` and `spatial_shapes` (patch rows, cols) per row; there is no
per-image split, so the rows of an image are those whose unshuffled token counts
((rows // 2) * (cols // 2)) add up to the `<image>` tokens the processor wrote for it.
`get_image_features` returns one (tokens, D) tensor per row; they replace the image's
`<image>` tokens in order. The decoder is LFM2, a hybrid of short convolutions and
attention: its cache (`DynamicCache` with conv-state layers for the `conv` layers) is built
from the text config by `vlmcli.engine.kvcache.growing_cache`, which keeps those layers as
they are, and positions are 1-D.

Resolution: `--max-tiles` / `--max-pixels` / `--min-pixels` become the processor's
`max_tiles`, `min_tiles`, `do_image_splitting`, `max_image_tokens`, `min_image_tokens` and
`max_pixels_tolerance` for the call (`vlmcli.tiling.lfm2_vl`). Videos reach the model as
frames (images with time markers). `--compress perceiver:M` writes M `<image>` tokens
between `<|image_start|>` and `<|image_end|>`; `pool:K` is refused (no single grid).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vlmcli.engine.adapters.base import PreparedImage
from vlmcli.engine.adapters.generic import GenericAdapter
from vlmcli.media.image_input import ImageInput
from vlmcli.tiling import ImagePlan
from vlmcli.tiling.lfm2_vl import Lfm2VlSpec, lfm2_vl_settings, plan_lfm2_vl

if TYPE_CHECKING:
    import torch

_KNOBS = ("do_image_splitting", "min_tiles", "max_tiles", "min_image_tokens", "max_image_tokens",
          "max_pixels_tolerance")  # fmt: skip


class Lfm2VlAdapter(GenericAdapter):
    """`GenericAdapter` with NaFlex rows (`spatial_shapes`, `pixel_attention_mask`) cut per image."""

    image_keys = ("pixel_values", "spatial_shapes", "pixel_attention_mask")

    def _spec(self) -> Lfm2VlSpec:
        ip = self.processor.image_processor
        return Lfm2VlSpec(
            encoder_patch_size=int(ip.encoder_patch_size),
            downsample_factor=int(ip.downsample_factor),
            tile_size=int(ip.tile_size),
            min_tiles=int(ip.min_tiles),
            max_tiles=int(ip.max_tiles),
            min_image_tokens=int(ip.min_image_tokens),
            max_image_tokens=int(ip.max_image_tokens),
            max_pixels_tolerance=float(ip.max_pixels_tolerance),
            do_image_splitting=bool(ip.do_image_splitting),
            use_thumbnail=bool(ip.use_thumbnail),
        )

    def plan_images(self, sizes: list[tuple[int, int]]) -> list[ImagePlan]:
        spec = self._spec()
        return [plan_lfm2_vl(spec, self.policy, width=w, height=h) for w, h in sizes]

    def processor_kwargs(self, sizes: list[tuple[int, int]]) -> dict[str, Any]:
        if self.policy.is_native:
            return {}
        spec = self._spec()
        self.plan_images(sizes)  # refuses what the processor cannot do, before it runs
        knobs = lfm2_vl_settings(spec, self.policy)
        return {"images_kwargs": {name: getattr(knobs, name) for name in _KNOBS}}

    def split_images(self, out: Any, images: list[ImageInput], input_ids: torch.Tensor) -> list[PreparedImage]:
        """Per image: its consecutive rows, found by adding up each row's tokens."""
        factor = int(self.config.downsample_factor)
        shapes = out["spatial_shapes"]  # (R, 2) patch rows, cols
        per_row = [int(h) // factor * (int(w) // factor) for h, w in shapes.tolist()]
        prepared, start = [], 0
        for image, tokens in zip(images, self.tokens_per_image(out), strict=True):
            end, total = start, 0
            while total < tokens:
                total += per_row[end]
                end += 1
            assert total == tokens, (tokens, per_row[start:end])
            rows = slice(start, end)
            inputs = {key: out[key][rows] for key in self.image_keys}
            height, width = (int(v) * int(self._spec().encoder_patch_size) for v in shapes[end - 1])
            prepared.append(PreparedImage(source=image, inputs=inputs, visual_tokens=tokens, resized=(width, height)))
            start = end
        assert start == len(per_row), (start, len(per_row))
        return prepared

    def stack(self, images: list[PreparedImage], key: str) -> torch.Tensor:
        """Rows of every image; `pixel_values` and the mask padded to the batch's longest row
        (every call pads to the same length unless the knobs differ)."""
        import torch

        if key == "spatial_shapes":
            return super().stack(images, key)
        length = max(int(im.inputs[key].shape[1]) for im in images)
        parts = []
        for im in images:
            value = im.inputs[key]
            missing = length - int(value.shape[1])
            if missing:
                pad = (0, 0, 0, missing) if value.dim() == 3 else (0, missing)
                value = torch.nn.functional.pad(value, pad)
            parts.append(value)
        return torch.cat(parts)

    def image_replacement(self, image: PreparedImage, original: str) -> str:
        """A reduced image (`--compress perceiver:M`): M `<image>` tokens between the markers."""
        layout = image.layout
        assert layout is not None
        count = self.reducer.count(layout)
        body = self.processor.image_token * count
        if original.startswith(self.processor.image_start_token):
            return self.processor.image_start_token + body + self.processor.image_end_token
        return body
