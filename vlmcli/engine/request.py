"""What a caller asks the engine: images and videos plus a question."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vlmcli.engine.video_input import VideoInput
from vlmcli.errors import ConfigError

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

    def __post_init__(self) -> None:
        if self.image.mode != "RGB":
            object.__setattr__(self, "image", self.image.convert("RGB"))
        if not self.key:
            object.__setattr__(self, "key", pixel_key(self.image))


@dataclass(frozen=True)
class Request:
    """One prompt: the images (in order), then the videos, then the question, in one user turn."""

    prompt: str
    images: tuple[ImageInput, ...] = field(default_factory=tuple)
    system: str | None = None
    """Optional system message; with none, the chat template's own default applies."""
    videos: tuple[VideoInput, ...] = field(default_factory=tuple)
    """Decoded clips; each goes through its family's native video path, or as frames."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "images", tuple(self.images))
        object.__setattr__(self, "videos", tuple(self.videos))
        if not self.prompt.strip() and not self.images and not self.videos:
            raise ConfigError("A request needs a question or at least one image or video.")
