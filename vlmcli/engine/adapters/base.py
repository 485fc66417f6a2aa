"""The one interface every model family implements.

The generation loop (`vlmcli.engine.generate`) knows nothing about families. It asks the
adapter to:

1. `prepare` a request: the chat-template prompt with image placeholders, run through the
   family's real processor, and the processor's visual tensors split per image (so each
   image can be cached and batched on its own);
2. `encode` a list of images in one vision-encoder call, returning per-image features;
3. `merge` the features into the text embeddings (plus any extra decoder inputs, such as
   Qwen3-VL's deepstack features);
4. give `prefill_positions` (1-D, or Qwen's 3-D MRoPE) and `decode_positions`.

The base class holds what most families share: masked-scatter merging on the image
token, cumulative-sum positions, and `model.get_image_features` returning per-image
features. Families override only what differs.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vlmcli.engine.cache import Features
from vlmcli.engine.families import Family
from vlmcli.engine.request import ImageInput, Request
from vlmcli.tiling import ImagePlan, ResolutionPolicy

if TYPE_CHECKING:
    import torch


@dataclass
class PreparedImage:
    """One image after preprocessing: the visual tensors of this image alone."""

    source: ImageInput
    inputs: dict[str, "torch.Tensor"]
    """This image's slice of the processor output (pixel_values, grids, masks ...)."""
    visual_tokens: int
    """Placeholder tokens this image occupies in the prompt (= rows of its features)."""
    resized: tuple[int, int]
    """(width, height) the vision encoder saw (the tile canvas for tiled families)."""
    variant: str = ""
    """Anything besides pixels and settings that changes the features (part of the cache key)."""
    grid: tuple[int, int] = (1, 1)
    """(rows, cols) of full-resolution tiles (1, 1 for untiled images)."""


@dataclass
class PreparedRequest:
    input_ids: "torch.Tensor"  # (L,)
    images: list[PreparedImage]
    token_extras: dict[str, "torch.Tensor"] = field(default_factory=dict)
    """Per-token tensors the positions need, e.g. Qwen's mm_token_type_ids (L,)."""

    @property
    def visual_tokens(self) -> int:
        return sum(im.visual_tokens for im in self.images)


@dataclass
class Merged:
    embeds: "torch.Tensor"  # (B, L, D)
    decoder_kwargs: dict[str, Any] = field(default_factory=dict)


class Adapter(ABC):
    """Family-specific glue around a transformers VLM and its processor."""

    family: Family

    def __init__(
        self,
        *,
        model: Any,
        processor: Any,
        model_type: str,
        config: Any = None,
        policy: ResolutionPolicy | None = None,
    ) -> None:
        """`model` may be None for planning only (dry runs): then `config` is required."""
        self.model = model
        self.processor = processor
        self.model_type = model_type
        self.config = config if config is not None else model.config
        self.policy = policy or ResolutionPolicy()
        self.fingerprint = self._fingerprint()

    # -- resolution ----------------------------------------------------------
    @abstractmethod
    def plan_images(self, sizes: list[tuple[int, int]]) -> list[ImagePlan]:
        """How each (width, height) image of one prompt is resized/tiled, and its token cost."""

    def processor_kwargs(self, sizes: list[tuple[int, int]]) -> dict[str, Any]:
        """Native processor knobs that apply `self.policy` to one prompt's images."""
        return {}

    @contextmanager
    def resolution_applied(self) -> Iterator[None]:
        """Settings that must hold on processor/model objects while preprocessing and encoding."""
        yield

    # -- prompt --------------------------------------------------------------
    def messages(self, request: Request) -> list[dict[str, Any]]:
        """One user turn: the images in order, then the question (plus an optional system turn)."""
        content: list[dict[str, Any]] = [{"type": "image"} for _ in request.images]
        content.append({"type": "text", "text": request.prompt})
        turns: list[dict[str, Any]] = []
        if request.system is not None:
            turns.append({"role": "system", "content": [{"type": "text", "text": request.system}]})
        turns.append({"role": "user", "content": content})
        return turns

    def prompt_text(self, request: Request) -> str:
        return self.processor.apply_chat_template(
            self.messages(request), add_generation_prompt=True, tokenize=False
        )

    def prepare(self, request: Request) -> PreparedRequest:
        text = self.prompt_text(request)
        images = [[im.image for im in request.images]] if request.images else None
        sizes = [(im.image.width, im.image.height) for im in request.images]
        with self.resolution_applied():
            out = self.processor(text=[text], images=images, return_tensors="pt", **self.processor_kwargs(sizes))
            input_ids = out["input_ids"][0]  # (L,)
            prepared = self.split_images(out, list(request.images), input_ids) if request.images else []
        for image, plan in zip(prepared, self.plan_images(sizes) if sizes else []):
            image.resized, image.grid = plan.resized, plan.grid
        extras = {k: out[k][0] for k in self.token_extra_keys if k in out}
        return PreparedRequest(input_ids=input_ids, images=prepared, token_extras=extras)

    token_extra_keys: tuple[str, ...] = ()

    @abstractmethod
    def split_images(
        self, out: Any, images: list[ImageInput], input_ids: "torch.Tensor"
    ) -> list[PreparedImage]:
        """Cut the processor's batched visual tensors into one dict per image."""

    # -- vision --------------------------------------------------------------
    @abstractmethod
    def encode(self, images: list[PreparedImage]) -> list[Features]:
        """Run the vision tower once over all `images`; features per image, in order."""

    # -- language model ------------------------------------------------------
    @property
    def image_token_id(self) -> int:
        config = self.config
        value = getattr(config, "image_token_id", None)
        if value is None:
            value = getattr(config, "image_token_index")
        return int(value)

    @property
    def vision_dtype(self) -> "torch.dtype":
        """dtype of the vision tower's weights (the language model may differ: mixed CPU mode)."""
        return self._vision_dtype if self._vision_dtype is not None else self.model.dtype

    _vision_dtype: "torch.dtype | None" = None

    def embed(self, input_ids: "torch.Tensor") -> "torch.Tensor":
        return self.model.get_input_embeddings()(input_ids)  # (B, L, D)

    @property
    def decoder(self) -> Any:
        return self.model.model.language_model

    @property
    def lm_head(self) -> Any:
        return self.model.lm_head

    def merge(
        self, input_ids: "torch.Tensor", embeds: "torch.Tensor", features: list[Features]
    ) -> Merged:
        """Scatter the images' embeddings over the image placeholder tokens, in order."""
        import torch

        if not features:
            return Merged(embeds)
        visual = torch.cat([f["embeds"] for f in features], dim=0).to(embeds.device, embeds.dtype)  # (N, D)
        mask = (input_ids == self.image_token_id).unsqueeze(-1).to(embeds.device)  # (B, L, 1)
        return Merged(embeds.masked_scatter(mask, visual))

    def prefill_positions(
        self,
        input_ids: "torch.Tensor",
        attention_mask: "torch.Tensor",
        *,
        extras: dict[str, "torch.Tensor"],
        requests: list[PreparedRequest],
    ) -> "torch.Tensor":
        """Positions for the padded prompt batch (B, L): count only real tokens (left padding)."""
        positions = attention_mask.long().cumsum(-1) - 1  # (B, L)
        return positions.masked_fill(attention_mask == 0, 0)

    def decode_positions(self, previous: "torch.Tensor") -> "torch.Tensor":
        """Positions of the next single token: one past the last ones, in every rope axis."""
        return previous[..., -1:] + 1  # (..., B, 1)

    # -- bookkeeping ---------------------------------------------------------
    def _fingerprint(self) -> str:
        """Identity of everything that changes vision features: weights and preprocessing."""
        parts = [
            str(getattr(self.config, "_name_or_path", "")),
            str(getattr(self.model, "dtype", "")),
            json.dumps(self.config.to_diff_dict(), sort_keys=True, default=str),
            repr(self.policy),
        ]
        image_processor = getattr(self.processor, "image_processor", None)
        if image_processor is not None:
            parts.append(image_processor.to_json_string())
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
