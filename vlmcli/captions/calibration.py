"""The dry run's measured time: one warm-up call, then one real batch of each kind timed.

    estimate = calibrated_estimate(engine, job, batches, Shapes(tokens, checker, videos=job.videos), setup_s=...)

A planned batch from the middle of the plan (typical sizes) is decoded and captioned; its
stage timings become per-token rates (`captions.estimate.Rates`) applied to every planned
batch of its kind. Images and videos are measured apart (`--videos`): a clip costs its
decoding (seeking and decoding frames, per decoded pixel) and its frames' tokens, rates an
image batch cannot tell, so a run of videos alone is estimated too, and a mixed run adds
the two kinds' predicted times.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from vlmcli.captions.config import CaptionJob, VideoCaptioning
from vlmcli.captions.context import ContextChecker
from vlmcli.captions.continuous import batching_for
from vlmcli.captions.estimate import BatchShape, Rates, StageTimes, captioning_seconds
from vlmcli.captions.continuous import device_type
from vlmcli.captions.pipeline import Tokens
from vlmcli.captions.plan import Task
from vlmcli.captions.stages import task_decoder
from vlmcli.errors import VlmError

WARM_UP_SIZE = (224, 224)
WARM_UP_TOKENS = 2
CALIBRATION_TRIES = 3
"""Batches tried for calibration when a batch's inputs all fail to decode."""

Reader = Callable[[str], bytes]
ReaderFor = Callable[[list[list[Task]]], Reader]
"""The candidate calibration batches -> a reader of their bytes (dataset items)."""


@dataclass
class Estimate:
    seconds: float
    """The whole run: setup + first-call extra + captioning."""
    source: str
    """How it was obtained, in words."""
    setup_s: float = 0.0
    """Measured: finding, reading and hashing the files and loading the model."""
    first_call_s: float = 0.0
    """Measured: the extra cost of a process's first engine call."""
    captioning_s: float = 0.0
    """Predicted from the measured rates for every planned batch."""
    calibration: dict[str, Any] = field(default_factory=dict)
    """The measured batch (the image batch when the run has images)."""
    rates: dict[str, float] = field(default_factory=dict)
    video_calibration: dict[str, Any] | None = None
    """The measured video batch (`--videos` runs with videos to caption), else None."""
    video_rates: dict[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in vars(self).items()}


class Shapes:
    """`BatchShape`s of planned batches; an image's vision cost counts once per run (cache)."""

    def __init__(self, tokens: Tokens, checker: ContextChecker | None, *, videos: VideoCaptioning | None = None) -> None:
        self.tokens = tokens
        self.checker = checker
        self.videos = videos
        self.seen: set[str] = set()

    def of(self, batch: Sequence[Task], *, remember: bool = True) -> BatchShape:
        new = [t for t in dict((t.key, t) for t in batch if t.key not in self.seen).values()]
        if remember:
            self.seen.update(t.key for t in batch)
        prompts = [self.checker.estimate(t) if self.checker is not None else self.tokens(t) for t in batch]
        return BatchShape(
            requests=len(batch),
            visual_tokens=sum(self.tokens(t) for t in new),
            longest_prompt=max(prompts, default=0),
            pixels=sum(self.pixels(t) for t in batch),
        )

    def pixels(self, task: Task) -> int:
        """Pixels decoding `task` produces: an image's, or a clip's sampled frames at decode size."""
        if task.video is None:
            return task.size[0] * task.size[1] if task.size else 0
        from vlmcli.video.metadata import fit_within

        clip = self.videos or VideoCaptioning()
        width, height = fit_within(width=task.video.width, height=task.video.height, max_side=clip.max_side)
        return clip.sampling().budget(task.video) * width * height


def _results_times(results: Sequence[Any], wall_s: float) -> StageTimes:
    """The call's stage times: its answers' timings added up (each is its share of the batch,
    `engine.events.Timings`; answers sharing one `Timings` object count it once)."""
    distinct = list({id(t): t for r in results if (t := getattr(r, "timings", None)) is not None}.values())

    def total(stage: str) -> float:
        return sum(float(getattr(t, stage, 0.0) or 0.0) for t in distinct)

    return StageTimes(
        wall_s=wall_s,
        vision_s=total("vision_s"),
        prefill_s=total("prefill_s"),
        decode_s=total("decode_s"),
        steps=max((int(r.completion_tokens) for r in results), default=0),
        tokens=sum(int(r.completion_tokens) for r in results),
    )


def calibration_order(batches: Sequence[Sequence[Task]], *, videos: bool) -> list[list[Task]]:
    """The image (or video) batches from the middle of the plan outwards (typical sizes first)."""
    if videos:
        kind = [list(b) for b in batches if all(t.video is not None for t in b)]
    else:
        kind = [list(b) for b in batches if all(t.video is None for t in b) and any(t.size is not None for t in b)]
    middle = len(kind) // 2
    return [kind[i] for i in sorted(range(len(kind)), key=lambda i: (abs(i - middle), i))]


class Calibrator:
    """Times one warm-up call and real batches with a loaded engine (module docstring)."""

    def __init__(self, engine: Any, job: CaptionJob, shapes: Shapes, *, read: Reader | None = None) -> None:
        self.engine = engine
        self.job = job
        self.shapes = shapes
        self.read = read  # the bytes of a task's path (dataset items); None: read the file

    def _request(self, task: Task, media: Any) -> Any:
        from vlmcli.engine.request import Request
        from vlmcli.engine.video_input import VideoInput

        inputs = {"videos": (media,)} if isinstance(media, VideoInput) else {"images": (media,)}
        return Request(prompt=task.prompt.text, system=self.job.system, constraint=task.prompt.constraint, **inputs)

    def _call(self, requests: list[Any], gen: Any) -> tuple[list[Any], float]:
        start = time.perf_counter()
        results = self.engine.generate(requests, gen)
        return results, time.perf_counter() - start

    def warm_up(self, task: Task) -> tuple[float, BatchShape, StageTimes] | None:
        """The first call's wall time on a small stand-in of `task`'s kind: a grey image, or a
        two-frame grey clip (the rates that price it must be of its kind: a model may tile a
        picture into far more tokens than a frame). None if the engine refuses it."""
        import numpy as np
        from PIL import Image

        from vlmcli.engine.video_input import VideoInput
        from vlmcli.media.image_input import ImageInput
        from vlmcli.video.metadata import VideoInfo

        width, height = WARM_UP_SIZE
        probe = dataclasses.replace(task, size=WARM_UP_SIZE, key="<warm-up>", video=None)
        media: Any = ImageInput(Image.new("RGB", WARM_UP_SIZE, (96, 96, 96)), source="<warm-up>")
        if task.video is not None:
            frames = np.full((2, height, width, 3), 96, dtype=np.uint8)  # (T, H, W, 3)
            media = VideoInput(frames=frames, timestamps=(0.0, 0.5), fps=2.0, source="<warm-up>")
            info = VideoInfo(path="<warm-up>", fps=2.0, frame_count=2, duration_s=1.0, width=width, height=height)
            probe = dataclasses.replace(probe, video=info)
        gen = dataclasses.replace(self.job.generation, max_tokens=min(WARM_UP_TOKENS, self.job.generation.max_tokens))
        try:
            results, wall = self._call([self._request(task, media)], gen)
        except VlmError:  # e.g. a prompt over the context on its own: no warm-up figure
            return None
        return wall, self.shapes.of([probe], remember=False), _results_times(results, wall)

    def batch(self, batch: list[Task]) -> tuple[list[Task], BatchShape, StageTimes, float] | None:
        """The tasks measured (those whose input decoded), their shape, stage times and read time."""
        start = time.perf_counter()
        decode_one = task_decoder(
            [batch], max_image_pixels=self.job.max_image_pixels, videos=self.job.videos, read=self.read
        )
        decoded = {t.path: decode_one(t.path) for t in batch}
        read_s = time.perf_counter() - start
        ready = [t for t in batch if decoded[t.path].image is not None]
        if not ready:
            return None
        requests = [self._request(t, decoded[t.path].image) for t in ready]
        try:
            results, wall = self._call(requests, self.job.generation)
        except VlmError:  # e.g. a prompt over the context: the context check reports it; try another batch
            return None
        shape = self.shapes.of(ready, remember=False)
        read_share = read_s * shape.pixels / max(1, sum(map(self.shapes.pixels, batch)))
        return ready, shape, _results_times(results, wall), read_share


@dataclass(frozen=True)
class _Measured:
    shape: BatchShape
    times: StageTimes
    read_s: float
    rates: Rates
    inputs: int = 0
    """Distinct images (or videos) among the measured requests: with N prompts each is N requests."""
    prompts: int = 1
    """Distinct prompts among them."""

    def what(self, word: str) -> str:
        """The measured batch in words: "3 images", or "2 images x 2 prompts (4 requests)"."""
        n, inputs = self.shape.requests, self.inputs or self.shape.requests
        counted = f"{inputs} {word}{'s' if inputs != 1 else ''}"
        if inputs == n:
            return counted
        if inputs * self.prompts == n:
            return f"{counted} x {self.prompts} prompts ({n} requests)"
        return f"{n} requests on {counted}"

    def calibration(self) -> dict[str, Any]:
        times = self.times
        return {
            "requests": self.shape.requests, "inputs": self.inputs or self.shape.requests,
            "prompts": self.prompts, "visual_tokens": self.shape.visual_tokens,
            "longest_prompt": self.shape.longest_prompt, "wall_s": round(times.wall_s, 3),
            "vision_s": round(times.vision_s, 3), "prefill_s": round(times.prefill_s, 3),
            "decode_s": round(times.decode_s, 3), "steps": times.steps, "tokens": times.tokens,
            "read_s": round(self.read_s, 3),
        }  # fmt: skip

    def rate_figures(self) -> dict[str, float]:
        return {k: v if isinstance(v, int) else float(f"{v:.4g}") for k, v in dataclasses.asdict(self.rates).items()}


def _measure(calibrator: Calibrator, candidates: list[list[Task]], *, slots: int) -> _Measured | None:
    for batch in candidates:
        measured = calibrator.batch(batch)
        if measured is not None:
            ready, shape, times, read_s = measured
            rates = Rates.measured(batch=shape, times=times, read_s=read_s, slots=slots)
            inputs, prompts = len({t.path for t in ready}), len({t.prompt.index for t in ready})
            return _Measured(shape, times, read_s, rates, inputs=inputs, prompts=prompts)
    return None


def calibrated_estimate(
    engine: Any,
    job: CaptionJob,
    batches: Sequence[Sequence[Task]],
    shapes: Shapes,
    *,
    setup_s: float,
    reader_for: ReaderFor | None = None,
) -> Estimate | None:
    """The run's time from one measured batch of each kind (None when a kind the plan has
    could not be measured: every tried batch failed to decode or to run).
    reader_for: candidate batches -> a reader of their bytes (dataset items); None: files."""
    kinds = {videos: calibration_order(batches, videos=videos)[:CALIBRATION_TRIES] for videos in (False, True)}
    kinds = {videos: candidates for videos, candidates in kinds.items() if candidates}
    if not kinds:
        return None
    mode = batching_for(engine, job, device=device_type(engine))
    slots = mode.slots if mode.continuous else 0
    everything = [b for candidates in kinds.values() for b in candidates]
    calibrator = Calibrator(engine, job, shapes, read=reader_for(everything) if reader_for is not None else None)
    warm = calibrator.warm_up(everything[0][0])
    measured: dict[bool, _Measured] = {}
    for videos, candidates in kinds.items():
        found = _measure(calibrator, candidates, slots=slots)
        if found is None:
            return None
        measured[videos] = found
    first = measured[min(measured)]  # images' when the run has images: the kind the warm-up was
    first_call = 0.0
    if warm is not None:
        warm_wall, warm_shape, warm_times = warm
        warm_rates = dataclasses.replace(first.rates, steps=warm_times.steps, read_s_per_pixel=0.0, slots=0)
        first_call = max(0.0, warm_wall - warm_rates.engine_s(warm_shape))
    captioning = sum(
        captioning_seconds(
            [shapes.of(b) for b in batches if all((t.video is not None) == videos for t in b)],
            found.rates, read_threads=job.decode_threads,
        )
        for videos, found in measured.items()
    )  # fmt: skip
    clips = measured.get(True)
    return Estimate(
        seconds=setup_s + first_call + captioning,
        source=_source(measured, slots),
        setup_s=setup_s,
        first_call_s=first_call,
        captioning_s=captioning,
        calibration=first.calibration(),
        rates=first.rate_figures(),
        video_calibration=clips.calibration() if clips is not None and False in measured else None,
        video_rates=clips.rate_figures() if clips is not None and False in measured else None,
    )


def _source(measured: dict[bool, _Measured], slots: int) -> str:
    parts = []
    for videos, found in sorted(measured.items()):
        parts.append(f"1 batch of {found.what('video' if videos else 'image')}")
    text = f"measured on {' and '.join(parts)} on this machine"
    return text + (f", decoded as continuous batching in {slots} slots" if slots else "")
