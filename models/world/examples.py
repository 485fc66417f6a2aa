"""What every generator returns: an image or a clip, one question, its exact answer, a caption."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from models.world.vocab import answer_space


@dataclass(frozen=True, kw_only=True)
class Event:
    """A span of frames [start, stop) in which something happens (for checking samplers)."""

    name: str
    start: int
    stop: int

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.stop:
            raise ValueError(f"bad event span [{self.start}, {self.stop})")

    def seen_by(self, indices: tuple[int, ...]) -> bool:
        return any(self.start <= i < self.stop for i in indices)


@dataclass(frozen=True, kw_only=True, eq=False)
class Example:
    """One question about one image or one clip.

    task: the task name (a key of `vocab.QUESTIONS`).
    question / answer: the exact short answer is one of `vocab.answer_space(task)`.
    caption: a reference description of the whole picture or clip.
    image: the picture (image tasks), else None.
    frames: uint8 (T, H, W, 3) RGB (video tasks), else None.
    fps: frame rate of `frames` (0 for images).
    events: the frame spans the answer depends on (video tasks).
    """

    task: str
    question: str
    answer: str
    caption: str
    image: Image.Image | None = None
    frames: np.ndarray | None = None
    fps: float = 0.0
    events: tuple[Event, ...] = ()

    def __post_init__(self) -> None:
        if self.answer not in answer_space(self.task):
            raise ValueError(f"{self.task}: answer {self.answer!r} is not in its answer space")
        if (self.image is None) == (self.frames is None):
            raise ValueError("an example has exactly one of image and frames")
        if self.frames is not None:
            f = self.frames
            if f.dtype != np.uint8 or f.ndim != 4 or f.shape[-1] != 3:
                raise ValueError(f"frames must be uint8 (T, H, W, 3), got {f.dtype} {f.shape}")
            if self.fps <= 0:
                raise ValueError("a clip needs fps > 0")
            if any(e.stop > f.shape[0] for e in self.events):
                raise ValueError("an event runs past the end of the clip")

    @property
    def is_video(self) -> bool:
        return self.frames is not None
