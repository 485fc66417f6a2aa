"""`--dry-run`: what a run would do, and how long it would take; writes nothing.

Counts come from the same plan a real run makes (so resume and `--shard` are taken into
account), and every input is counted as what it is: images, unreadable files (a header
Pillow cannot read, a file that cannot be opened), videos to caption (`--videos`), videos
skipped without it, other files ignored. Visual tokens are the model's resolution planner's
count from each header size (`adapter.plan_images`; unreadable files add none, they never
make the total unknown). Requests that do not fit the context are found as a real run
would find them (`captions.context`): a warning says how many and names `--truncate`.

The time estimate is measured, not guessed (`captions.estimate` says why a per-image time
is several times off): the model is loaded (that time, with reading and hashing the
files, is measured as "setup"), one warm-up call on a small synthetic image measures the
first call's extra cost, then one planned batch of real images (from the middle of the
plan: typical sizes) is decoded and captioned, and its stage timings become per-token
rates applied to every planned batch. The report says so ("measured on 1 batch of 8
images on this machine"). Python's own start-up (well under a second) is not included.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vlmcli.captions.batching import auto_batch_size, auto_max_batch_tokens
from vlmcli.captions.config import CaptionJob
from vlmcli.captions.context import ContextCheck, ContextChecker, check_tasks
from vlmcli.captions.continuous import batching_for
from vlmcli.captions.decode import decode
from vlmcli.captions.estimate import BatchShape, Rates, StageTimes, captioning_seconds
from vlmcli.captions.input_counts import InputCounts, unreadable_examples, unreadable_lines
from vlmcli.captions.pipeline import LoadEngine, Tokens, device_type, plan_batches, prepare, token_estimator
from vlmcli.captions.plan import Plan, Task
from vlmcli.captions.progress import Progress
from vlmcli.captions.refusals import refused_examples, split_refused
from vlmcli.captions.summary import Summary
from vlmcli.errors import VlmError
from vlmcli.sinks.base import Sink

if TYPE_CHECKING:
    from vlmcli.inputs.counts import DatasetCounts

WARM_UP_SIZE = (224, 224)
WARM_UP_TOKENS = 2
CALIBRATION_TRIES = 3
"""Batches tried for calibration when a batch's images all fail to decode."""

Reader = Callable[[str], bytes]
ReaderFor = Callable[[list[list[Task]]], Reader]
"""The candidate calibration batches -> a reader of their images (dataset items)."""


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
    rates: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in vars(self).items()}


@dataclass
class DryRunReport:
    counts: InputCounts
    files: int
    ignored: int
    prompts: int
    skipped: int
    rows: int
    """Rows a real run would write now."""
    requests: int
    """Engine requests (duplicates and copies excluded)."""
    known_errors: int
    """Rows already known to be errors (unreadable files, unwritable outputs)."""
    batch_size: int
    batches: int
    visual_tokens: int = 0
    context: ContextCheck = field(default_factory=lambda: ContextCheck(context_length=None))
    estimate: Estimate | None = None
    dataset: DatasetCounts | None = None
    """Dataset inputs: the shards and their sample counts by metadata; None for files."""
    unreadable_files: list[dict[str, str]] = field(default_factory=list)
    """The first few unreadable files, each {"path", "error"}: the error row a run would write."""
    refused: int = 0
    """Images the model's resolution planner refuses (`captions.refusals`): known errors too."""
    refused_files: list[dict[str, str]] = field(default_factory=list)
    """The first few of them, each {"path", "error"}."""

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in vars(self).items() if k not in ("counts", "context", "estimate", "dataset")}
        data["counts"] = dataclasses.asdict(self.counts)
        data["context"] = self.context.to_dict()
        data["estimate"] = self.estimate.to_dict() if self.estimate is not None else None
        data["dataset"] = self.dataset.to_dict() if self.dataset is not None else None
        return data

    def text(self) -> str:
        batches = f"{self.batches} batch{'es' if self.batches != 1 else ''} of up to {self.batch_size}"
        lines = [self.dataset.text()] if self.dataset is not None else []
        lines += [
            f"Inputs: {self.counts.text()}; prompts: {self.prompts}",
            *unreadable_lines(self.unreadable_files, total=self.counts.unreadable),
            *unreadable_lines(self.refused_files, total=self.refused, label="refused by the model"),
            f"Already done: {self.skipped}; to write: {self.rows} rows "
            f"({self.requests} engine requests in {batches}; {self.known_errors} known errors)",
        ]
        if self.requests:
            lines.append(
                f"Visual tokens: {self.visual_tokens} in all, {self.visual_tokens / self.requests:.0f} per request on average"
            )
        warning = self.context.warning()
        if warning is not None:
            lines.append(warning)
        if self.estimate is None and self.requests:
            lines.append("Estimated time: unknown (no planned image batch could be captioned to measure it)")
        if self.estimate is not None:
            e = self.estimate
            lines.append(
                f"Estimated time: {_duration(e.seconds)} ({e.source}; setup {_duration(e.setup_s)}, "
                f"captioning {_duration(e.captioning_s)})"
            )
        return "\n".join(lines)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def estimate_visual_tokens(tasks: Sequence[Task], tokens: Tokens) -> int:
    """Visual tokens of the tasks by the model's planner; tasks with no known size add none."""
    return sum(tokens(t) for t in tasks if t.size is not None or t.video is not None)


class Shapes:
    """`BatchShape`s of planned batches; an image's vision cost counts once per run (cache)."""

    def __init__(self, tokens: Tokens, checker: ContextChecker | None) -> None:
        self.tokens = tokens
        self.checker = checker
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
            pixels=sum(_pixels(t) for t in batch),
        )


def _pixels(task: Task) -> int:
    if task.video is not None:
        return 0
    return task.size[0] * task.size[1] if task.size else 0


def _results_times(results: Sequence[Any], wall_s: float) -> StageTimes:
    timings = getattr(results[0], "timings", None) if results else None
    return StageTimes(
        wall_s=wall_s,
        vision_s=float(getattr(timings, "vision_s", 0.0) or 0.0),
        prefill_s=float(getattr(timings, "prefill_s", 0.0) or 0.0),
        decode_s=float(getattr(timings, "decode_s", 0.0) or 0.0),
        steps=max((int(r.completion_tokens) for r in results), default=0),
        tokens=sum(int(r.completion_tokens) for r in results),
    )


def _calibration_order(batches: Sequence[Sequence[Task]]) -> list[list[Task]]:
    """Image batches from the middle of the plan outwards (typical sizes first)."""
    images = [list(b) for b in batches if all(t.video is None for t in b) and any(t.size is not None for t in b)]
    middle = len(images) // 2
    return [images[i] for i in sorted(range(len(images)), key=lambda i: (abs(i - middle), i))]


class Calibrator:
    """Times one warm-up call and one real batch with a loaded engine (module docstring)."""

    def __init__(self, engine: Any, job: CaptionJob, shapes: Shapes, *, read: Reader | None = None) -> None:
        self.engine = engine
        self.job = job
        self.shapes = shapes
        self.read = read  # the bytes of a task's path (dataset items); None: read the file

    def _request(self, task: Task, image: Any) -> Any:
        from vlmcli.engine.request import Request

        return Request(prompt=task.prompt.text, images=(image,), system=self.job.system, constraint=task.prompt.constraint)

    def _call(self, requests: list[Any], gen: Any) -> tuple[list[Any], float]:
        start = time.perf_counter()
        results = self.engine.generate(requests, gen)
        return results, time.perf_counter() - start

    def warm_up(self, task: Task) -> tuple[float, BatchShape, StageTimes] | None:
        """The first call's wall time on a small stand-in image (None if the engine refuses it)."""
        from PIL import Image

        from vlmcli.media.image_input import ImageInput

        image = ImageInput(Image.new("RGB", WARM_UP_SIZE, (96, 96, 96)), source="<warm-up>")
        gen = dataclasses.replace(self.job.generation, max_tokens=min(WARM_UP_TOKENS, self.job.generation.max_tokens))
        try:
            results, wall = self._call([self._request(task, image)], gen)
        except VlmError:  # e.g. a prompt over the context on its own: no warm-up figure
            return None
        probe = dataclasses.replace(task, size=WARM_UP_SIZE, key="<warm-up>")
        return wall, self.shapes.of([probe], remember=False), _results_times(results, wall)

    def batch(self, batch: list[Task]) -> tuple[BatchShape, StageTimes, float] | None:
        start = time.perf_counter()
        reading = {"read": self.read} if self.read is not None else {}
        decoded = {t.path: decode(t.path, max_pixels=self.job.max_image_pixels, **reading) for t in batch}
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
        return shape, _results_times(results, wall), read_s * shape.pixels / max(1, sum(map(_pixels, batch)))


def calibrated_estimate(
    engine: Any,
    job: CaptionJob,
    batches: Sequence[Sequence[Task]],
    shapes: Shapes,
    *,
    setup_s: float,
    reader_for: ReaderFor | None = None,
) -> Estimate | None:
    """The run's time from one measured batch (None when no image batch could be run).
    reader_for: candidate batches -> a reader of their images (dataset items); None: files."""
    candidates = _calibration_order(batches)[:CALIBRATION_TRIES]
    if not candidates:
        return None
    mode = batching_for(engine, job, device=device_type(engine))
    slots = mode.slots if mode.continuous else 0
    calibrator = Calibrator(engine, job, shapes, read=reader_for(candidates) if reader_for is not None else None)
    warm = calibrator.warm_up(candidates[0][0])
    for batch in candidates:
        measured = calibrator.batch(batch)
        if measured is None:
            continue
        shape, times, read_s = measured
        rates = Rates.measured(batch=shape, times=times, read_s=read_s, slots=slots)
        first_call = 0.0
        if warm is not None:
            warm_wall, warm_shape, warm_times = warm
            warm_rates = dataclasses.replace(rates, steps=warm_times.steps, read_s_per_pixel=0.0, slots=0)
            first_call = max(0.0, warm_wall - warm_rates.engine_s(warm_shape))
        captioning = captioning_seconds([shapes.of(b) for b in batches], rates, read_threads=job.decode_threads)
        images = shape.requests
        return Estimate(
            seconds=setup_s + first_call + captioning,
            source=f"measured on 1 batch of {images} image{'s' if images != 1 else ''} on this machine"
            + (f", decoded as continuous batching in {slots} slots" if slots else ""),
            setup_s=setup_s,
            first_call_s=first_call,
            captioning_s=captioning,
            calibration={
                "requests": shape.requests,
                "visual_tokens": shape.visual_tokens,
                "longest_prompt": shape.longest_prompt,
                "wall_s": round(times.wall_s, 3),
                "vision_s": round(times.vision_s, 3),
                "prefill_s": round(times.prefill_s, 3),
                "decode_s": round(times.decode_s, 3),
                "steps": times.steps,
                "tokens": times.tokens,
                "read_s": round(read_s, 3),
            },
            rates={k: v if isinstance(v, int) else float(f"{v:.4g}") for k, v in dataclasses.asdict(rates).items()},
        )
    return None


def dry_run(
    job: CaptionJob, sink: Sink, *, load_engine: LoadEngine, progress: Progress, calibrate: bool = True
) -> DryRunReport:
    """The report for files and folders (`datasets_dryrun.dataset_dry_run` for dataset shards)."""
    started = time.perf_counter()
    summary = Summary()
    prepared = prepare(job, sink, progress=progress, summary=summary)
    counts = InputCounts.of(
        prepared.probes,
        videos_on=job.videos is not None,
        walked_videos_skipped=summary.videos_skipped,
        ignored=summary.ignored,
    )
    report = plan_report(
        job, prepared.plan, counts=counts, summary=summary, load_engine=load_engine, calibrate=calibrate, started=started
    )
    examples = unreadable_examples(prepared.probes, videos_on=job.videos is not None)
    report.unreadable_files = [{"path": path, "error": error} for path, error in examples]
    return report


def plan_report(
    job: CaptionJob,
    plan: Plan,
    *,
    counts: InputCounts,
    summary: Summary,
    load_engine: LoadEngine,
    calibrate: bool,
    started: float,
    groups: Callable[[list[Task]], list[list[Task]]] | None = None,
    reader_for: ReaderFor | None = None,
) -> DryRunReport:
    """The report of a plan: batches, visual tokens, context check, measured time (`started`:
    when reading the inputs began). groups: the tasks batched apart (a dataset's shards);
    reader_for: the image reader of dataset items for calibration."""
    split = groups or (lambda tasks: [list(tasks)])

    def batches_of(batch_size: int, cap: int | None, tokens: Tokens) -> list[list[Task]]:
        parts = split(plan.tasks)
        return [b for group in parts for b in plan_batches(group, batch_size=batch_size, max_tokens=cap, tokens=tokens)]

    report = DryRunReport(
        counts=counts,
        files=summary.files,
        ignored=summary.ignored,
        prompts=summary.prompts,
        skipped=plan.skipped,
        rows=plan.rows_to_write,
        requests=len(plan.tasks),
        known_errors=len(plan.failures),
        batch_size=job.batch_size or auto_batch_size("cpu"),
        batches=0,
    )
    if not plan.tasks or not calibrate:
        tokens = token_estimator(None, job.videos)
        report.batches = len(batches_of(report.batch_size, job.max_batch_tokens or auto_max_batch_tokens("cpu"), tokens))
        report.visual_tokens = estimate_visual_tokens(plan.tasks, tokens)
        return report
    engine = load_engine(job.engine)
    setup_s = time.perf_counter() - started
    plan, refused = split_refused(engine, plan)
    report.refused, report.refused_files = len(refused), refused_examples(refused)
    report.known_errors += sum(len(task.paths) for task, _ in refused)
    report.requests = len(plan.tasks)
    device = device_type(engine)
    report.batch_size = job.batch_size or auto_batch_size(device)
    tokens = token_estimator(engine, job.videos)
    batches = batches_of(report.batch_size, job.max_batch_tokens or auto_max_batch_tokens(device), tokens)
    report.batches = len(batches)
    report.visual_tokens = estimate_visual_tokens(plan.tasks, tokens)
    adapter = getattr(engine, "adapter", None)
    checker = None
    if adapter is not None and hasattr(adapter, "prepare") and hasattr(adapter, "config"):
        checker = ContextChecker(adapter, tokens=tokens, system=job.system, answer_tokens=job.generation.max_tokens)
    report.context = check_tasks(checker, plan.tasks, truncate=bool(getattr(job.engine, "truncate", False)))
    shapes = Shapes(tokens, checker)
    report.estimate = calibrated_estimate(engine, job, batches, shapes, setup_s=setup_s, reader_for=reader_for)
    return report
