"""Idefics2 (Idefics3's predecessor): variable-size views, a perceiver resampler.

The processor writes, per image, one `<fake_token_around_image>` + `<image>` *
image_seq_len run per view (4 quarters + the whole image when splitting is on, else the
image alone; adjacent markers merged) and returns every view of a prompt padded to the
prompt's largest, with a pixel mask. Each view becomes `image_seq_len` tokens after the
perceiver, whatever its size, so an image's views are a fixed count (5 or 1): no markers
to walk. Each image keeps its views cropped to its own largest (so its features, and its
cache entry, do not depend on the other images of the prompt); `encode` pads a batch of
views to a common size with masks, as the processor does.

Splitting is a setting of the processor object (its prompt expansion reads
`image_processor.do_image_splitting`), so the policy's choice is set there while a prompt
is prepared (`resolution_applied`); the size bounds go in as call kwargs. Planning:
`vlmcli.tiling.idefics2`. No native video: videos come as frames with time markers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from vlmcli.engine.adapters.base import PreparedImage, PreparedVideo
from vlmcli.engine.adapters.idefics3 import Idefics3Adapter
from vlmcli.engine.cache import Features
from vlmcli.errors import ConfigError
from vlmcli.media.image_input import ImageInput
from vlmcli.reduction.reducer import TokenLayout
from vlmcli.tiling import ImagePlan, ResolutionPolicy
from vlmcli.tiling.idefics2 import (
    SPLIT_CROPS,
    Idefics2Settings,
    Idefics2Spec,
    check_splittable,
    idefics2_settings,
    plan_idefics2,
)

if TYPE_CHECKING:
    import torch


class Idefics2Adapter(Idefics3Adapter):
    """Shares Idefics3's decoder and tile encoding shape; views differ in size and count."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.native_video = False
        self._settings: Idefics2Settings | None = None

    # -- resolution ----------------------------------------------------------
    def _spec(self) -> Idefics2Spec:  # type: ignore[override]
        processor = self.processor.image_processor
        size = processor.size
        return Idefics2Spec(
            longest_edge=int(size["longest_edge"]),
            shortest_edge=int(size["shortest_edge"]),
            image_seq_len=int(self.processor.image_seq_len),
            do_image_splitting=bool(processor.do_image_splitting),
            patch_size=int(self.config.vision_config.patch_size),
        )

    def plan_images(self, sizes: list[tuple[int, int]]) -> list[ImagePlan]:
        """One setting per prompt (the processor takes one): the policy's, pinned into the spec."""
        spec = self._spec()
        if not self.policy.is_native and sizes:
            settings = idefics2_settings(spec, self.policy, sizes)
            spec = replace(
                spec,
                longest_edge=settings.longest_edge,
                shortest_edge=settings.shortest_edge,
                do_image_splitting=settings.do_image_splitting,
            )
        return [plan_idefics2(spec, ResolutionPolicy(), width=w, height=h) for w, h in sizes]

    def processor_images(self, images: list[ImageInput]) -> list[Any]:
        """The images as they are: Idefics2's settings apply to the prompt (not Idefics3's per-image edges)."""
        return [im.image for im in images]

    def processor_kwargs(self, sizes: list[tuple[int, int]]) -> dict[str, Any]:
        self._settings = None
        if not sizes:
            return {}
        if self.policy.is_native:
            if self.processor.image_processor.do_image_splitting:
                check_splittable(sizes)  # before the processor fails on empty quarters
            return {}
        self._settings = idefics2_settings(self._spec(), self.policy, sizes)
        if self._settings.do_image_splitting:
            check_splittable(sizes)
        return {"size": self._settings.size(), "do_image_splitting": self._settings.do_image_splitting}

    @contextmanager
    def resolution_applied(self) -> Iterator[None]:
        """The prompt expansion reads splitting from the image processor object itself."""
        settings, image_processor = self._settings, self.processor.image_processor
        if settings is None:
            yield
            return
        saved = image_processor.do_image_splitting
        image_processor.do_image_splitting = settings.do_image_splitting
        try:
            yield
        finally:
            image_processor.do_image_splitting = saved

    # -- prompt --------------------------------------------------------------
    def _rewrite_prompt(
        self, text: str, out: Any, images: list[PreparedImage], videos: list[PreparedVideo]
    ) -> tuple["torch.Tensor", dict[str, "torch.Tensor"]]:
        """The prompt with each view's run of `<image>` tokens resized to its reduced count
        (`--compress`), in token space: this processor reports no replacement offsets."""
        import torch

        new_runs = []
        for image in images:
            assert image.layout is not None
            new_runs += [self.reducer.unit_tokens(image.layout)] * image.layout.units
        ids, runs, previous = [], iter(new_runs), None
        for token in out["input_ids"][0].tolist():
            if token == self.image_token_id:
                if previous != token:
                    ids += [token] * next(runs)
            else:
                ids.append(token)
            previous = token
        return torch.tensor(ids, dtype=out["input_ids"].dtype), {}

    def image_layout(self, image: PreparedImage) -> TokenLayout:
        """Perceiver latents have no 2-D grid: one unit of image_seq_len tokens per view."""
        return TokenLayout(units=image.inputs["pixel_values"].shape[0], per_unit=int(self.processor.image_seq_len))

    def split_images(self, out: Any, images: list[ImageInput], input_ids: "torch.Tensor") -> list[PreparedImage]:
        pixel_values = out["pixel_values"][0]  # (views, 3, H, W), padded to the prompt's largest
        attention = out.get("pixel_attention_mask")  # (1, views, H, W)
        split = bool(self.processor.image_processor.do_image_splitting)  # set by resolution_applied
        per_image = SPLIT_CROPS + 1 if split else 1
        seq_len = int(self.processor.image_seq_len)
        prepared, start = [], 0
        for image in images:
            views = pixel_values[start : start + per_image]  # (k, 3, H, W)
            inputs: dict[str, Any] = {"pixel_values": views}
            if attention is not None:
                mask = attention[0][start : start + per_image].bool()  # (k, H, W)
                height = int(mask[:, :, 0].sum(-1).max())
                width = int(mask[:, 0, :].sum(-1).max())
                inputs = {"pixel_values": views[..., :height, :width], "pixel_attention_mask": mask[:, :height, :width]}
            height, width = inputs["pixel_values"].shape[-2:]
            prepared.append(
                PreparedImage(source=image, inputs=inputs, visual_tokens=per_image * seq_len,
                              resized=(int(width), int(height)))
            )
            start += per_image
        return prepared

    # -- video: frames as images only ------------------------------------------
    def split_videos(self, out: Any, videos: list[Any], input_ids: "torch.Tensor") -> list[PreparedVideo]:
        raise ConfigError(f"{self.model_type} models have no native video path.")

    def encode_videos(self, videos: list[PreparedVideo]) -> list[Features]:
        raise ConfigError(f"{self.model_type} models have no native video path.")

    def video_replacement(self, video: PreparedVideo, original: str) -> str:
        raise ConfigError(f"{self.model_type} models have no native video path.")

    # -- vision --------------------------------------------------------------
    def encode(self, images: list[PreparedImage]) -> list[Features]:
        """All images' views, padded to a common size with masks, `tiles_per_call` at a time."""
        import torch

        views = [im.inputs["pixel_values"] for im in images]  # (k, 3, h, w) each
        height = max(v.shape[-2] for v in views)
        width = max(v.shape[-1] for v in views)
        total = sum(v.shape[0] for v in views)
        first = views[0]
        tiles = torch.zeros((total, first.shape[1], height, width), dtype=first.dtype)
        masks = torch.zeros((total, height, width), dtype=torch.bool)
        row = 0
        for image, v in zip(images, views):
            k, _, h, w = v.shape
            tiles[row : row + k, :, :h, :w] = v
            masks[row : row + k, :h, :w] = self._tile_mask(image.inputs)
            row += k
        return self._encode_tiles(tiles, masks, images)
