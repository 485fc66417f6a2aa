"""The dry run's visual tokens of a clip: counted as the model counts them, not bounded.

    tokens = clip_counter(engine, job.videos, images=token_estimator(engine, job.videos))
    tokens(task)  # an image: `images(task)`; a clip: what its row's visual_tokens will say

`vlm ask clip.mp4 --dry-run` plans a video by really preparing it (`adapter.prepare`, the
function a run feeds the model through): Qwen2-VL/Qwen2.5-VL/Qwen3-VL stack each two frames
into one temporal patch and merge 2x2 patches (8 frames of 192x108 are 4 units, not 8
frames' worth), GLM-4V likewise, SmolVLM/Idefics3 show each frame as one untiled image,
LLaVA-OneVision pools its frames' grids, `--temporal-pool` and `--compress` reduce them. A
bound from "frames x one image" (`pipeline.token_estimator`, what batching still uses: it
needs no processor call) overcounted them several times. Here each planned clip is prepared
the same way on a stand-in clip without decoding the file: as many frames as the sampler
will take (`SamplingOptions.budget`), at the size they are decoded at (`fit_within`), so
the dry run's total is the sum of the real run's `visual_tokens` column. One preparation
per distinct (frames, width, height); the stand-in frames differ from each other, so
`--temporal-pool sim` (which merges look-alike frames, a matter of their content) is
counted unmerged: an upper bound. A model without a processor (a test's fake), or a clip
its processor refuses (the run writes its error row), falls back to the bound.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from vlmcli.captions.config import VideoCaptioning
from vlmcli.captions.plan import Task
from vlmcli.errors import VlmError

if TYPE_CHECKING:
    from vlmcli.engine.video_input import VideoInput
    from vlmcli.video.metadata import VideoInfo

Tokens = Callable[[Task], int]


def clip_counter(engine: Any, videos: VideoCaptioning | None, *, images: Tokens) -> Tokens:
    """Visual tokens of a task: an image's by `images`, a clip's as the model prepares it
    (module docstring); `images` also stands in for a clip that cannot be prepared."""
    adapter = getattr(engine, "adapter", None)
    if videos is None or adapter is None or not hasattr(adapter, "prepare"):
        return images
    clip = videos
    known: dict[tuple[int, int, int], int | None] = {}

    def tokens(task: Task) -> int:
        if task.video is None:
            return images(task)
        shape = clip_shape(task.video, clip)
        if shape not in known:
            known[shape] = _prepared_tokens(adapter, stand_in(task.video, shape), prompt=task.prompt.text)
        counted = known[shape]
        return images(task) if counted is None else counted

    return tokens


def clip_shape(video: "VideoInfo", videos: VideoCaptioning) -> tuple[int, int, int]:
    """(frames, width, height) a run decodes of `video`: the sampler's frame count at decode size."""
    from vlmcli.video.metadata import fit_within

    width, height = fit_within(width=video.width, height=video.height, max_side=videos.max_side)
    return videos.sampling().budget(video), width, height


def stand_in(video: "VideoInfo", shape: tuple[int, int, int]) -> "VideoInput":
    """A clip of `shape`'s frames spread over `video`'s length, each frame unlike the others
    (seeded noise: similarity pooling finds nothing to merge)."""
    import numpy as np

    from vlmcli.engine.video_input import VideoInput

    frames, width, height = shape
    last = max(int(video.frame_count) - 1, 0)
    indices = [round(i * last / max(frames - 1, 1)) for i in range(frames)] if frames > 1 else [0]
    noise = np.random.default_rng(0).integers(0, 256, size=(frames, height, width, 3), dtype=np.uint8)
    return VideoInput(
        frames=noise,
        timestamps=tuple(i / video.fps for i in indices),
        fps=float(video.fps),
        indices=tuple(indices),
        duration_s=float(video.duration_s),
        source="<dry-run clip>",
    )


def _prepared_tokens(adapter: Any, clip: "VideoInput", *, prompt: str) -> int | None:
    """The clip's visual tokens as `adapter.prepare` counts them (`ask --dry-run`'s count);
    None when it cannot be prepared."""
    from vlmcli.engine.request import Request

    try:
        prepared = adapter.prepare(Request(prompt=prompt, videos=(clip,)))
    except (VlmError, ValueError, RuntimeError):  # the run writes this clip's error row; keep the bound
        return None
    return sum(int(usage.visual_tokens) for usage in prepared.usage)
