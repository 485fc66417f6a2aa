"""GLM-4.1V / GLM-4.5V (`glm4v`): Qwen2-VL's image path with GLM's own resize and rope index.

Everything the engine feeds the model is Qwen-VL's (see `qwen_vl`): one (1, h, w) patch grid
per image, features from `get_image_features` scattered over the `<|image|>` run, and
(4, B, L) positions (text, then MRoPE t/h/w from the model's own `get_rope_index`, which
takes the processor's `mm_token_type_ids`). What differs is the planning: GLM's
`smart_resize` bounds 2 * h * w (`vlmcli.tiling.glm4v`), so the policy is mapped onto the
image processor's `size` numbers by `glm4v_size`; under a `--min-pixels` floor that GLM's
smart_resize would miss, the images are handed over already at their planned size and the
bounds widened to keep them (`glm4v_prompt_bounds`), as Qwen-VL's are.

Video is native (`qwen_video`'s split/encode, GLM's prompt): the video processor stacks
every 2 frames into a temporal patch and writes each one as
`<|begin_of_image|>` + `<|image|>` x (h*w/4) + `<|end_of_image|>` + its first frame's whole
second, inside `<|begin_of_video|>...<|end_of_video|>`; video tokens are `<|image|>` too,
told apart by `mm_token_type_ids` (2 inside the video markers), and `get_rope_index` gives
every temporal patch its own (1, h, w) grid. Its `size` bounds T * h * w over the clip's T
frames, so the policy's per-frame pixels are mapped per clip (`qwen_video_size(per_clip=True)`).
A clip reduced by `--temporal-pool`/`--compress` is written as its pooled units, each with
the first pooled unit's timestamp, and positioned as the smaller clip (`rope_grid`).
"""

from __future__ import annotations

from typing import Any

from vlmcli.engine.adapters.base import Adapter, PreparedVideo
from vlmcli.engine.adapters.qwen_vl import QwenVLAdapter
from vlmcli.media.image_input import ImageInput
from vlmcli.engine.video_input import VideoInput
from vlmcli.tiling import ImagePlan, QwenSpec, qwen_video_size
from vlmcli.tiling.glm4v import Glm4vSpec, glm4v_prompt_bounds, glm4v_resized_size, plan_glm4v


class Glm4vAdapter(QwenVLAdapter):
    def _glm_spec(self) -> Glm4vSpec:
        processor = self.processor.image_processor
        size = getattr(processor, "size", None) or {}
        return Glm4vSpec(
            patch_size=int(processor.patch_size),
            merge_size=int(processor.merge_size),
            temporal_patch_size=int(processor.temporal_patch_size),
            shortest_edge=int(size["shortest_edge"]),
            longest_edge=int(size["longest_edge"]),
        )

    def _spec(self):  # the per-image view, for anything inherited that reads QwenSpec
        return self._glm_spec().per_image()

    def plan_images(self, sizes: list[tuple[int, int]]) -> list[ImagePlan]:
        spec = self._glm_spec()
        return [plan_glm4v(spec, self.policy, width=w, height=h) for w, h in sizes]

    def processor_images(self, images: list[ImageInput]) -> list[Any]:
        """Every image already at its planned size when GLM's smart_resize alone would miss the
        floor for one of them (`glm4v_prompt_bounds`); bicubic, as the processor."""
        sizes = [(im.image.width, im.image.height) for im in images]
        if self.policy.min_pixels is None or not glm4v_prompt_bounds(self._glm_spec(), self.policy, sizes)[2]:
            return Adapter.processor_images(self, images)
        from PIL import Image

        spec, fed = self._glm_spec(), []
        for im, (w, h) in zip(images, sizes):
            height, width = glm4v_resized_size(spec, self.policy, width=w, height=h)
            same = (width, height) == (w, h)
            fed.append(im.image if same else im.image.resize((width, height), Image.Resampling.BICUBIC))
        return fed

    def processor_kwargs(self, sizes: list[tuple[int, int]]) -> dict[str, Any]:
        if self.policy.is_native:
            return {}
        low, high, _ = glm4v_prompt_bounds(self._glm_spec(), self.policy, sizes)
        return {"images_kwargs": {"size": {"shortest_edge": low, "longest_edge": high}}}

    def video_kwargs(self, videos: list[VideoInput]) -> dict[str, Any]:
        """The video processor's `size` bounds T * h * w: per-frame pixels times the clip's frames."""
        kwargs = Adapter.video_kwargs(self, videos)
        if self.policy.is_native:
            return kwargs
        processor = self.processor.video_processor
        size = getattr(processor, "size", None) or {}
        spec = QwenSpec(
            patch_size=int(processor.patch_size),
            merge_size=int(processor.merge_size),
            min_pixels=int(size["shortest_edge"]),
            max_pixels=int(size["longest_edge"]),
        )
        low, high = qwen_video_size(
            spec,
            self.policy,
            frames=min(len(v) for v in videos),
            per_clip=True,
            capped=False,
        )
        return kwargs | {"videos_kwargs": {"size": {"shortest_edge": low, "longest_edge": high}}}

    def video_replacement(self, video: PreparedVideo, original: str) -> str:
        """GLM's expansion of a reduced clip: one image run + whole-second timestamp per (pooled) unit."""
        processor = self.processor
        layout = video.layout
        per_unit = self.reducer.unit_tokens(layout)
        step = self._temporal_patch
        times = [i / video.source.fps for i in list(video.source.indices)[::step]]  # as the processor's timestamps[::2]
        groups = layout.groups or tuple((u,) for u in range(layout.units))
        block = "<|begin_of_image|>" + processor.image_token * per_unit + "<|end_of_image|>"
        return "".join(f"{block}{int(times[min(g[0], len(times) - 1)])}" for g in groups)
