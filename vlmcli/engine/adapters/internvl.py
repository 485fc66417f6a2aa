"""InternVL (transformers' native `internvl`, e.g. OpenGVLab/InternVL3-1B-hf).

The processor tiles each image (`vlmcli.tiling.internvl`) and returns every tile of every
image as one row of `pixel_values` (tiles, 3, S, S), with no per-image split: the number of
tiles of an image is its `<IMG_CONTEXT>` count / `image_seq_length`. The model's
`get_image_features` turns each tile into `image_seq_length` projected features (CLS
dropped, pixel shuffle), which replace the `<IMG_CONTEXT>` tokens; the decoder is a plain
Qwen2 with 1-D positions. So this is transformers' common interface (`GenericAdapter`)
except for how the rows are cut per image.

Resolution: `--max-tiles` / `--max-pixels` cap the processor's `max_patches`, `--min-pixels`
raises `min_patches` (`internvl_patch_bounds`).

Video: the processor's own path. Each frame is squashed to one tile (the video processor's
`size`) and written as a line "FrameN: <img>" + `image_seq_length` tokens + "</img>"; the
frames go through the same tower call as images. A frame's size and cost are fixed, so
the resolution flags do not change them (as for LLaVA-OneVision). `--temporal-pool` and
`--compress` rewrite the lines (one per pooled unit).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from vlmcli.engine.adapters.base import PreparedImage, PreparedVideo
from vlmcli.engine.adapters.generic import GenericAdapter
from vlmcli.engine.cache import Features
from vlmcli.engine.video_input import VideoInput
from vlmcli.media.image_input import ImageInput
from vlmcli.reduction.reducer import TokenLayout
from vlmcli.tiling import ImagePlan
from vlmcli.tiling.internvl import InternVLSpec, internvl_patch_bounds, plan_internvl

if TYPE_CHECKING:
    import torch


class InternVLAdapter(GenericAdapter):
    """`GenericAdapter` with the tiles of all images in one `pixel_values`, cut per image here."""

    native_video = True

    def _spec(self) -> InternVLSpec:
        image_processor = self.processor.image_processor
        size = image_processor.size
        height, width = int(size.height), int(size.width)
        if height != width:
            from vlmcli.errors import ConfigError

            raise ConfigError(f"InternVL tiles of {width}x{height} px are not square; vlmcli plans square tiles only.")
        merged = self.processor._merge_kwargs(tokenizer_init_kwargs=self.processor.tokenizer.init_kwargs)
        crop = merged["images_kwargs"].get("crop_to_patches")
        if crop is None:
            crop = bool(getattr(image_processor, "crop_to_patches", False))
        return InternVLSpec(
            tile=height,
            image_seq_length=int(self.processor.image_seq_length),
            min_patches=int(image_processor.min_patches),
            max_patches=int(image_processor.max_patches),
            crop_to_patches=bool(crop),
        )

    def plan_images(self, sizes: list[tuple[int, int]]) -> list[ImagePlan]:
        spec = self._spec()
        return [plan_internvl(spec, self.policy, width=w, height=h) for w, h in sizes]

    def processor_kwargs(self, sizes: list[tuple[int, int]]) -> dict[str, Any]:
        if self.policy.is_native or not sizes:  # video frames have a fixed size: no knob for them
            return {}
        spec = self._spec()
        self.plan_images(sizes)  # refuses what the checkpoint cannot do, before the processor runs
        least, most = internvl_patch_bounds(spec, self.policy)
        return {"images_kwargs": {"min_patches": least, "max_patches": most}}

    def image_layout(self, image: PreparedImage) -> TokenLayout:
        """One unit per tile (crops row-major, then the thumbnail), each a g x g grid of
        pixel-shuffled tokens, so `--compress pool:K` pools within tiles."""
        tiles = int(image.inputs["pixel_values"].shape[0])
        per_tile = image.visual_tokens // tiles  # `prepare` asks before any reduction
        side = math.isqrt(per_tile)
        return TokenLayout(units=tiles, per_unit=per_tile, grid=(side, side) if side * side == per_tile else None)

    def _rows(self, out: Any) -> dict[str, list[tuple[int, "torch.Tensor"]]]:
        """(placeholder tokens, rows of `pixel_values`) per image and per clip, in prompt order:
        the processor puts image tiles and video frames in one `pixel_values`, as they appear."""
        pixel_values = out["pixel_values"]  # (tiles of every image and frames of every clip, 3, S, S)
        per_tile = int(self.processor.image_seq_length)
        token = self.processor.image_token
        items: dict[str, list[tuple[int, "torch.Tensor"]]] = {"image": [], "video": []}
        start = 0
        for entry in out["text_replacement_offsets"][0]:
            tokens = entry["replacement"].count(token)
            count = tokens // per_tile
            items[entry["type"]].append((tokens, pixel_values[start : start + count]))
            start += count
        assert start == len(pixel_values), (start, tuple(pixel_values.shape))
        return items

    def split_images(self, out: Any, images: list[ImageInput], input_ids: "torch.Tensor") -> list[PreparedImage]:
        prepared = []
        for image, (tokens, rows) in zip(images, self._rows(out)["image"], strict=True):
            height, width = rows.shape[-2:]
            prepared.append(
                PreparedImage(
                    source=image, inputs={"pixel_values": rows}, visual_tokens=tokens, resized=(int(width), int(height))
                )
            )
        return prepared

    # -- native video: every frame one tile, "FrameN: <img>...</img>" lines ----------------
    def _frame_grid(self) -> tuple[int, int] | None:
        per_tile = int(self.processor.image_seq_length)
        side = math.isqrt(per_tile)
        return (side, side) if side * side == per_tile else None

    def split_videos(self, out: Any, videos: list[VideoInput], input_ids: "torch.Tensor") -> list[PreparedVideo]:
        per_tile = int(self.processor.image_seq_length)
        prepared = []
        for video, (tokens, rows) in zip(videos, self._rows(out)["video"], strict=True):
            frames = int(rows.shape[0])
            assert tokens == frames * per_tile, (tokens, frames, per_tile)
            layout = TokenLayout(
                units=frames, per_unit=per_tile, grid=self._frame_grid(), groups=self.clip_groups(video, units=frames)
            )
            height, width = rows.shape[-2:]
            prepared.append(
                PreparedVideo(
                    source=video, inputs={"pixel_values": rows}, layout=layout,
                    visual_tokens=layout.encoder_tokens, resized=(int(width), int(height)),
                )
            )
        return prepared

    def encode_videos(self, videos: list[PreparedVideo]) -> list[Features]:
        """Every frame of every clip through the tower (one tile each); per clip (frames * T, D)."""
        import torch

        counts = [int(v.inputs["pixel_values"].shape[0]) for v in videos]
        pixel_values = torch.cat([v.inputs["pixel_values"] for v in videos]).to(self.model.device, self.vision_dtype)
        out = self.model.model.get_image_features(pixel_values=pixel_values, return_dict=True)
        features = out.pooler_output  # (frames, T, D)
        return [{"embeds": f.reshape(-1, f.shape[-1])} for f in torch.split(features, counts)]

    def video_replacement(self, video: PreparedVideo, original: str) -> str:
        """The processor's frame lines for the reduced clip: one line per output unit."""
        units = video.layout.out_units
        body = self.processor.image_token * self.reducer.unit_tokens(video.layout)
        start, end = self.processor.start_image_token, self.processor.end_image_token
        return "\n".join(f"Frame{i + 1}: {start}{body}{end}" for i in range(units))
