"""One decoded image as the rest of vlmcli passes it around: RGB pixels, a name, a content key.

It lives here, beside the decoding that makes it, rather than in the engine that consumes it,
so that `media` never imports `engine` (data moves one way: media -> engine). The engine's
`Request` holds these (`vlmcli.engine` re-exports `ImageInput`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image


def pixel_key(image: "Image.Image") -> str:
    """Content hash of decoded pixels (mode, size, bytes): same picture, same key."""
    digest = hashlib.sha256()
    digest.update(f"{image.mode}:{image.width}x{image.height}:".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class ImageInput:
    """One decoded RGB image and where it came from."""

    image: "Image.Image"
    source: str = "<image>"
    """A name for messages and output (file path, `-` for stdin)."""
    key: str = ""
    """Content hash used by the vision-feature cache; computed from the pixels when empty."""
    note: str | None = None
    """What of the file was not read, when something was not (a multi-page TIFF: its first page
    only); the commands say it (ask/describe on stderr, caption-dir in the row's `notes`)."""

    def __post_init__(self) -> None:
        if self.image.mode != "RGB":
            object.__setattr__(self, "image", self.image.convert("RGB"))
        if not self.key:
            object.__setattr__(self, "key", pixel_key(self.image))
