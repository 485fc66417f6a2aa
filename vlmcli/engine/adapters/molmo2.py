"""Molmo 2 (`molmo2`, e.g. allenai/Molmo2-8B): multi-crop images, native video.

Where Molmo 2 leaves transformers' common interface:

- Prompt: the chat template writes every `<|image|>` / `<|video|>` (`processor.image_token`
  / `video_token`) before the conversation, has no system role (a system prompt is folded
  into the user text here) and no BOS, which the processor prepends itself. It expands an
  image into a low-res view and a crop canvas, each `<im_start>`-like marker + rows of
  `<im_patch>` (`config.image_patch_id`, what the features fill) + `<im_col>` + `<im_end>`.
- Tensors: `pixel_values` are the crops' flattened patches, all images' crops in one
  (crops, patches, 3 * p * p) tensor (`image_num_crops` per image), and
  `image_token_pooling` (one row of patch indices per `<im_patch>`, indices within the
  image's own crops); `get_image_features` takes all of it and returns features per image.
- Merge: the features are *added* to the `<im_patch>` embeddings, not put in their place.
- Attention: at prefill every image token (patches, columns, markers, frame markers: the
  processor's `image_token_ids`, `mm_token_type_ids` 1) attends to every other one
  (transformers gives them all one block of `block_sequence_ids`); `BlockMasking` builds
  that mask with `create_causal_mask` for the engine's own prefill; decoding is causal.

Video is native: each frame is resized to one crop, its patches pooled 3x3, and written as
`{seconds:.1f} <frame_start>` + `<im_patch>` x (rows * cols) + `<frame_end>` (space
separated); the frames' `<im_patch>` get the video features (`get_video_features`). One
frame is one unit of `--temporal-pool` / `--compress pool:K`; a reduced clip is rewritten
with one block per (pooled) unit at its first frame's time.

Resolution (`vlmcli.tiling.molmo2`): the policy maps onto `max_crops`; frames have a fixed
size. `--compress` does not apply to images (two views of different grids, with column
tokens between rows).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vlmcli.engine.adapters.base import (
    Merged,
    PreparedImage,
    PreparedRequest,
    PreparedVideo,
)
from vlmcli.engine.adapters.generic import GenericAdapter
from vlmcli.engine.adapters.masked_decoder import BlockMasking
from vlmcli.engine.cache import Features
from vlmcli.engine.request import Request
from vlmcli.engine.video_input import VideoInput
from vlmcli.errors import ConfigError
from vlmcli.media.image_input import ImageInput
from vlmcli.reduction.reducer import TokenLayout
from vlmcli.tiling import ImagePlan
from vlmcli.tiling.molmo2 import Molmo2Spec, molmo2_max_crops, plan_molmo2

if TYPE_CHECKING:
    import torch

IMAGE_KEYS = ("pixel_values", "image_token_pooling", "image_grids", "image_num_crops")


def _molmo2_block_mask(
    *, config: Any, inputs_embeds: torch.Tensor, token_type_ids: torch.Tensor, **kwargs: Any
) -> Any:
    """`Molmo2Model`'s prefill mask: causal, plus every image token sees every other one."""
    import torch
    from transformers.masking_utils import create_causal_mask

    blocks = torch.where(token_type_ids.to(inputs_embeds.device) == 1, 0, -1)  # (B, L)
    return create_causal_mask(config=config, inputs_embeds=inputs_embeds, block_sequence_ids=blocks, **kwargs)


class Molmo2Adapter(BlockMasking, GenericAdapter):
    """Multi-crop images and clips whose pooled features are added onto `<im_patch>` tokens."""

    native_video = True
    image_keys = IMAGE_KEYS
    block_mask = staticmethod(_molmo2_block_mask)

    # -- resolution ----------------------------------------------------------
    def _spec(self) -> Molmo2Spec:
        processor = self.processor.image_processor
        size = processor.size
        height = size.get("height") if isinstance(size, dict) else getattr(size, "height", None)
        left, right = (int(m) for m in processor.overlap_margins)
        pool_h, pool_w = (int(p) for p in processor.pooling_size)
        return Molmo2Spec(
            crop_size=int(height),
            patch_size=int(processor.patch_size),
            max_crops=int(processor.max_crops),
            left_margin=left,
            right_margin=right,
            pooling_h=pool_h,
            pooling_w=pool_w,
        )

    def plan_images(self, sizes: list[tuple[int, int]]) -> list[ImagePlan]:
        spec = self._spec()
        return [plan_molmo2(spec, self.policy, width=w, height=h) for w, h in sizes]

    def processor_kwargs(self, sizes: list[tuple[int, int]]) -> dict[str, Any]:
        if self.policy.is_native:
            return {}
        return {"images_kwargs": {"max_crops": molmo2_max_crops(self._spec(), self.policy)}}

    # -- prompt --------------------------------------------------------------
    def messages(self, request: Request, content: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        """One user turn; the template has no system role, so a system prompt leads the user text."""
        turns = super().messages(request if request.system is None else _without_system(request), content)
        if request.system is not None:
            turns[-1]["content"].insert(0, {"type": "text", "text": request.system})
        return turns

    def prepare(self, request: Request) -> PreparedRequest:
        if len(request.videos) > 1:  # the processor refuses them (`validate_inputs`)
            raise ConfigError(
                f"Molmo 2 takes at most one video per prompt, got {len(request.videos)}; "
                "ask about each clip separately."
            )
        return super().prepare(request)

    @property
    def interleaves(self) -> bool:
        return False  # every placeholder goes before the conversation

    @property
    def _bos(self) -> str:
        tokenizer = self.processor.tokenizer
        return tokenizer.bos_token or tokenizer.eos_token

    def _rewrite_prompt(self, text: str, out: Any, images: list[PreparedImage], videos: list[PreparedVideo]) -> Any:
        # the processor's offsets count the BOS it put in front of the template's text
        text = text if text.startswith(self._bos) else self._bos + text
        return super()._rewrite_prompt(text, out, images, videos)

    # -- images --------------------------------------------------------------
    @property
    def image_token_id(self) -> int:
        return int(self.config.image_patch_id)

    @property
    def video_token_id(self) -> None:
        return None  # frames are `<im_patch>` too

    @property
    def _patch_token(self) -> str:
        return self.processor.tokenizer.convert_ids_to_tokens(self.image_token_id)

    def tokens_per_image(self, out: Any) -> list[int]:
        offsets = out["text_replacement_offsets"][0]
        return [entry["replacement"].count(self._patch_token) for entry in offsets if entry["type"] == "image"]

    def split_images(self, out: Any, images: list[ImageInput], input_ids: torch.Tensor) -> list[PreparedImage]:
        """Per image: its crops (low-res view first), its pooling rows (re-based by the model), grid, crop count."""
        prepared, crop_at, token_at = [], 0, 0
        for i, (image, tokens) in enumerate(zip(images, self.tokens_per_image(out), strict=True)):
            crops = int(out["image_num_crops"][i])
            inputs = {
                "pixel_values": out["pixel_values"][crop_at : crop_at + crops],  # (crops, patches, 3*p*p)
                "image_token_pooling": out["image_token_pooling"][token_at : token_at + tokens],  # (tokens, pool)
                "image_grids": out["image_grids"][i : i + 1],  # (1, 4)
                "image_num_crops": out["image_num_crops"][i : i + 1],  # (1,)
            }
            crop_at, token_at = crop_at + crops, token_at + tokens
            prepared.append(PreparedImage(source=image, inputs=inputs, visual_tokens=tokens, resized=(0, 0)))
        return prepared

    def encode(self, images: list[PreparedImage]) -> list[Features]:
        """All images' crops in one `get_image_features` call; features per image, (T, D)."""
        import torch

        device = self.model.device
        inputs = {key: torch.cat([im.inputs[key] for im in images]).to(device) for key in IMAGE_KEYS}
        inputs["pixel_values"] = inputs["pixel_values"].to(self.vision_dtype)
        out = self.model.model.get_image_features(**inputs, return_dict=True)
        return [{"embeds": f} for f in out.pooler_output]

    def image_replacement(self, image: PreparedImage, original: str) -> str:
        raise ConfigError("--compress does not apply to Molmo 2 images (two token grids with column tokens).")

    # -- video ---------------------------------------------------------------
    def split_videos(self, out: Any, videos: list[VideoInput], input_ids: torch.Tensor) -> list[PreparedVideo]:
        grids = out["video_grids"]  # (V, 3): frames, rows, cols
        prepared, frame_at, token_at = [], 0, 0
        crop = int(self.processor.video_processor.size["height"])
        for i, (video, grid) in enumerate(zip(videos, grids, strict=True)):
            frames, rows, cols = (int(x) for x in grid)
            tokens = frames * rows * cols
            inputs = {
                "pixel_values_videos": out["pixel_values_videos"][frame_at : frame_at + frames],  # (T, patches, 3*p*p)
                "video_token_pooling": out["video_token_pooling"][token_at : token_at + tokens],  # (T*r*c, pool)
                "video_grids": grids[i : i + 1],  # (1, 3)
            }
            layout = TokenLayout(
                units=frames, per_unit=rows * cols, grid=(rows, cols),
                groups=self.clip_groups(video, units=frames),
            )  # fmt: skip
            prepared.append(
                PreparedVideo(
                    source=video, inputs=inputs, layout=layout, visual_tokens=layout.encoder_tokens,
                    resized=(crop, crop),
                )
            )  # fmt: skip
            frame_at, token_at = frame_at + frames, token_at + tokens
        return prepared

    def encode_videos(self, videos: list[PreparedVideo]) -> list[Features]:
        import torch

        device = self.model.device
        pixel_values = torch.cat([v.inputs["pixel_values_videos"] for v in videos]).to(device, self.vision_dtype)
        pooling = torch.cat([v.inputs["video_token_pooling"] for v in videos]).to(device)
        grids = torch.cat([v.inputs["video_grids"] for v in videos]).to(device)  # (V, 3)
        out = self.model.model.get_video_features(pixel_values, pooling, grids, return_dict=True)
        return [{"embeds": f} for f in out.pooler_output]

    def video_replacement(self, video: PreparedVideo, original: str) -> str:
        """The processor's frame string for the (pooled, compressed) units, each at its first frame's time."""
        processor = self.processor
        rows, cols = self.reducer.unit_grid(video.layout)
        framed = processor.use_frame_special_tokens
        start, end = ("<frame_start>", "<frame_end>") if framed else ("<im_start>", "<im_end>")
        row = self._patch_token * cols + ("<im_col>" if processor.video_use_col_tokens else "")
        groups = video.layout.groups or tuple((u,) for u in range(video.layout.units))
        source = video.source
        times = [source.indices[g[0]] / source.fps for g in groups]
        return " ".join(f"{t:.1f} {start}{row * rows}{end}" for t in times)

    # -- language model ------------------------------------------------------
    def merge(self, input_ids: torch.Tensor, embeds: torch.Tensor, features: list[Features]) -> Merged:
        """Features added onto the `<im_patch>` embeddings (prompt order); the image-token block for prefill."""
        import torch

        kinds = torch.tensor(self.processor.image_token_ids, device=input_ids.device)
        token_type_ids = torch.isin(input_ids, kinds).long()  # (B, L) 1 on every image token
        if not features:
            return Merged(embeds, decoder_kwargs={"token_type_ids": token_type_ids})
        visual = torch.cat([f["embeds"] for f in features]).to(embeds.device, embeds.dtype)  # (N, D)
        mask = (input_ids == self.image_token_id).unsqueeze(-1).expand_as(embeds)  # (B, L, D)
        merged = embeds.masked_scatter(mask, embeds[mask] + visual.reshape(-1))
        return Merged(merged, decoder_kwargs={"token_type_ids": token_type_ids})


def _without_system(request: Request) -> Request:
    from dataclasses import replace

    return replace(request, system=None)
