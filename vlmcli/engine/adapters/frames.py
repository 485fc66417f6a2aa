"""Videos for families without a video path (LLaVA 1.5, LLaVA-NeXT, Idefics3 v1): frames as images.

Each frame becomes one image placeholder, labelled with its time: `Frame at t=1.5s:` just
before the image where the chat template keeps text and images in order, otherwise one
line listing the frames' times (LLaVA's templates put every image first). Temporal
pooling merges frames here, before encoding: each group of frames becomes one image whose
pixels are the group's mean (fewer images, so fewer tokens and fewer encoder passes),
labelled with the group's time span.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vlmcli.engine.request import Request
from vlmcli.engine.video_input import VideoInput
from vlmcli.media.image_input import ImageInput
from vlmcli.reduction.pooling import Groups
from vlmcli.reduction.temporal import TemporalMode, TemporalPoolSpec, frame_signatures, plan_groups


@dataclass(frozen=True)
class FramesRequest:
    """A request whose videos were turned into images.

    request: the original images followed by the frame images; no videos.
    content: chat-template content parts in prompt order (markers, images, question).
    owners: per image of `request`, the index of the video it came from (None: a real image).
    """

    request: Request
    content: list[dict[str, Any]]
    owners: tuple[int | None, ...]


def clip_groups(video: VideoInput, spec: TemporalPoolSpec) -> Groups:
    """The frames merged into each image (every frame alone when nothing is pooled)."""
    signatures = frame_signatures(video.frames) if spec.mode is TemporalMode.SIMILAR else None
    groups = plan_groups(spec, units=len(video), signatures=signatures)
    return groups if groups is not None else tuple((i,) for i in range(len(video)))


def _frame_image(video: VideoInput, group: tuple[int, ...]) -> ImageInput:
    import numpy as np
    from PIL import Image

    pixels = video.frames[group[0] : group[-1] + 1]  # (k, H, W, 3)
    mean = pixels[0] if len(group) == 1 else np.rint(pixels.astype(np.float32).mean(axis=0)).astype(np.uint8)
    return ImageInput(Image.fromarray(mean), source=f"{video.source}@{video.timestamps[group[0]]:.2f}s")


def _label(video: VideoInput, group: tuple[int, ...]) -> str:
    start, end = video.timestamps[group[0]], video.timestamps[group[-1]]
    return f"t={start:.1f}s" if len(group) == 1 else f"t={start:.1f}-{end:.1f}s"


def videos_as_frames(request: Request, *, temporal: TemporalPoolSpec, interleave: bool) -> FramesRequest:
    """Replace each video of `request` by its (pooled) frames as images, with time markers."""
    images = list(request.images)
    owners: list[int | None] = [None] * len(images)
    content: list[dict[str, Any]] = [{"type": "image"} for _ in images]
    for index, video in enumerate(request.videos):
        groups = clip_groups(video, temporal)
        labels = [_label(video, g) for g in groups]
        if not interleave:
            content += [{"type": "image"} for _ in groups]
            content.append(
                {"type": "text", "text": f"The last {len(groups)} images are frames of a video at {', '.join(labels)}."}
            )
        for group, label in zip(groups, labels):
            if interleave:
                content += [{"type": "text", "text": f"Frame at {label}:"}, {"type": "image"}]
            images.append(_frame_image(video, group))
            owners.append(index)
    content.append({"type": "text", "text": request.prompt})
    converted = Request(prompt=request.prompt, images=tuple(images), system=request.system)
    return FramesRequest(request=converted, content=content, owners=tuple(owners))
