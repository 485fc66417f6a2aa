"""Decoders whose prefill attends both ways within blocks of tokens (Gemma 3, PaliGemma).

Gemma 3 lets an image's soft tokens see each other, PaliGemma lets the whole prompt (its
prefix) do so; transformers builds those masks inside the multimodal model's forward,
which the engine's own loop does not call. `BlockMasking` (mixed into the family's
adapter) wraps the text model in a decoder that, when the prefill passes `token_type_ids`,
builds the family's masks with `block_mask(...)` before calling the text model; decode
steps (no `token_type_ids`) stay causal, as in `generate`. It also applies the output
layer's `final_logit_softcapping` when the checkpoint sets one.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


@functools.cache
def _decoder_class() -> type:
    """`BlockMaskDecoder`, defined on first use (importing this module does not import torch)."""
    import torch

    class BlockMaskDecoder(torch.nn.Module):
        """The text model; given `token_type_ids`, attention masks from `block_mask`."""

        def __init__(self, language_model: Any, block_mask: Any) -> None:
            super().__init__()
            self.language_model = language_model
            self.block_mask = block_mask

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
                attention_mask = self.block_mask(
                    config=self.language_model.config,
                    inputs_embeds=inputs_embeds,
                    attention_mask=attention_mask,
                    cache=cache,
                    position_ids=position_ids,
                    token_type_ids=token_type_ids,
                )
            return self.language_model(
                inputs_embeds=inputs_embeds,
                attention_mask=attention_mask,
                position_ids=position_ids,
                cache=cache,
                use_cache=use_cache,
                **kwargs,
            )

    return BlockMaskDecoder


class BlockMasking:
    """Mixin for an adapter: `decoder` wraps the text model with `block_mask`, `lm_head` soft-caps.

    The adapter defines `block_mask(*, config, inputs_embeds, attention_mask, cache,
    position_ids, token_type_ids) -> mask` (a staticmethod) and passes `token_type_ids` in
    the prefill's `decoder_kwargs` (from `merge`).
    """

    model: Any
    config: Any
    block_mask: Any

    @property
    def decoder(self) -> Any:
        wrapped = self.__dict__.get("_decoder")
        language_model = self.model.model.language_model
        if wrapped is None or wrapped.language_model is not language_model:
            wrapped = _decoder_class()(language_model, self.block_mask)
            self.__dict__["_decoder"] = wrapped
        return wrapped

    @property
    def lm_head(self) -> Any:
        head = self.model.lm_head
        cap = getattr(self.config.get_text_config(), "final_logit_softcapping", None)
        if cap is None:
            return head

        def capped(hidden: "torch.Tensor") -> "torch.Tensor":
            import torch

            return torch.tanh(head(hidden) / cap) * cap

        return capped
