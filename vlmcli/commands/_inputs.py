"""Turn the INPUT arguments of a command into decoded images.

This is the one place that decides what an input is. Videos are recognised (by
extension or magic bytes) and refused for now with a clear message; the video
engineer replaces that branch.
"""

from __future__ import annotations

from collections.abc import Sequence

from vlmcli.engine.request import ImageInput
from vlmcli.errors import InputError
from vlmcli.media.images import image_input
from vlmcli.media.kinds import MediaKind, detect_kind
from vlmcli.media.sources import STDIN, read_source


def load_inputs(sources: Sequence[str], *, command: str, max_pixels: int | None) -> list[ImageInput]:
    """Decode every source (a path, or `-` once for stdin), in order. Fails on the first bad one."""
    if list(sources).count(STDIN) > 1:
        raise InputError("Standard input ('-') can be used only once per command.")
    images = []
    for source in sources:
        if detect_kind(source) is MediaKind.VIDEO:  # by extension alone: refuse before reading it all
            raise _video_unsupported(source, command)
        data = read_source(source)
        if detect_kind(source, data[:32]) is MediaKind.VIDEO:
            raise _video_unsupported(source, command)
        images.append(image_input(data, source, max_pixels=max_pixels))
    return images


def _video_unsupported(source: str, command: str) -> InputError:
    return InputError(f"{source} is a video; video input is not supported yet by {command}.")
