"""What a caller asks the engine: images and videos plus a question.

The images are `vlmcli.media.image_input.ImageInput`s (media makes them; the engine only reads
them), the videos `engine.video_input.VideoInput`s.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vlmcli.engine.video_input import VideoInput
from vlmcli.errors import ConfigError
from vlmcli.media.image_input import ImageInput
from vlmcli.structured.spec import Constraint


@dataclass(frozen=True)
class Request:
    """One prompt: the images (in order), then the videos, then the question, in one user turn."""

    prompt: str
    images: tuple[ImageInput, ...] = field(default_factory=tuple)
    system: str | None = None
    """Optional system message; with none, the chat template's own default applies."""
    videos: tuple[VideoInput, ...] = field(default_factory=tuple)
    """Decoded clips; each goes through its family's native video path, or as frames."""
    constraint: Constraint | None = None
    """What the answer must look like (JSON Schema, choices, regex, JSON object), enforced by a
    token mask in the decode loop (`vlmcli.structured`); None: free text. The prompt is sent as
    given: stating the constraint in it is the caller's choice (`structured.with_instruction`)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "images", tuple(self.images))
        object.__setattr__(self, "videos", tuple(self.videos))
        if not self.prompt.strip() and not self.images and not self.videos:
            raise ConfigError("A request needs a question or at least one image or video.")
