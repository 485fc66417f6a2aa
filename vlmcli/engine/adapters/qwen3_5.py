"""Qwen3.5 (`qwen3_5`): Qwen3-VL's vision side in front of a hybrid Gated DeltaNet decoder.
`qwen3_5_moe` is the same model with sparse mixture-of-experts MLPs: nothing here changes.

Everything the engine feeds the model is Qwen3-VL's (see `qwen_vl`): 16-px patches merged
2x2, (4, B, L) positions (text, then interleaved MRoPE t/h/w from the model's own
`get_rope_index`), videos as one `<t seconds><|vision_start|>...<|vision_end|>` block per
temporal patch with the clip-wide pixel budget of `Qwen3VLVideoProcessor`. Qwen3.5's
vision tower has no deepstack, so `merge` passes no decoder extras.

The decoder differs: 3 of every 4 layers are Gated DeltaNet (linear attention) whose cache
is a convolution state and a recurrent state instead of keys and values. The engine's
`growing_cache` builds transformers' `DynamicCache(config=text_config)`, which gives those
layers their `LinearAttentionLayer` (left as is) and the full-attention layers the in-place
growing layer, so the loop carries both. Left padding is handled by the model itself
(the 2-D mask zeroes padded inputs of the linear layers at prefill, as in `generate`), and
a finished row keeps decoding pad tokens, so other rows' recurrent states never change.
"""

from __future__ import annotations

from typing import Any

from vlmcli.engine.adapters.base import Adapter
from vlmcli.engine.adapters.qwen_vl import QwenVLAdapter
from vlmcli.engine.video_input import VideoInput
from vlmcli.tiling import ImagePlan, qwen_video_size
from vlmcli.tiling.qwen3_5 import Qwen3_5Spec, plan_qwen3_5


class Qwen3_5Adapter(QwenVLAdapter):
    _blocks_per_unit = True
    """As Qwen3-VL: one timestamped `<|vision_start|>...<|vision_end|>` block per temporal patch."""

    def plan_images(self, sizes: list[tuple[int, int]]) -> list[ImagePlan]:
        spec: Qwen3_5Spec = self._spec()
        return [plan_qwen3_5(spec, self.policy, width=w, height=h) for w, h in sizes]

    def video_kwargs(self, videos: list[VideoInput]) -> dict[str, Any]:
        """As Qwen3-VL: the video processor's pixel bounds are per clip (`qwen_video_size(per_clip=True)`)."""
        kwargs = Adapter.video_kwargs(self, videos)
        if self.policy.is_native:
            return kwargs
        processor = self.processor.video_processor
        size = getattr(processor, "size", None) or {}
        spec = Qwen3_5Spec(
            patch_size=int(processor.patch_size),
            merge_size=int(processor.merge_size),
            min_pixels=int(size.get("shortest_edge") or processor.min_pixels),
            max_pixels=int(size.get("longest_edge") or processor.max_pixels),
        )
        low, high = qwen_video_size(
            spec,
            self.policy,
            frames=min(len(v) for v in videos),
            per_clip=True,
            capped=bool(getattr(processor, "cap_pixels_per_frame", False)),
        )
        return kwargs | {
            "videos_kwargs": {"size": {"shortest_edge": low, "longest_edge": high}}
        }
