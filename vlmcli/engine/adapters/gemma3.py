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

import functools
from typing import TYPE_CHECKING, Any

from vlmcli.engine.adapters.base import Merged, PreparedImage
from vlmcli.engine.adapters.generic import GenericAdapter
from vlmcli.engine.adapters.prompt import resize_runs
from vlmcli.engine.cache import Features
from vlmcli.media.image_input import ImageInput
from vlmcli.reduction.reducer import TokenLayout
from vlmcli.tiling import ImagePlan
from vlmcli.tiling.gemma3 import Gemma3Spec, gemma3_pan_and_scan, plan_gemma3

if TYPE_CHECKING:
    import torch


@functools.cache
def _decoder_class() -> type:
    """`Gemma3Decoder`, defined on first use (importing this module does not import torch)."""
    import torch
    from transformers.models.gemma3.modeling_gemma3 import (
        create_masks_for_vision_model,
        get_block_sequence_ids_for_mask,
    )

    class Gemma3Decoder(torch.nn.Module):
        """The Gemma 3 text model; given `token_type_ids`, the prefill masks `Gemma3Model` builds."""

        def __init__(self, language_model: Any) -> None:
            super().__init__()
            self.language_model = language_model

        def forward(
            self,
            inputs_embeds: torch.Tensor,
            attention_mask: torch.Tensor | None = None,
            position_ids: torch.Tensor | None = None,
            cache: Any = None,
            use_cache: bool | None = None,
            token_type_ids: torch.Tensor | None = None,
            **kwargs: Any,
        ) -> Any:
            if token_type_ids is not None and not isinstance(attention_mask, dict):
                attention_mask = create_masks_for_vision_model(
                    config=self.language_model.config,
                    inputs_embeds=inputs_embeds,
                    attention_mask=attention_mask,
                    cache=cache,
                    position_ids=position_ids,
                    block_sequence_ids=get_block_sequence_ids_for_mask(token_type_ids, device=inputs_embeds.device),
                )
            return self.language_model(
                inputs_embeds=inputs_embeds,
                attention_mask=attention_mask,
                position_ids=position_ids,
                cache=cache,
                use_cache=use_cache,
                **kwargs,
            )

    return Gemma3Decoder


class Gemma3Adapter(GenericAdapter):
    """`GenericAdapter` with soft-token counting, views per image and Gemma 3's prefill masks."""

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

    @property
    def decoder(self) -> Any:
        wrapped = self.__dict__.get("_decoder")
        language_model = self.model.model.language_model
        if wrapped is None or wrapped.language_model is not language_model:
            wrapped = _decoder_class()(language_model)
            self.__dict__["_decoder"] = wrapped
        return wrapped

    @property
    def lm_head(self) -> Any:
        head = self.model.lm_head
        cap = getattr(self.config.get_text_config(), "final_logit_softcapping", None)
        if cap is None:
            return head

        def capped(hidden: torch.Tensor) -> torch.Tensor:
            import torch

            return torch.tanh(head(hidden) / cap) * cap

        return capped
