"""Gemma 3 (`gemma3`, e.g. google/gemma-3-4b-it).

transformers' common interface (`GenericAdapter`) with three differences:

- Placeholders: the chat template writes `<start_of_image>` (`processor.image_token`, the
  boi token); the processor expands it into `<start_of_image>`, `image_seq_length`
  `<image_soft_token>` (`config.image_token_id`, what the features replace) and
  `<end_of_image>`, once per view (the global view, then any pan-and-scan crops). Tokens
  per image are counted on the soft token, and each image owns its views' rows of
  `pixel_values` (rows = tokens / `image_seq_length`), fed in prompt order.
- Attention: in Gemma 3's prefill the soft tokens of one image attend to each other
  bidirectionally (transformers marks them with `token_type_ids`, and
  `Gemma3Model.forward` builds block masks for the full and the sliding layers). `merge`
  hands the same `token_type_ids` (1 on soft tokens) to the decoder, and `decoder` is
  `model.model.language_model` behind a thin wrapper that builds those masks with
  transformers' own `create_masks_for_vision_model` at prefill; decode steps (no
  `token_type_ids`) are plain causal, as in `generate`.
- The LM head applies `final_logit_softcapping` when the checkpoint sets one.

Resolution (`vlmcli.tiling.gemma3`): a fixed square per view; pan-and-scan (off by
default, as in transformers) is the only knob, its crop count capped by `--max-tiles` /
`--max-pixels`; `--min-pixels` above one view turns it on (best effort: the crops follow
the aspect ratio). Videos reach the model as frames
(images with time markers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vlmcli.engine.adapters.base import Merged, PreparedImage
from vlmcli.engine.adapters.generic import GenericAdapter
from vlmcli.engine.adapters.masked_decoder import BlockMasking
from vlmcli.engine.adapters.prompt import resize_runs
from vlmcli.engine.cache import Features
from vlmcli.media.image_input import ImageInput
from vlmcli.reduction.reducer import TokenLayout
from vlmcli.tiling import ImagePlan
from vlmcli.tiling.gemma3 import Gemma3Spec, gemma3_pan_and_scan, plan_gemma3

if TYPE_CHECKING:
    import torch


def _gemma3_block_mask(*, config: Any, inputs_embeds: "torch.Tensor", token_type_ids: "torch.Tensor", **kwargs: Any) -> Any:
    """`Gemma3Model`'s prefill masks: each image's soft tokens attend to each other."""
    from transformers.models.gemma3.modeling_gemma3 import (
        create_masks_for_vision_model,
        get_block_sequence_ids_for_mask,
    )

    blocks = get_block_sequence_ids_for_mask(token_type_ids, device=inputs_embeds.device)
    return create_masks_for_vision_model(config=config, inputs_embeds=inputs_embeds, block_sequence_ids=blocks, **kwargs)


class Gemma3Adapter(BlockMasking, GenericAdapter):
    """`GenericAdapter` with soft-token counting, views per image and Gemma 3's prefill masks."""

    block_mask = staticmethod(_gemma3_block_mask)

    def _spec(self) -> Gemma3Spec:
        size = self.processor.image_processor.size
        height = size.get("height") if isinstance(size, dict) else getattr(size, "height", None)
        # the processor's own images_kwargs override the image processor's attributes
        knobs = dict(getattr(self.processor, "images_kwargs", None) or {})
        return Gemma3Spec(
            image_size=int(height),
            image_seq_length=int(self.processor.image_seq_length),
            do_pan_and_scan=bool(knobs.get("do_pan_and_scan") or False),
            min_crop_size=int(knobs.get("pan_and_scan_min_crop_size") or 256),
            max_num_crops=int(knobs.get("pan_and_scan_max_num_crops") or 4),
            min_ratio_to_activate=float(knobs.get("pan_and_scan_min_ratio_to_activate") or 1.2),
        )

    def plan_images(self, sizes: list[tuple[int, int]]) -> list[ImagePlan]:
        spec = self._spec()
        return [plan_gemma3(spec, self.policy, width=w, height=h) for w, h in sizes]

    def processor_kwargs(self, sizes: list[tuple[int, int]]) -> dict[str, Any]:
        if self.policy.is_native:
            return {}
        return {"images_kwargs": gemma3_pan_and_scan(self._spec(), self.policy).processor_kwargs()}

    @property
    def soft_token(self) -> str:
        return self.processor.tokenizer.image_token

    def tokens_per_image(self, out: Any) -> list[int]:
        offsets = out["text_replacement_offsets"][0]
        return [entry["replacement"].count(self.soft_token) for entry in offsets if entry["type"] == "image"]

    def split_images(self, out: Any, images: list[ImageInput], input_ids: torch.Tensor) -> list[PreparedImage]:
        """Per image: its views' rows of `pixel_values` (global view, then crops)."""
        per_view = int(self.processor.image_seq_length)
        prepared, start = [], 0
        for image, tokens in zip(images, self.tokens_per_image(out), strict=True):
            views = tokens // per_view
            pixel_values = out["pixel_values"][start : start + views]  # (views, 3, S, S)
            start += views
            height, width = pixel_values.shape[-2:]
            prepared.append(
                PreparedImage(
                    source=image, inputs={"pixel_values": pixel_values}, visual_tokens=tokens,
                    resized=(int(width), int(height)),
                )
            )  # fmt: skip
        return prepared

    def image_layout(self, image: PreparedImage) -> TokenLayout:
        """One unit per view, each a g x g grid of pooled soft tokens (`--compress pool:K`)."""
        import math

        views = int(image.inputs["pixel_values"].shape[0])
        per_view = image.visual_tokens // views
        side = math.isqrt(per_view)
        return TokenLayout(units=views, per_unit=per_view, grid=(side, side) if side * side == per_view else None)

    def image_replacement(self, image: PreparedImage, original: str) -> str:
        layout = image.layout
        assert layout is not None
        new = self.reducer.unit_tokens(layout)
        return resize_runs(original, self.soft_token, per_unit=layout.per_unit, new_per_unit=new)

    def merge(self, input_ids: torch.Tensor, embeds: torch.Tensor, features: list[Features]) -> Merged:
        merged = super().merge(input_ids, embeds, features)
        token_type_ids = (input_ids == self.image_token_id).long()  # (B, L), 1 on soft tokens
        return Merged(merged.embeds, decoder_kwargs={**merged.decoder_kwargs, "token_type_ids": token_type_ids})
