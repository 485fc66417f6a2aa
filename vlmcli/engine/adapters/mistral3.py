"""Mistral 3 (`mistral3`, e.g. mistralai/Mistral-Small-3.1-24B-Instruct-2503).

transformers' common interface (`GenericAdapter`) with per-image `image_sizes`: the
`PixtralProcessor` resizes each image to its own canvas (`vlmcli.tiling.mistral3`) and
writes rows of `[IMG]` tokens separated by `[IMG_BREAK]`, ended by `[IMG_END]`;
`get_image_features(pixel_values, image_sizes)` runs the Pixtral tower over every image
(block-diagonal attention, so images do not see each other), merges 2x2 patches and
returns one (rows * cols, D) tensor per image, which replaces its `[IMG]` tokens. The
decoder is a plain Mistral with 1-D positions.

The processor pads `pixel_values` to the largest image of the call; here each image keeps
only its own canvas (`split_images`) and a batch is zero-padded again to its largest
(`stack`): the tower crops every image to its `image_sizes`, so padding never reaches the
features.

Resolution: the native knob is `longest_edge`. The planner gives each image its own edge
(caps lower it, a `--min-pixels` floor raises it up to the tower's `image_size` and
upscales small images, which Pixtral alone never does); since one processor call shares a
single `size`, the edge is applied per image through the processor's own resize while the
prompt is prepared (`resolution_applied`). Videos reach the model as frames (images with
time markers), each planned like an image. `--compress pool:K` is refused (the tokens are
rows with break markers, no plain grid run); `perceiver:M` writes M `[IMG]` then `[IMG_END]`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from vlmcli.engine.adapters.base import PreparedImage
from vlmcli.engine.adapters.generic import GenericAdapter
from vlmcli.media.image_input import ImageInput
from vlmcli.tiling import ImagePlan
from vlmcli.tiling.mistral3 import Mistral3Spec, plan_mistral3

if TYPE_CHECKING:
    import torch


class Mistral3Adapter(GenericAdapter):
    """`GenericAdapter` with `image_sizes`, per-image canvases and per-image `longest_edge`."""

    image_keys = ("pixel_values", "image_sizes")

    def _spec(self) -> Mistral3Spec:
        image_processor = self.processor.image_processor
        size = image_processor.size
        edge = size.get("longest_edge") if isinstance(size, dict) else getattr(size, "longest_edge", None)
        if not edge:
            from vlmcli.errors import ConfigError

            raise ConfigError("This Mistral 3 processor has no size['longest_edge']; vlmcli plans only that.")
        vision = self.config.vision_config
        patch = int(self.processor.patch_size)
        tower = int(vision.image_size) // int(vision.patch_size) * int(vision.patch_size)
        return Mistral3Spec(
            longest_edge=int(edge),
            patch_size=patch,
            spatial_merge_size=int(self.processor.spatial_merge_size),
            max_edge=max(tower, 1),
        )

    def plan_images(self, sizes: list[tuple[int, int]]) -> list[ImagePlan]:
        spec = self._spec()
        return [plan_mistral3(spec, self.policy, width=w, height=h) for w, h in sizes]

    @contextmanager
    def resolution_applied(self) -> Iterator[None]:
        """Each image resized to its planned canvas by the processor's own resize (per image)."""
        if self.policy.is_native:
            yield
            return
        from transformers.image_utils import SizeDict

        spec = self._spec()
        image_processor = self.processor.image_processor
        parent_resize = super(type(image_processor), image_processor).resize
        policy = self.policy

        def resize(image: Any, size: Any, patch_size: Any = None, resample: Any = None, **kwargs: Any) -> Any:
            height, width = (int(v) for v in image.shape[-2:])  # (..., C, H, W) torch images
            plan = plan_mistral3(spec, policy, width=width, height=height)
            canvas_w, canvas_h = plan.resized
            return parent_resize(image, size=SizeDict(height=canvas_h, width=canvas_w), resample=resample, **kwargs)

        image_processor.resize = resize
        try:
            yield
        finally:
            del image_processor.resize

    def split_images(self, out: Any, images: list[ImageInput], input_ids: torch.Tensor) -> list[PreparedImage]:
        """Per image: its own canvas of `pixel_values` (the processor pads to the call's largest)."""
        prepared = []
        sizes = out["image_sizes"]  # (N, 2) (height, width)
        for i, (image, tokens) in enumerate(zip(images, self.tokens_per_image(out), strict=True)):
            height, width = (int(v) for v in sizes[i])
            inputs = {
                "pixel_values": out["pixel_values"][i : i + 1, :, :height, :width],  # (1, 3, H, W)
                "image_sizes": sizes[i : i + 1],
            }
            prepared.append(PreparedImage(source=image, inputs=inputs, visual_tokens=tokens, resized=(width, height)))
        return prepared

    def stack(self, images: list[PreparedImage], key: str) -> torch.Tensor:
        """`pixel_values` zero-padded (bottom, right) to the batch's largest canvas, (N, 3, H, W)."""
        import torch

        if key != "pixel_values":
            return super().stack(images, key)
        height = max(im.inputs["pixel_values"].shape[-2] for im in images)
        width = max(im.inputs["pixel_values"].shape[-1] for im in images)
        rows = [
            torch.nn.functional.pad(pv, (0, width - pv.shape[-1], 0, height - pv.shape[-2]))
            for pv in (im.inputs["pixel_values"] for im in images)
        ]
        return torch.cat(rows)

    def image_replacement(self, image: PreparedImage, original: str) -> str:
        """A reduced image (`--compress perceiver:M`): its M `[IMG]` tokens, then `[IMG_END]`."""
        layout = image.layout
        assert layout is not None
        count = self.reducer.count(layout)
        return self.processor.image_token * count + self.processor.image_end_token
