"""Qwen2-VL, Qwen2.5-VL, Qwen3-VL (dense and MoE).

Native dynamic resolution: each image becomes a (t, h, w) grid of 14/16 px patches,
merged 2x2 into language tokens, so an image costs t*h*w / merge^2 tokens. The language
model uses 3-D rotary positions (MRoPE: time, height, width) for visual tokens, computed
by the model's own `get_rope_index`; text positions continue after the largest visual
position. Qwen3-VL also adds "deepstack" features from intermediate vision layers into
the first decoder layers at the visual positions. Videos: see `qwen_video`.

Compressed images keep valid MRoPE positions by being treated as a smaller image: an
image compressed to an (h', w') token grid (`Reducer.unit_grid`; a 1 x M strip when M
has no factor pair that fits) is positioned with image_grid_thw (1, 2h', 2w').
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vlmcli.engine.adapters.base import Merged, PreparedImage, PreparedRequest
from vlmcli.engine.adapters.qwen_video import DEEPSTACK, QwenVideoAdapter, split_features
from vlmcli.engine.cache import Features
from vlmcli.media.image_input import ImageInput
from vlmcli.reduction.reducer import TokenLayout
from vlmcli.tiling import ImagePlan, QwenSpec, plan_qwen, qwen_prompt_bounds, qwen_resized_size

if TYPE_CHECKING:
    import torch


class QwenVLAdapter(QwenVideoAdapter):
    token_extra_keys = ("mm_token_type_ids",)

    def _spec(self) -> QwenSpec:
        processor = self.processor.image_processor
        size = getattr(processor, "size", None) or {}
        low = size.get("shortest_edge") or getattr(processor, "min_pixels", None)
        high = size.get("longest_edge") or getattr(processor, "max_pixels", None)
        return QwenSpec(
            patch_size=int(processor.patch_size),
            merge_size=int(processor.merge_size),
            min_pixels=int(low),
            max_pixels=int(high),
        )

    def plan_images(self, sizes: list[tuple[int, int]]) -> list[ImagePlan]:
        spec = self._spec()
        return [plan_qwen(spec, self.policy, width=w, height=h) for w, h in sizes]

    def processor_kwargs(self, sizes: list[tuple[int, int]]) -> dict[str, Any]:
        if self.policy.is_native:
            return {}
        low, high, _ = qwen_prompt_bounds(self._spec(), self.policy, sizes)
        return {"images_kwargs": {"size": {"shortest_edge": low, "longest_edge": high}}}  # not the videos

    def processor_images(self, images: list[ImageInput]) -> list[Any]:
        """Every image already at its planned size when smart_resize alone would miss the
        floor for one of them (`qwen_prompt_bounds`); bicubic, as the processor."""
        sizes = [(im.image.width, im.image.height) for im in images]
        if self.policy.min_pixels is None or not qwen_prompt_bounds(self._spec(), self.policy, sizes)[2]:
            return super().processor_images(images)
        from PIL import Image

        spec, fed = self._spec(), []
        for im, (w, h) in zip(images, sizes):
            height, width = qwen_resized_size(spec, self.policy, width=w, height=h)
            same = (width, height) == (w, h)
            fed.append(im.image if same else im.image.resize((width, height), Image.Resampling.BICUBIC))
        return fed

    def split_images(self, out: Any, images: list[ImageInput], input_ids: "torch.Tensor") -> list[PreparedImage]:
        grids = out["image_grid_thw"]  # (N, 3)
        pixel_values = out["pixel_values"]  # (sum t*h*w, C*T*P*P)
        patch = int(self.config.vision_config.patch_size)
        prepared, start = [], 0
        for image, grid in zip(images, grids):
            t, h, w = (int(x) for x in grid)
            count = t * h * w
            prepared.append(
                PreparedImage(
                    source=image,
                    inputs={"pixel_values": pixel_values[start : start + count], "image_grid_thw": grid[None]},
                    visual_tokens=count // (self._merge**2),
                    resized=(w * patch, h * patch),
                )
            )
            start += count
        return prepared

    def image_layout(self, image: PreparedImage) -> TokenLayout:
        t, h, w = (int(x) for x in image.inputs["image_grid_thw"][0])
        m = self._merge
        return TokenLayout(units=t, per_unit=h * w // m**2, grid=(h // m, w // m))

    def encode(self, images: list[PreparedImage]) -> list[Features]:
        import torch

        pixel_values = torch.cat([im.inputs["pixel_values"] for im in images]).to(self.model.device, self.vision_dtype)
        grids = torch.cat([im.inputs["image_grid_thw"] for im in images]).to(self.model.device)  # (N, 3)
        out = self.model.model.get_image_features(pixel_values, grids, return_dict=True)
        return split_features(out, len(images))

    def merge(self, input_ids: "torch.Tensor", embeds: "torch.Tensor", features: list[Features]) -> Merged:
        import torch

        merged = super().merge(input_ids, embeds, features)
        layers = sorted(
            (k for k in (features[0] if features else {}) if k.startswith(DEEPSTACK)),
            key=lambda k: int(k[len(DEEPSTACK) :]),
        )
        if layers:
            merged.decoder_kwargs = {
                "visual_pos_masks": self.visual_mask(input_ids),  # (B, L) images and videos
                "deepstack_visual_embeds": [
                    torch.cat([f[k] for f in features]).to(embeds.device, embeds.dtype) for k in layers
                ],  # each (N, D)
            }
        return merged

    def prefill_positions(
        self,
        input_ids: "torch.Tensor",
        attention_mask: "torch.Tensor",
        *,
        extras: dict[str, "torch.Tensor"],
        requests: list[PreparedRequest],
    ) -> "torch.Tensor":
        """(4, B, L): text positions, then MRoPE (t, h, w) positions, as transformers builds them."""
        import torch

        text = super().prefill_positions(input_ids, attention_mask, extras=extras, requests=requests)  # (B, L)
        images = [self.rope_grid(im) for r in requests for im in r.images]
        videos = [v for r in requests for v in r.videos]
        if not images and not videos:
            vision = text.unsqueeze(0).expand(3, -1, -1)  # (3, B, L)
        else:
            device = input_ids.device
            kwargs: dict[str, Any] = {}
            seconds = self.video_seconds(videos)
            if seconds is not None:
                kwargs["second_per_grid_ts"] = seconds.to(device)
            vision, _ = self.model.model.get_rope_index(
                input_ids,
                image_grid_thw=torch.tensor(images, device=device) if images else None,  # (N, 3)
                video_grid_thw=torch.tensor([self.rope_grid(v) for v in videos], device=device) if videos else None,
                attention_mask=attention_mask,
                mm_token_type_ids=extras["mm_token_type_ids"],
                **kwargs,
            )  # (3, B, L)
        return torch.cat([text[None], vision], dim=0)  # (4, B, L)
