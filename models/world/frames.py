"""Frames of a world clip: random training selections, and a reader that lets the real
`vlmcli.video.sample_video` (probe, scan, sampler, decode) run on a clip saved as .npy.

Why a reader and not a video file: the world's colours must reach the model exactly
(no codec), and `sample_video` takes an `opener=`, so the samplers under test run
exactly as they do for `vlm ask clip.mp4 --sampling ...`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from models.world.examples import Example


def training_indices(rng: np.random.Generator, *, frame_count: int, n: int, example: Example) -> tuple[int, ...]:
    """`n` sorted distinct frames: one random frame in each of n equal segments, then, for
    every event none of them shows, the nearest one moved into the event. The model thus
    always sees what the answer depends on, at varied spacings (like any sampler would)."""
    edges = np.linspace(0, frame_count, n + 1)  # (n+1,)
    picks = [int(rng.integers(int(edges[j]), max(int(edges[j]) + 1, int(edges[j + 1])))) for j in range(n)]
    for event in example.events:
        if event.seen_by(tuple(picks)):
            continue
        centre = (event.start + event.stop - 1) / 2
        nearest = min(range(n), key=lambda j: abs(picks[j] - centre))
        picks[nearest] = int(rng.integers(event.start, event.stop))
    unique = sorted(set(picks))
    while len(unique) < n:  # a moved frame collided: fill with unused frames far from nothing
        free = [i for i in range(frame_count) if i not in unique]
        unique = sorted({*unique, free[int(rng.integers(len(free)))]})
    return tuple(unique)


def save_clip(example: Example, path: Path) -> Path:
    """Write a clip's frames and fps as .npz (what `ArrayReader` opens)."""
    if example.frames is None:
        raise ValueError("only video examples have frames")
    path = Path(path)
    np.savez(path, frames=example.frames, fps=np.float64(example.fps))
    return path


class ArrayReader:
    """`vlmcli.video.decode.FrameReader` over a saved clip: frames resized on read when a
    `size` is asked for (bilinear, like decord's scaler), times = index / fps."""

    def __init__(self, path: str, size: tuple[int, int] | None = None) -> None:
        with np.load(path) as data:
            self._frames = data["frames"]  # (T, H, W, 3) uint8
            self.fps = float(data["fps"])
        self.frame_count = int(self._frames.shape[0])
        native = (int(self._frames.shape[2]), int(self._frames.shape[1]))
        self.output_size = size if size is not None else native
        self.frames_decoded = 0

    def read(self, indices: np.ndarray) -> np.ndarray:
        chosen = self._frames[indices]  # (N, H, W, 3)
        self.frames_decoded += int(chosen.shape[0])
        if self.output_size == (chosen.shape[2], chosen.shape[1]):
            return chosen
        return np.stack([np.asarray(Image.fromarray(f).resize(self.output_size, Image.BILINEAR)) for f in chosen])

    def start_times(self, indices: np.ndarray) -> np.ndarray:
        return np.asarray(indices, dtype=np.float64) / self.fps  # (N,)

    def end_time(self) -> float:
        return self.frame_count / self.fps


def open_array(path: str | os.PathLike[str], size: tuple[int, int] | None) -> ArrayReader:
    """An `Opener` for `vlmcli.video.sample_video(..., opener=open_array)`."""
    return ArrayReader(os.fspath(path), size)
