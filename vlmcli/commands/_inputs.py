"""Turn the INPUT arguments of a command into decoded images and videos.

This is the one place that decides what an input is. A video (recognised by extension
or magic bytes) is probed and only its sampled frames are decoded (`vlmcli.video`), at
most `VIDEO_MAX_SIDE` pixels on the long side; commands that take no videos pass
`video=None` and get a clear refusal instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from vlmcli.engine.request import ImageInput
from vlmcli.engine.video_input import VideoInput
from vlmcli.errors import InputError
from vlmcli.media.images import image_input
from vlmcli.media.kinds import MediaKind, detect_kind
from vlmcli.media.sources import STDIN, read_source

if TYPE_CHECKING:
    from vlmcli.commands.video_options import VideoOptions

Media = ImageInput | VideoInput


def load_inputs(
    sources: Sequence[str], *, command: str, max_pixels: int | None, video: "VideoOptions | None" = None
) -> list[Media]:
    """Decode every source (a path, or `-` once for stdin), in order. Fails on the first bad one."""
    if list(sources).count(STDIN) > 1:
        raise InputError("Standard input ('-') can be used only once per command.")
    media: list[Media] = []
    for source in sources:
        if detect_kind(source) is MediaKind.VIDEO and source != STDIN:  # by extension: never read it all
            media.append(load_video(source, command=command, video=video))
            continue
        data = read_source(source)
        if detect_kind(source, data[:32]) is MediaKind.VIDEO:
            if source == STDIN:
                raise InputError("A video cannot be read from standard input ('-'); pass the file's path.")
            media.append(load_video(source, command=command, video=video))
            continue
        media.append(image_input(data, source, max_pixels=max_pixels))
    return media


def load_video(source: str, *, command: str, video: "VideoOptions | None") -> VideoInput:
    """Probe `source`, plan its frames with the chosen sampler, decode only those."""
    if video is None:
        raise InputError(f"{source} is a video; video input is not supported by {command}.")
    from vlmcli.commands.video_options import VIDEO_MAX_SIDE
    from vlmcli.video.sample import sample_video

    sampled = sample_video(
        source, method=video.method(), options=video.sampling_options(), max_side=VIDEO_MAX_SIDE
    )
    return VideoInput.from_sampled(sampled, source=source)


def split_media(media: Sequence[Media]) -> tuple[tuple[ImageInput, ...], tuple[VideoInput, ...]]:
    """(images, videos) in input order: a prompt holds the images first, then the videos."""
    images = tuple(m for m in media if isinstance(m, ImageInput))
    videos = tuple(m for m in media if isinstance(m, VideoInput))
    return images, videos
