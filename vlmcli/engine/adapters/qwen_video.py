"""The video half of the Qwen-VL adapter: clips as (t, h, w) grids of temporal patches.

The video processor stacks every 2 frames (`temporal_patch_size`) into one temporal patch,
so a clip of T frames is a grid of t = ceil(T / 2) units of h*w/4 tokens each (2x2 merge).
Qwen2-VL and Qwen2.5-VL write one run of `<|video_pad|>` for the whole clip; Qwen3-VL
writes one block per temporal patch, `<12.5 seconds><|vision_start|>...<|vision_end|>`.

MRoPE with reduced tokens: a clip pooled to t' units and compressed to an (h', w') token
grid per unit is, to the positions, simply a smaller video: `rope_grid` is
(t', 2h', 2w') in patch units, the prompt holds t' * h' * w' placeholders, and
`get_rope_index` gives them consistent (time, row, column) positions. Qwen2.5-VL spaces
temporal positions by `second_per_grid_ts`; a pooled unit spans T/t' times as long, so it
is scaled by units / out_units. Qwen3-VL's text timestamps are the pooled units' mid times.

The prompt (Qwen3-VL): the chat template writes `<|vision_start|><|video_pad|><|vision_end|>`
and the processor expands the video token into per-patch blocks that carry their own
start/end tokens. transformers up to 5.24 kept the template's outer pair around all the
blocks (two extra tokens that Qwen3-VL was not trained with); 5.25 drops it. vlmcli needs
5.25 (`engine/versions.py`) and `prompt_text` also collapses the outer pair to a bare video
token before the processor sees it, so the layout is the released model's whatever the
processor does with the pair (tests/golden/prepared_inputs.json pins it).

Resolution: `--max-pixels`/`--min-pixels`/`--max-tiles` bound each frame as they bound an
image (`tiling.qwen_video_size` maps them onto the video processor's `size`, which is per
frame for Qwen2/2.5-VL and per clip for Qwen3-VL), passed as `videos_kwargs` so images in
the same prompt keep their own bounds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vlmcli.engine.adapters.base import Adapter, PreparedImage, PreparedVideo
from vlmcli.engine.cache import Features
from vlmcli.engine.video_input import VideoInput
from vlmcli.reduction.reducer import TokenLayout
from vlmcli.errors import InputError
from vlmcli.tiling import QwenSpec, qwen_video_size
from vlmcli.tiling.qwen import MAX_ASPECT_RATIO, too_elongated

if TYPE_CHECKING:
    import torch

    from vlmcli.engine.request import Request

DEEPSTACK = "deepstack."


def split_features(out: Any, count: int) -> list[Features]:
    """Per-item features from `get_image_features`/`get_video_features` (pooler + deepstack)."""
    features: list[Features] = [{"embeds": f} for f in out.pooler_output]  # each (N_i, D)
    deepstack = getattr(out, "deepstack_features", None)
    if deepstack:
        for layer, per_item in enumerate(deepstack):
            for feats, f in zip(features, per_item):
                feats[f"{DEEPSTACK}{layer}"] = f  # (N_i, D)
    assert len(features) == count
    return features


def without_outer_video_pair(text: str, processor: Any) -> str:
    """`text` with the chat template's `<|vision_start|><|video_pad|><|vision_end|>` as a bare video
    token, so a Qwen3-VL processor writes only its per-patch blocks (the released layout)."""
    wrapped = processor.vision_start_token + processor.video_token + processor.vision_end_token
    return text.replace(wrapped, processor.video_token)


class QwenVideoAdapter(Adapter):
    """The video half of `QwenVLAdapter` (abstract: the image half lives there)."""

    native_video = True

    @property
    def _merge(self) -> int:
        return int(self.config.vision_config.spatial_merge_size)

    @property
    def _temporal_patch(self) -> int:
        return int(self.processor.video_processor.temporal_patch_size)

    def processor_clips(self, videos: tuple[VideoInput, ...]) -> tuple[VideoInput, ...]:
        """Clips of at least one temporal patch (Qwen3-VL's and GLM-4V's processors refuse fewer
        frames), whose frames are not too elongated for the processor (an `InputError`, as for an image)."""
        for video in videos:
            width, height = video.size
            if too_elongated(width=width, height=height):
                raise InputError(
                    f"{video.source}: its {width}x{height} frames are too elongated for this model (the long side "
                    f"may be at most {MAX_ASPECT_RATIO}x the short side); crop the video first."
                )
        return tuple(v.at_least(self._temporal_patch) for v in videos)

    def video_kwargs(self, videos: list[VideoInput]) -> dict[str, Any]:
        kwargs = super().video_kwargs(videos)
        if self.policy.is_native:
            return kwargs
        processor = self.processor.video_processor
        size = getattr(processor, "size", None) or {}
        spec = QwenSpec(
            patch_size=int(processor.patch_size),
            merge_size=int(processor.merge_size),
            min_pixels=int(size.get("shortest_edge") or processor.min_pixels),
            max_pixels=int(size.get("longest_edge") or processor.max_pixels),
        )
        low, high = qwen_video_size(
            spec,
            self.policy,
            frames=min(len(v) for v in videos),  # one size per call: the shortest clip's share binds all
            per_clip=self.model_type in ("qwen3_vl", "qwen3_vl_moe"),
            capped=bool(getattr(processor, "cap_pixels_per_frame", False)),
        )
        return kwargs | {"videos_kwargs": {"size": {"shortest_edge": low, "longest_edge": high}}}

    def split_videos(self, out: Any, videos: list[VideoInput], input_ids: "torch.Tensor") -> list[PreparedVideo]:
        grids = out["video_grid_thw"]  # (V, 3)
        pixel_values = out["pixel_values_videos"]  # (sum t*h*w, C*T*P*P)
        seconds = out.get("second_per_grid_ts")  # (V,) Qwen2.5-VL only
        patch = int(self.config.vision_config.patch_size)
        prepared, start = [], 0
        for i, (video, grid) in enumerate(zip(videos, grids)):
            t, h, w = (int(x) for x in grid)
            count = t * h * w
            inputs = {"pixel_values_videos": pixel_values[start : start + count], "video_grid_thw": grid[None]}
            if seconds is not None:
                inputs["second_per_grid_ts"] = seconds[i : i + 1]
            layout = TokenLayout(
                units=t,
                per_unit=h * w // self._merge**2,
                grid=(h // self._merge, w // self._merge),
                groups=self.clip_groups(video, units=t, frames_per_unit=self._temporal_patch),
            )
            prepared.append(
                PreparedVideo(
                    source=video, inputs=inputs, layout=layout, visual_tokens=layout.encoder_tokens,
                    resized=(w * patch, h * patch),
                )
            )
            start += count
        return prepared

    def encode_videos(self, videos: list[PreparedVideo]) -> list[Features]:
        import torch

        device = self.model.device
        pixel_values = torch.cat([v.inputs["pixel_values_videos"] for v in videos]).to(device, self.vision_dtype)
        grids = torch.cat([v.inputs["video_grid_thw"] for v in videos]).to(device)  # (V, 3)
        out = self.model.model.get_video_features(pixel_values, grids, return_dict=True)
        return split_features(out, len(videos))

    def rope_grid(self, item: PreparedImage | PreparedVideo) -> tuple[int, int, int]:
        """(t, h, w) in patch units that the item's reduced tokens are positioned as."""
        layout = item.layout
        assert layout is not None
        gh, gw = self.reducer.unit_grid(layout)
        return (layout.out_units, gh * self._merge, gw * self._merge)

    @property
    def _blocks_per_unit(self) -> bool:
        """Whether the prompt holds one timestamped start/end block per temporal patch (Qwen3-VL)."""
        return self.model_type in ("qwen3_vl", "qwen3_vl_moe")

    def prompt_text(self, request: Request, content: list[dict[str, Any]] | None = None) -> str:
        text = super().prompt_text(request, content)
        return without_outer_video_pair(text, self.processor) if self._blocks_per_unit and request.videos else text

    def video_replacement(self, video: PreparedVideo, original: str) -> str:
        processor = self.processor
        layout = video.layout
        per_unit = self.reducer.unit_tokens(layout)
        if not self._blocks_per_unit:
            return processor.video_token * (layout.out_units * per_unit)
        times = self._unit_times(video.source)
        groups = layout.groups or tuple((u,) for u in range(layout.units))
        block = processor.vision_start_token + processor.video_token * per_unit + processor.vision_end_token
        return "".join(f"<{(times[g[0]] + times[g[-1]]) / 2:.1f} seconds>" + block for g in groups)

    def _unit_times(self, video: VideoInput) -> list[float]:
        """Qwen3-VL's time of each temporal patch: mean of its first and last frame (as its processor)."""
        step = self._temporal_patch
        indices = list(video.indices)
        indices += [indices[-1]] * (-len(indices) % step)
        return [(indices[i] + indices[i + step - 1]) / 2 / video.fps for i in range(0, len(indices), step)]

    def video_seconds(self, videos: list[PreparedVideo]) -> "torch.Tensor | None":
        """Qwen2.5-VL's seconds per temporal unit of each clip, scaled for pooling; None otherwise."""
        import torch

        if not videos or "second_per_grid_ts" not in videos[0].inputs:
            return None
        return torch.cat(
            [v.inputs["second_per_grid_ts"] * (v.layout.units / v.layout.out_units) for v in videos]
        )  # (V,)
