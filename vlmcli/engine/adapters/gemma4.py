"""Gemma 4 (`gemma4`, e.g. google/gemma-4-E2B-it; `gemma4_unified`).

transformers' common interface (`GenericAdapter`: one row of `pixel_values` per image,
`get_image_features(...).pooler_output` per image, features replace
`config.image_token_id`) with what Gemma 4 adds:

- Per-image tensors: `pixel_values` (N, max_patches, 3 * patch^2) are patches padded to
  the budget, with `image_position_ids` (N, max_patches, 2) giving each patch's (x, y),
  (-1, -1) on padding. The soft tokens are the k x k-pooled patch grid in raster order,
  so an image is a (h' / (k * patch)) x (w' / (k * patch)) grid (`--compress pool:K`).
- Decoder (shared with Gemma 3 through `BlockMasking`): with
  `use_bidirectional_attention="vision"` the soft tokens of one image (or one video frame)
  attend to each other in the sliding layers, not in the full ones (transformers'
  `create_masks_for_generate`, fed the same `mm_token_type_ids` as `generate`: 1 on image,
  2 on video soft tokens); without it the masks are plain causal. The LM head soft-caps.
- Per-layer embeddings (PLE, the E2B/E4B checkpoints): each decoder layer also takes a
  per-token embedding looked up by token id (placeholders as `<pad>`). The engine hands
  the decoder embeddings, so `merge` (prefill) and `decode_kwargs` (each decode step) pass
  `per_layer_inputs` computed from the ids, exactly as `Gemma4Model.forward` does;
  otherwise transformers would have to invert the embedding table every step.
- Native video: the video processor resizes every frame like an image under its own
  budget (70 soft tokens on the hub); the prompt has, per frame, "mm:ss " + `<|image>` +
  one `<|video|>` per soft token + `<image|>`, frames joined by spaces. Frames are the
  temporal units (`--temporal-pool` keeps the first timestamp of each group).

`gemma4_unified` has no vision tower (raw merged patches through a dense embedder) and
no PLE; its processors, prompts and masks are the same, so one adapter serves both.

Resolution (`vlmcli.tiling.gemma4`): one aspect-preserving view per image; the policy
picks the soft-token budget `max_soft_tokens` (70/140/280/560/1120).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from vlmcli.engine.adapters.base import Merged, PreparedImage, PreparedVideo
from vlmcli.engine.adapters.generic import GenericAdapter
from vlmcli.engine.adapters.masked_decoder import BlockMasking
from vlmcli.engine.cache import Features
from vlmcli.engine.video_input import VideoInput
from vlmcli.errors import ModelError
from vlmcli.reduction.reducer import TokenLayout
from vlmcli.tiling import ImagePlan
from vlmcli.tiling.gemma4 import (
    Gemma4Spec,
    gemma4_budget,
    gemma4_resize,
    gemma4_soft_tokens,
    plan_gemma4,
)

if TYPE_CHECKING:
    import torch

IMAGE_TYPE, VIDEO_TYPE = 1, 2
"""`mm_token_type_ids` of image and video soft tokens (transformers' `create_mm_token_type_ids`)."""


def _gemma4_block_mask(*, config: Any, token_type_ids: torch.Tensor, **kwargs: Any) -> Any:
    """The masks `generate` builds for a Gemma 4 prefill (bidirectional vision blocks or causal)."""
    from transformers import Gemma4ForConditionalGeneration

    return Gemma4ForConditionalGeneration.create_masks_for_generate(
        config=config, mm_token_type_ids=token_type_ids, **kwargs
    )


def _spec_of(sub: Any) -> Gemma4Spec:
    """The planning spec of an image or video processor (its own budget and patching)."""
    return Gemma4Spec(
        patch_size=int(sub.patch_size),
        pooling_kernel_size=int(sub.pooling_kernel_size),
        max_soft_tokens=int(sub.max_soft_tokens),
    )


class Gemma4Adapter(BlockMasking, GenericAdapter):
    """`GenericAdapter` with patch positions, Gemma 4's masks and PLE, and a native video path."""

    image_keys = ("pixel_values", "image_position_ids")
    native_video = True
    block_mask = staticmethod(_gemma4_block_mask)

    def _spec(self) -> Gemma4Spec:
        return _spec_of(self.processor.image_processor)

    def plan_images(self, sizes: list[tuple[int, int]]) -> list[ImagePlan]:
        spec = self._spec()
        return [plan_gemma4(spec, self.policy, width=w, height=h) for w, h in sizes]

    def processor_kwargs(self, sizes: list[tuple[int, int]]) -> dict[str, Any]:
        if self.policy.is_native:
            return {}
        return {"images_kwargs": {"max_soft_tokens": gemma4_budget(self._spec(), self.policy)}}

    # -- images ----------------------------------------------------------------
    def _grid(self, resized: tuple[int, int], spec: Gemma4Spec) -> tuple[int, int]:
        """(rows, cols) of soft tokens of a resized (width, height) view."""
        side = spec.side_multiple
        return resized[1] // side, resized[0] // side

    def image_layout(self, image: PreparedImage) -> TokenLayout:
        """One unit, the view's pooled grid in raster order (`prepare` set `resized` from the plan)."""
        rows, cols = self._grid(image.resized, self._spec())
        grid = (rows, cols) if rows * cols == image.visual_tokens else None
        return TokenLayout(units=1, per_unit=image.visual_tokens, grid=grid)

    # -- videos ----------------------------------------------------------------
    def _video_tokens(self, out: Any) -> list[int]:
        offsets = out["text_replacement_offsets"][0]
        token = self.processor.video_token
        return [entry["replacement"].count(token) for entry in offsets if entry["type"] == "video"]

    def split_videos(self, out: Any, videos: list[VideoInput], input_ids: torch.Tensor) -> list[PreparedVideo]:
        """Per clip: its frames' rows of `pixel_values_videos` / `video_position_ids`."""
        spec = _spec_of(self.processor.video_processor)
        frames_per_clip = [int(n) for n in out["num_frames_per_video"]]
        prepared, start = [], 0
        for video, frames, tokens in zip(videos, frames_per_clip, self._video_tokens(out), strict=True):
            rows = slice(start, start + frames)
            start += frames
            height, width = video.frames.shape[1:3]  # frames: (T, H, W, 3)
            resized = gemma4_resize(spec, width=int(width), height=int(height), budget=spec.max_soft_tokens)
            per_frame = gemma4_soft_tokens(spec, width=resized[0], height=resized[1])
            if per_frame * frames != tokens:
                raise ModelError(f"Gemma 4 wrote {tokens} video tokens for {frames} frames of {per_frame} tokens.")
            grid = self._grid(resized, spec)
            layout = TokenLayout(
                units=frames, per_unit=per_frame, grid=grid if grid[0] * grid[1] == per_frame else None,
                groups=self.clip_groups(video, units=frames),
            )  # fmt: skip
            inputs = {"pixel_values_videos": out["pixel_values_videos"][rows], "video_position_ids": out["video_position_ids"][rows]}
            prepared.append(
                PreparedVideo(source=video, inputs=inputs, layout=layout, visual_tokens=layout.encoder_tokens, resized=resized)
            )
        return prepared

    def encode_videos(self, videos: list[PreparedVideo]) -> list[Features]:
        """Every frame of every clip through the tower at once; per clip (T * per_frame, D)."""
        import torch

        device = self.model.device
        pixels = torch.cat([v.inputs["pixel_values_videos"] for v in videos]).to(device, self.vision_dtype)  # (F, P, C)
        positions = torch.cat([v.inputs["video_position_ids"] for v in videos]).to(device)  # (F, P, 2)
        frames = torch.tensor([len(v.inputs["pixel_values_videos"]) for v in videos])  # (V,)
        out = self.model.model.get_video_features(
            pixel_values_videos=pixels, video_position_ids=positions, num_frames_per_video=frames, return_dict=True
        )
        return [{"embeds": f} for f in out.pooler_output]

    def video_replacement(self, video: PreparedVideo, original: str) -> str:
        """The clip's prompt with one "mm:ss <|image>...<image|>" per output unit (first timestamp of each group)."""
        token = re.escape(self.processor.video_token)
        pattern = rf"(\S+) {re.escape(self.processor.boi_token)}(?:{token})+{re.escape(self.processor.eoi_token)}"
        stamps = re.findall(pattern, original)
        layout = video.layout
        groups = layout.groups if layout.groups is not None else tuple((i,) for i in range(layout.units))
        if len(stamps) != layout.units:
            raise ModelError(f"Gemma 4 wrote {len(stamps)} frames for a clip of {layout.units}.")
        run = self.processor.video_token * self.reducer.unit_tokens(layout)
        return " ".join(f"{stamps[g[0]]} {self.processor.boi_token}{run}{self.processor.eoi_token}" for g in groups)

    # -- decoder ---------------------------------------------------------------
    @property
    def _per_layer(self) -> bool:
        return bool(getattr(self.config.get_text_config(), "hidden_size_per_layer_input", 0))

    def _per_layer_inputs(self, input_ids: torch.Tensor) -> torch.Tensor:
        """PLE token embeddings (B, L, layers, d) with every placeholder read as `<pad>`, as in `Gemma4Model`."""
        import torch

        config = self.config
        placeholders = [config.image_token_id, config.video_token_id, getattr(config, "audio_token_id", None)]
        media = torch.isin(input_ids, torch.tensor([t for t in placeholders if t is not None], device=input_ids.device))
        ids = torch.where(media, config.get_text_config().pad_token_id, input_ids)  # (B, L)
        return self.model.model.language_model.get_per_layer_inputs(ids)

    def merge(self, input_ids: torch.Tensor, embeds: torch.Tensor, features: list[Features]) -> Merged:
        import torch

        merged = super().merge(input_ids, embeds, features)
        types = torch.zeros_like(input_ids)  # (B, L)
        types = types.masked_fill(input_ids == self.image_token_id, IMAGE_TYPE)
        if self.video_token_id is not None:
            types = types.masked_fill(input_ids == self.video_token_id, VIDEO_TYPE)
        kwargs = {**merged.decoder_kwargs, "token_type_ids": types}
        if self._per_layer:
            kwargs["per_layer_inputs"] = self._per_layer_inputs(input_ids)
        return Merged(merged.embeds, decoder_kwargs=kwargs)

    def decode_kwargs(self, input_ids: torch.Tensor) -> dict[str, Any]:
        """A decode step's PLE inputs from its token ids (B, 1)."""
        return {"per_layer_inputs": self._per_layer_inputs(input_ids)} if self._per_layer else {}
