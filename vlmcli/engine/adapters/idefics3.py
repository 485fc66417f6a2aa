"""Idefics3 (SmolVLM) and SmolVLM2.

The processor resizes an image so its longest edge fits `longest_edge`, splits it into
rows x cols tiles of `max_image_size` plus one global image, and writes, per tile,
`<fake_token_around_image><row_r_col_c>` + `<image>` * image_seq_len, then the global
image marked `<global-img>`. Every tile becomes image_seq_len tokens after the pixel-
shuffle connector. The processor returns all tiles of a prompt flattened, so we find each
image's tiles by walking the runs of `<image>` tokens up to each `<global-img>` marker.

SmolVLM2 has a video path: its processor writes, per frame, `Frame from 00:05:` and one
tile of `<image>` tokens (frames are never split), after a "You are provided the following
series of N frames" intro; frames go to the same encoder as images. Idefics3 (SmolVLM v1)
has none and gets frames as images. transformers returns video frames under the same
`pixel_values` key as images, so a SmolVLM2 prompt cannot hold both (refused clearly).
A SmolVLM2 frame is always one tile (`image_seq_len` tokens); `--max-pixels` only lowers
the detail it keeps (the video `longest_edge`, `tiling.idefics3_video_edge`), down to a
2-px long side: a lower cap is a ConfigError naming the least value (a 1x1 frame broke
torch's resize), so `--truncate` stops there and fails with the numbers.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from vlmcli.engine.adapters.base import Adapter, PreparedImage, PreparedRequest, PreparedVideo
from vlmcli.engine.cache import Features
from vlmcli.engine.request import Request
from vlmcli.engine.video_input import VideoInput
from vlmcli.errors import ConfigError
from vlmcli.media.image_input import ImageInput
from vlmcli.reduction.reducer import TokenLayout
from vlmcli.tiling import (
    Idefics3Spec,
    ImagePlan,
    ResolutionPolicy,
    idefics3_longest_edge,
    idefics3_video_edge,
    plan_idefics3,
)
from vlmcli.tiling.idefics3 import rescale_to_longest_edge, scale_below

if TYPE_CHECKING:
    import torch


def tiles_per_image(ids: list[int], *, image_token: int, global_token: int) -> list[int]:
    """Tiles of each image in order: runs of image tokens, an image ending at its global run."""
    counts, tiles, previous = [], 0, None
    for position, token in enumerate(ids):
        if token == image_token and previous != image_token:
            tiles += 1
            if position > 0 and ids[position - 1] == global_token:
                counts.append(tiles)
                tiles = 0
        previous = token
    return counts


class Idefics3Adapter(Adapter):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.native_video = getattr(self.processor, "video_processor", None) is not None

    @property
    def decoder(self) -> Any:
        return self.model.model.text_model

    def _tile_layout(self, tiles: int) -> TokenLayout:
        seq = int(self.processor.image_seq_len)
        side = math.isqrt(seq)
        return TokenLayout(units=tiles, per_unit=seq, grid=(side, side) if side * side == seq else None)

    def image_layout(self, image: PreparedImage) -> TokenLayout:
        return self._tile_layout(image.inputs["pixel_values"].shape[0])

    def prepare(self, request: Request) -> PreparedRequest:
        if self.native_video and request.videos and request.images:
            raise ConfigError("SmolVLM2 cannot take images and a video in one prompt; ask about them separately.")
        return super().prepare(request)

    def video_kwargs(self, videos: list[VideoInput]) -> dict[str, Any]:
        kwargs = super().video_kwargs(videos)
        if self.policy.max_pixels is None:
            return kwargs
        native = int(self.processor.video_processor.size["longest_edge"])
        edge = min(idefics3_video_edge(native, self.policy, width=v.size[0], height=v.size[1]) for v in videos)
        return kwargs | {"videos_kwargs": {"size": {"longest_edge": edge}}}

    def split_videos(self, out: Any, videos: list[VideoInput], input_ids: "torch.Tensor") -> list[PreparedVideo]:
        pixel_values = out["pixel_values"]  # (V, T_max, 3, H, W)
        attention = out.get("pixel_attention_mask")  # (V, T_max, H, W)
        height, width = pixel_values.shape[-2:]
        prepared = []
        for i, video in enumerate(videos):
            frames = len(video)
            inputs = {"pixel_values": pixel_values[i, :frames]}  # (T, 3, H, W)
            if attention is not None:
                inputs["pixel_attention_mask"] = attention[i, :frames]  # (T, H, W)
            tiles = self._tile_layout(frames)
            layout = TokenLayout(
                units=frames, per_unit=tiles.per_unit, grid=tiles.grid, groups=self.clip_groups(video, units=frames)
            )
            prepared.append(
                PreparedVideo(source=video, inputs=inputs, layout=layout, visual_tokens=layout.encoder_tokens,
                              resized=(int(width), int(height)))
            )
        return prepared

    def encode_videos(self, videos: list[PreparedVideo]) -> list[Features]:
        return self.encode(videos)  # type: ignore[arg-type]  # frames are tiles of one "image"

    def video_replacement(self, video: PreparedVideo, original: str) -> str:
        """The processor's own expansion for the pooled frames (group start times), at the reduced tile size."""
        import torch
        from transformers.video_utils import VideoMetadata

        layout = video.layout
        groups = layout.groups or tuple((u,) for u in range(layout.units))
        metadata = video.source.metadata() | {"frames_indices": [video.source.indices[g[0]] for g in groups]}
        fake = {"pixel_values": torch.empty(1, len(groups), 0), "video_metadata": [VideoMetadata(**metadata)]}
        saved = self.processor.image_seq_len
        self.processor.image_seq_len = self.reducer.unit_tokens(layout)
        try:
            return self.processor.replace_video_token(fake, 0)
        finally:
            self.processor.image_seq_len = saved

    def split_images(self, out: Any, images: list[ImageInput], input_ids: "torch.Tensor") -> list[PreparedImage]:
        pixel_values = out["pixel_values"][0]  # (tiles, 3, H, W)
        attention = out.get("pixel_attention_mask")
        tokenizer = self.processor.tokenizer
        tag = getattr(self.processor, "global_image_tag", None) or self.processor.global_image_token
        global_token = tokenizer.convert_tokens_to_ids(tag)
        counts = tiles_per_image(input_ids.tolist(), image_token=self.image_token_id, global_token=global_token)
        seq_len = int(self.processor.image_seq_len)
        height, width = pixel_values.shape[-2:]
        prepared, start = [], 0
        for image, tiles in zip(images, counts):
            inputs = {"pixel_values": pixel_values[start : start + tiles]}  # (k, 3, H, W)
            if attention is not None:
                inputs["pixel_attention_mask"] = attention[0][start : start + tiles]  # (k, H, W)
            prepared.append(
                PreparedImage(
                    source=image,
                    inputs=inputs,
                    visual_tokens=tiles * seq_len,
                    resized=(int(width), int(height)),
                )
            )
            start += tiles
        return prepared

    def _spec(self) -> Idefics3Spec:
        processor = self.processor.image_processor
        return Idefics3Spec(
            longest_edge=int(processor.size["longest_edge"]),
            max_image_size=int(processor.max_image_size["longest_edge"]),
            image_seq_len=int(self.processor.image_seq_len),
            do_image_splitting=bool(processor.do_image_splitting),
        )

    def _edges(self, sizes: list[tuple[int, int]]) -> list[int]:
        """Each image's `longest_edge` under the policy (`idefics3_longest_edge`)."""
        spec = self._spec()
        return [idefics3_longest_edge(spec, self.policy, width=w, height=h) for w, h in sizes]

    def _own_edges(self, sizes: list[tuple[int, int]]) -> bool:
        """Whether the images of one prompt need different edges: the processor takes one
        `longest_edge` per call, so each image is then resized by us (`processor_images`)."""
        return not self.policy.is_native and len(set(self._edges(sizes))) > 1

    def plan_images(self, sizes: list[tuple[int, int]]) -> list[ImagePlan]:
        spec = self._spec()
        if self.policy.is_native:
            return [plan_idefics3(spec, ResolutionPolicy(), width=w, height=h) for w, h in sizes]
        return [
            plan_idefics3(replace(spec, longest_edge=edge), ResolutionPolicy(), width=w, height=h)
            for (w, h), edge in zip(sizes, self._edges(sizes))
        ]

    def processor_kwargs(self, sizes: list[tuple[int, int]]) -> dict[str, Any]:
        if self.policy.is_native or not sizes:
            return {}
        if self._own_edges(sizes):
            return {"images_kwargs": {"do_resize": False}}  # each image comes at its own edge
        return {"size": {"longest_edge": self._edges(sizes)[0]}}

    def processor_images(self, images: list[ImageInput]) -> list[Any]:
        """With one edge per image (`_own_edges`), each image resized as the processor's first
        step would at its own edge (long side to the edge, then at most 4096 px)."""
        sizes = [(im.image.width, im.image.height) for im in images]
        if not self._own_edges(sizes):
            return super().processor_images(images)
        from PIL import Image

        fed = []
        for im, (w, h), edge in zip(images, sizes, self._edges(sizes)):
            height, width = rescale_to_longest_edge(height=h, width=w, longest_edge=edge)
            height, width = scale_below(height=height, width=width)
            fed.append(im.image.resize((width, height), Image.Resampling.LANCZOS))
        return fed

    def encode(self, images: list[PreparedImage]) -> list[Features]:
        """All images' tiles (or clips' frames), `tiles_per_call` at a time; each (k * seq, D)."""
        import torch

        tiles = torch.cat([im.inputs["pixel_values"] for im in images])  # (S, 3, H, W)
        masks = torch.cat([self._tile_mask(im.inputs) for im in images])  # (S, H, W)
        return self._encode_tiles(tiles, masks, images)

    def _encode_tiles(self, tiles: "torch.Tensor", masks: "torch.Tensor", images: list[PreparedImage]) -> list[Features]:
        """Tiles (S, 3, H, W) with pixel masks (S, H, W) through the tower, `tiles_per_call` at a
        time; one (k * seq, D) per image, k its tiles. Idefics2 shares this after padding its views."""
        import torch

        tiles, masks = tiles.to(self.model.device, self.vision_dtype), masks.to(self.model.device)
        step = self.tiles_per_call or len(tiles)
        chunks = []
        for start in range(0, len(tiles), step):
            out = self.model.model.get_image_features(
                pixel_values=tiles[None, start : start + step],  # (1, c, 3, H, W)
                pixel_attention_mask=masks[None, start : start + step],  # (1, c, H, W)
                return_dict=True,
            )
            chunks.append(out.pooler_output[0])  # (c * seq, D)
        features = torch.cat(chunks)  # (S * seq, D)
        per_tile = features.shape[0] // len(tiles)
        counts = [im.inputs["pixel_values"].shape[0] * per_tile for im in images]
        return [{"embeds": f} for f in features.split(counts)]

    @staticmethod
    def _tile_mask(inputs: dict[str, Any]) -> "torch.Tensor":
        """(k, H, W) True on real pixels; all True when the processor gave no mask."""
        import torch

        pv, mask = inputs["pixel_values"], inputs.get("pixel_attention_mask")  # (k, 3, H, W), (k, H, W)
        return mask if mask is not None else torch.ones((pv.shape[0], *pv.shape[2:]), dtype=torch.bool)
