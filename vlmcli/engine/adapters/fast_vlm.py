"""FastVLM (`fast_vlm`, e.g. KamilaMila/FastVLM-0.5B): LLaVA-style with a FastViTHD tower.

transformers' common interface exactly (`GenericAdapter`): the `LlavaProcessor` writes one
run of `<image>` tokens per image ((S / 64)^2 for an S-px square view), `pixel_values`
has one row per image, and `model.model.get_image_features(...).pooler_output` gives
each image's projected (S/64 * S/64, D) features, the tower's last feature map in raster
order; a Qwen2 decoder with 1-D positions.

Resolution (`vlmcli.tiling.fast_vlm`): one square view whose side is the processor's
`size.shortest_edge` / `crop_size`, moved in 64-px steps by `--max-pixels` (a cap) and
`--min-pixels` (a floor); `--max-tiles` changes nothing (no tiles). The token grid is the
view's (S/64) x (S/64) cells, for `--compress pool:K`. Videos reach the model as frames.

The tower is a timm model (transformers' `TimmWrapperModel`): without the `timm` package
the checkpoint cannot load, which `check_backends` says before any weight is read.
"""

from __future__ import annotations

from typing import Any

from vlmcli.engine.adapters.base import PreparedImage
from vlmcli.engine.adapters.generic import GenericAdapter
from vlmcli.errors import BackendUnavailableError, ConfigError
from vlmcli.reduction.reducer import TokenLayout
from vlmcli.tiling import ImagePlan
from vlmcli.tiling.fast_vlm import FastVlmSpec, fast_vlm_processor_kwargs, plan_fast_vlm

INSTALL_HINT = 'pip install "vlmcli[fastvlm]"'
TOWER = "fastvit_mci3"
"""The timm architecture of every FastVLM checkpoint's tower (FastViTHD)."""


def _size_field(value: Any, key: str) -> int | None:
    """`value[key]` of a processor size dict (or SizeDict attribute), None when absent."""
    found = value.get(key) if isinstance(value, dict) else getattr(value, key, None)
    return None if found is None else int(found)


class FastVlmAdapter(GenericAdapter):
    """`GenericAdapter` with FastVLM's single square view mapped onto the processor's size."""

    @classmethod
    def check_backends(cls) -> None:
        """The FastViTHD tower is built by timm; say how to install it when it is missing."""
        try:
            import timm
        except ImportError:
            raise BackendUnavailableError(
                f"FastVLM models need the timm package for their vision tower, which is not installed; {INSTALL_HINT}."
            ) from None
        if not timm.is_model(TOWER):
            raise BackendUnavailableError(
                f"timm {timm.__version__} has no {TOWER} (FastViTHD), FastVLM's vision tower; "
                f'upgrade it with `pip install -U "vlmcli[fastvlm]"`.'
            )

    def _spec(self) -> FastVlmSpec:
        image_processor = self.processor.image_processor
        if not getattr(image_processor, "do_center_crop", False) or not getattr(image_processor, "do_resize", False):
            raise ConfigError("vlmcli supports FastVLM processors that resize and centre-crop, as the hub ones do.")
        crop = image_processor.crop_size
        height, width = _size_field(crop, "height"), _size_field(crop, "width")
        if height is None or height != width:
            raise ConfigError(f"vlmcli supports FastVLM processors with a square crop_size, not {crop!r}.")
        shortest = _size_field(image_processor.size, "shortest_edge")
        return FastVlmSpec(
            image_size=height,
            shortest_edge=height if shortest is None else shortest,
            patch_size=int(self.processor.patch_size),
        )

    def plan_images(self, sizes: list[tuple[int, int]]) -> list[ImagePlan]:
        spec = self._spec()
        return [plan_fast_vlm(spec, self.policy, width=w, height=h) for w, h in sizes]

    def processor_kwargs(self, sizes: list[tuple[int, int]]) -> dict[str, Any]:
        if self.policy.is_native:
            return {}
        knobs = fast_vlm_processor_kwargs(self._spec(), self.policy)
        return {"images_kwargs": knobs} if knobs else {}

    def image_layout(self, image: PreparedImage) -> TokenLayout:
        """One view of (S/64) x (S/64) cells, raster order (the tower's flattened feature map)."""
        height, width = image.inputs["pixel_values"].shape[-2:]
        patch = int(self.processor.patch_size)
        grid = (int(height) // patch, int(width) // patch)
        return TokenLayout(units=1, per_unit=grid[0] * grid[1], grid=grid)

    def image_replacement(self, image: PreparedImage, original: str) -> str:
        """The expansion is only `<image>` tokens: one run of the image's (reduced) count."""
        return self.processor.image_token * image.visual_tokens
