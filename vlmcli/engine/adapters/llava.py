"""LLaVA-NeXT and LLaVA-OneVision (LLaVA 1.5 and vlmcli's tiling for it: `llava15`).

All LLaVA families put a run of `<image>` tokens in the prompt and scatter projected CLIP/SigLIP
features over it. LLaVA-NeXT and OneVision tile the image ("anyres") and send per-image
`image_sizes`; the model itself unpads and packs the tile features with newline embeddings
inside `get_image_features`, which returns one tensor per image.

LLaVA-OneVision treats an image differently when it shares a prompt with other images
(one base tile, no anyres), so that mode is part of the image's cache key.

Videos: LLaVA-OneVision has its own path (each frame's features are 2x2-pooled to a
ceil(g/2) x ceil(g/2) grid, then one newline token ends the clip); LLaVA 1.5 and NeXT get
frames as images. NeXT/OneVision image tokens are packed tiles with newline tokens, not a
grid, so `--compress pool:K` is refused for them (perceiver:M works on the sequence).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from vlmcli.engine.adapters.base import PreparedImage, PreparedVideo
from vlmcli.engine.adapters.generic import GenericAdapter
from vlmcli.engine.cache import Features
from vlmcli.engine.video_input import VideoInput
from vlmcli.media.image_input import ImageInput
from vlmcli.reduction.reducer import TokenLayout
from vlmcli.tiling import (
    ImagePlan,
    LlavaNextSpec,
    LlavaOnevisionSpec,
    anyres_input_size,
    anyres_pinpoints,
    parse_anyres_max,
    plan_llava_next,
)

if TYPE_CHECKING:
    import torch


def _spec_kwargs(config: Any, processor: Any) -> dict[str, Any]:
    return {
        "image_size": int(config.vision_config.image_size),
        "patch_size": int(config.vision_config.patch_size),
        "vision_feature_select_strategy": config.vision_feature_select_strategy,
    }


class LlavaNextAdapter(GenericAdapter):
    """transformers' common interface (`GenericAdapter`) with per-image `image_sizes`; the
    anyres grids follow the resolution policy."""

    image_keys = ("pixel_values", "image_sizes")

    def _spec(self) -> LlavaNextSpec:
        extra = int(getattr(self.processor, "num_additional_image_tokens", 1))
        return LlavaNextSpec(
            **_spec_kwargs(self.config, self.processor),
            num_additional_image_tokens=extra,
            image_grid_pinpoints=tuple(tuple(p) for p in self.config.image_grid_pinpoints),
        )

    def plan_images(self, sizes: list[tuple[int, int]]) -> list[ImagePlan]:
        spec = self._spec()
        multi = len(sizes) > 1
        return [plan_llava_next(spec, self.policy, width=w, height=h, multi_image=multi) for w, h in sizes]

    def processor_images(self, images: list[ImageInput]) -> list[Any]:
        """Under a floor, each image resized (bicubic, as the processor) to the content box of
        the canvas `anyres_input_size` picks, so the processor's own choice lands on it."""
        if self.policy.min_pixels is None:
            return super().processor_images(images)
        from PIL import Image

        spec, multi = self._spec(), len(images) > 1
        fed = []
        for im in images:
            size = anyres_input_size(spec, self.policy, width=im.image.width, height=im.image.height, multi_image=multi)
            same = size == (im.image.width, im.image.height)
            fed.append(im.image if same else im.image.resize(size, Image.Resampling.BICUBIC))
        return fed

    @contextmanager
    def resolution_applied(self) -> Iterator[None]:
        """The anyres grids are read from both the image processor and the model config."""
        if self.policy.is_native:
            yield
            return
        pinpoints = [list(p) for p in anyres_pinpoints(self._spec(), self.policy)]
        image_processor = self.processor.image_processor
        saved = (image_processor.image_grid_pinpoints, self.config.image_grid_pinpoints)
        image_processor.image_grid_pinpoints = pinpoints
        self.config.image_grid_pinpoints = pinpoints
        try:
            yield
        finally:
            image_processor.image_grid_pinpoints, self.config.image_grid_pinpoints = saved

    def stack(self, images: list[PreparedImage], key: str) -> "torch.Tensor":
        """`pixel_values` padded with zero tiles to the largest tile count, (N, P, 3, H, W)."""
        import torch

        if key != "pixel_values":
            return super().stack(images, key)
        most = max(im.inputs["pixel_values"].shape[1] for im in images)
        rows = []
        for im in images:
            pv = im.inputs["pixel_values"]  # (1, P, 3, H, W)
            pad = most - pv.shape[1]
            if pad:
                pv = torch.cat([pv, pv.new_zeros((1, pad, *pv.shape[2:]))], dim=1)
            rows.append(pv)
        return torch.cat(rows)  # (N, P, 3, H, W)


class LlavaOnevisionAdapter(LlavaNextAdapter):
    native_video = True

    def _frame_grid(self) -> tuple[int, int]:
        """Token grid of one video frame after the model's 2x2 bilinear pooling."""
        side = math.ceil(int(self.config.vision_config.image_size) // int(self.config.vision_config.patch_size) / 2)
        return (side, side)

    def split_videos(self, out: Any, videos: list[VideoInput], input_ids: "torch.Tensor") -> list[PreparedVideo]:
        pixel_values = out["pixel_values_videos"]  # (V, T_max, 3, H, W)
        height, width = pixel_values.shape[-2:]
        grid = self._frame_grid()
        prepared = []
        for i, video in enumerate(videos):
            frames = len(video)
            groups = self.clip_groups(video, units=frames)
            layout = TokenLayout(units=frames, per_unit=grid[0] * grid[1], grid=grid, tail=1, groups=groups)
            prepared.append(
                PreparedVideo(
                    source=video, inputs={"pixel_values_videos": pixel_values[i : i + 1, :frames]}, layout=layout,
                    visual_tokens=layout.encoder_tokens, resized=(int(width), int(height)),
                )
            )
        return prepared

    def encode_videos(self, videos: list[PreparedVideo]) -> list[Features]:
        """One tower call per clip (clips differ in frame count); each (T * g'^2 + 1, D)."""
        features = []
        for video in videos:
            pixel_values = video.inputs["pixel_values_videos"]  # (1, T, 3, H, W)
            pixel_values = pixel_values.to(self.model.device, self.vision_dtype)
            out = self.model.model.get_video_features(pixel_values_videos=pixel_values, return_dict=True)
            features.append({"embeds": out.pooler_output[0]})  # (T * g'^2 + 1, D)
        return features

    def video_replacement(self, video: PreparedVideo, original: str) -> str:
        return self.processor.video_token * self.reducer.count(video.layout)

    def _spec(self) -> LlavaNextSpec:
        return LlavaOnevisionSpec(
            **_spec_kwargs(self.config, self.processor),
            image_grid_pinpoints=tuple(tuple(p) for p in self.config.image_grid_pinpoints),
            max_num_patches=parse_anyres_max(self.config.vision_aspect_ratio),
        )

    def split_images(self, out: Any, images: list[ImageInput], input_ids: "torch.Tensor") -> list[PreparedImage]:
        prepared = super().split_images(out, images, input_ids)
        multi = len(images) > 1
        for im in prepared:
            im.variant = "multi" if multi else "single"
        return prepared

    def encode(self, images: list[PreparedImage]) -> list[Features]:
        """One call per mode: single images get anyres; images of multi-image prompts do not."""
        results: list[Features | None] = [None] * len(images)
        for multi in (False, True):
            group = [i for i, im in enumerate(images) if (im.variant == "multi") == multi]
            if not group:
                continue
            for i, feats in zip(group, self._encode_group([images[i] for i in group], multi=multi)):
                results[i] = feats
        return [r for r in results if r is not None]

    def _encode_group(self, images: list[PreparedImage], *, multi: bool) -> list[Features]:
        import torch

        image_sizes = torch.cat([im.inputs["image_sizes"] for im in images]).to(self.model.device)  # (N, 2)
        pixel_values = self.stack(images, "pixel_values").to(self.model.device, self.vision_dtype)  # (N, P, 3, H, W)
        if multi and len(images) == 1:
            # the model only skips anyres for prompts with several images: give it a pair and keep one
            pixel_values = torch.cat([pixel_values, pixel_values])
            image_sizes = torch.cat([image_sizes, image_sizes])
        counts = [pixel_values.shape[0]] if multi else [1] * len(images)
        with self.resolution_applied():
            out = self.model.model.get_image_features(
                pixel_values=pixel_values,
                image_sizes=image_sizes,
                batch_num_images=torch.tensor(counts),
                return_dict=True,
            )
        return [{"embeds": f.reshape(-1, f.shape[-1])} for f in out.pooler_output][: len(images)]
