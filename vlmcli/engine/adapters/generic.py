"""The generic adapter: families that follow transformers' common VLM interface.

Most image-text-to-text models in transformers share one shape, and this class is it:

- the processor returns per-image tensors whose first dimension is the image
  (`pixel_values` (N, ...), plus keys such as `image_sizes` (N, 2)), and expands each image
  placeholder into a run of `processor.image_token` (reported per placeholder by
  `return_text_replacement_offsets`, which `Adapter.prepare` always asks for);
- `model.model.get_image_features(pixel_values=..., <per-image keys>, return_dict=True)`
  returns `pooler_output`: the projected features per row of `pixel_values` (a (rows, T, D)
  tensor or a list of (T_i, ...) tensors);
- the features replace the image tokens (`config.image_token_id`) in the text embeddings,
  and `model.model.language_model` decodes with 1-D positions.

The base `Adapter` holds the last point (masked-scatter `merge`, cumulative-sum positions,
`decoder`, `lm_head`, `image_token_id`); this class adds the first two, so a family that
follows the interface writes only its resolution planning (`plan_images`, with
`processor_kwargs` / `resolution_applied` mapping the policy onto its native knobs).
Overridable hooks, only where a family's arithmetic differs:

- `image_keys`: the processor outputs cut per image (first dimension = image);
- `stack(images, key)`: how per-image tensors are batched for one tower call (LLaVA-NeXT
  pads the tile counts);
- `rows_per_call`: rows of `pixel_values` per tower call (None: all at once; LLaVA 1.5's
  tiles go `tiles_per_call` at a time on CPU);
- `image_layout` / `image_replacement` (base): the token grid, for `--compress`;
- `prefill_positions` (base): positions other than 1-D (Qwen's MRoPE);
- `image_token_id` / `video_token_id` (base): special tokens named differently.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vlmcli.engine.adapters.base import Adapter, PreparedImage
from vlmcli.engine.cache import Features
from vlmcli.media.image_input import ImageInput

if TYPE_CHECKING:
    import torch


class GenericAdapter(Adapter):
    """An adapter for families on transformers' common VLM interface; subclasses plan resolution."""

    image_keys: tuple[str, ...] = ("pixel_values",)
    """Processor outputs with one entry per image along the first dimension; `pixel_values` first."""
    rows_per_call: int | None = None
    """Rows of `pixel_values` per vision-tower call (None: every row of the batch at once)."""

    def tokens_per_image(self, out: Any) -> list[int]:
        """Image tokens the processor wrote for each image, in prompt order."""
        token = self.processor.image_token
        offsets = out["text_replacement_offsets"][0]
        return [entry["replacement"].count(token) for entry in offsets if entry["type"] == "image"]

    def split_images(self, out: Any, images: list[ImageInput], input_ids: "torch.Tensor") -> list[PreparedImage]:
        prepared = []
        for i, (image, tokens) in enumerate(zip(images, self.tokens_per_image(out), strict=True)):
            inputs = {key: out[key][i : i + 1] for key in self.image_keys if key in out}
            height, width = inputs["pixel_values"].shape[-2:]
            prepared.append(
                PreparedImage(source=image, inputs=inputs, visual_tokens=tokens, resized=(int(width), int(height)))
            )
        return prepared

    def stack(self, images: list[PreparedImage], key: str) -> "torch.Tensor":
        """One batch tensor of `key` over `images` (rows in image order)."""
        import torch

        return torch.cat([im.inputs[key] for im in images])

    def encode(self, images: list[PreparedImage]) -> list[Features]:
        """Every row of every image through `get_image_features`, `rows_per_call` rows at a time;
        per image, its rows' features concatenated in order, (T, D)."""
        import torch

        device = self.model.device
        pixel_values = self.stack(images, "pixel_values").to(device, self.vision_dtype)  # (R, ...)
        extras = {key: self.stack(images, key).to(device) for key in self.image_keys[1:] if key in images[0].inputs}
        step = self.rows_per_call or len(pixel_values)
        per_row = []  # R tensors, each (T_r, ..., D)
        with self.resolution_applied():
            for start in range(0, len(pixel_values), step):
                rows = slice(start, start + step)
                out = self.model.model.get_image_features(
                    pixel_values=pixel_values[rows], **{k: v[rows] for k, v in extras.items()}, return_dict=True
                )
                per_row += list(out.pooler_output)
        features, start = [], 0
        for im in images:
            count = int(im.inputs["pixel_values"].shape[0])
            embeds = torch.cat([f.reshape(-1, f.shape[-1]) for f in per_row[start : start + count]])  # (T, D)
            features.append({"embeds": embeds})
            start += count
        return features
