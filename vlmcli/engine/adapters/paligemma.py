"""PaliGemma (`paligemma`, e.g. google/paligemma2-3b-pt-224, google/paligemma-3b-mix-224).

transformers' common interface (`GenericAdapter`: `pixel_values` one row per image, a run
of `<image>` tokens per image, `get_image_features(...).pooler_output`) with these
differences:

- Prompt: the processor writes every image's `<image>` tokens first, then `<bos>`, the
  prompt and "\\n". The hub checkpoints ship no chat template: without one the prompt is
  the images then the text (a system prompt and "\\n" before the question).
- Attention: PaliGemma is a prefix-LM. In the prefill the whole prompt (images and text,
  `token_type_ids` 0) attends bidirectionally; generated tokens attend causally.
  `merge` hands `token_type_ids` (0 on every prompt token) to the decoder, a thin wrapper
  around `model.model.language_model` that builds at prefill the masks
  `PaliGemmaModel.forward` builds (`create_causal_mask` with block ids 0 on the prefix, and
  the sliding-window mask for PaliGemma 2's Gemma 2 decoder), as Gemma 3's adapter does;
  decode steps (no `token_type_ids`) are plain causal, as in `generate`.
- Positions are 1-based (`PaliGemmaForConditionalGeneration.prepare_inputs_for_generation`).
- The LM head applies `final_logit_softcapping` when the checkpoint sets one (PaliGemma 2).

Resolution (`vlmcli.tiling.paligemma`): one fixed view per image, no native knob: caps
change nothing and `--min-pixels` cannot raise the view (the dry run shows the fixed cost).
Videos reach the model as frames (images with time markers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vlmcli.engine.adapters.base import Merged, PreparedRequest
from vlmcli.engine.adapters.generic import GenericAdapter
from vlmcli.engine.adapters.masked_decoder import BlockMasking
from vlmcli.engine.cache import Features
from vlmcli.tiling import ImagePlan
from vlmcli.tiling.paligemma import PaliGemmaSpec, plan_paligemma

if TYPE_CHECKING:
    import torch

    from vlmcli.engine.request import Request


def _prefix_lm_mask(*, config: Any, token_type_ids: "torch.Tensor", **kwargs: Any) -> Any:
    """`PaliGemmaModel`'s prefill masks: the prefix (token type 0) attends both ways."""
    import torch
    from transformers.masking_utils import create_causal_mask, create_sliding_window_causal_mask

    mask_kwargs = {"config": config, "block_sequence_ids": torch.where(token_type_ids == 0, 0, -1), **kwargs}
    mask = create_causal_mask(**mask_kwargs)
    if getattr(config, "sliding_window", None) is None:
        return mask
    return {"full_attention": mask, "sliding_attention": create_sliding_window_causal_mask(**mask_kwargs)}


class PaliGemmaAdapter(BlockMasking, GenericAdapter):
    """`GenericAdapter` with PaliGemma's prompt layout, prefix-LM masks and 1-based positions."""

    block_mask = staticmethod(_prefix_lm_mask)

    def _spec(self) -> PaliGemmaSpec:
        size = self.processor.image_processor.size
        height = size.get("height") if isinstance(size, dict) else getattr(size, "height", None)
        return PaliGemmaSpec(image_size=int(height), image_seq_length=int(self.processor.image_seq_length))

    def plan_images(self, sizes: list[tuple[int, int]]) -> list[ImagePlan]:
        spec = self._spec()
        return [plan_paligemma(spec, self.policy, width=w, height=h) for w, h in sizes]

    def processor_kwargs(self, sizes: list[tuple[int, int]]) -> dict[str, Any]:
        return {}  # no native knob

    def prompt_text(self, request: Request, content: list[dict[str, Any]] | None = None) -> str:
        if getattr(self.processor, "chat_template", None):
            return super().prompt_text(request, content)
        # no chat template (the hub checkpoints): the images, then the texts
        messages = self.messages(request, content)
        parts = [self.processor.image_token for m in messages for item in m["content"] if item["type"] == "image"]
        for message in messages:
            parts += [item["text"] for item in message["content"] if item["type"] == "text"]
            if message["role"] == "system":
                parts.append("\n")
        return "".join(parts)

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        # as PaliGemmaModel: an <image> id outside the vocab is embedded as id 0 (then replaced)
        vocab = int(self.config.get_text_config().vocab_size)
        if self.image_token_id >= vocab:
            input_ids = input_ids.masked_fill(input_ids == self.image_token_id, 0)
        return super().embed(input_ids)

    def merge(self, input_ids: torch.Tensor, embeds: torch.Tensor, features: list[Features]) -> Merged:
        import torch

        merged = super().merge(input_ids, embeds, features)
        token_type_ids = torch.zeros_like(input_ids)  # (B, L): the whole prompt is the prefix
        return Merged(merged.embeds, decoder_kwargs={**merged.decoder_kwargs, "token_type_ids": token_type_ids})

    def prefill_positions(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        *,
        extras: dict[str, torch.Tensor],
        requests: list[PreparedRequest],
    ) -> torch.Tensor:
        positions = super().prefill_positions(input_ids, attention_mask, extras=extras, requests=requests)
        return positions + 1  # PaliGemma positions are 1-based
