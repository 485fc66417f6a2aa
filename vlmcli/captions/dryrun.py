"""`--dry-run`: what a run would do, and about how long it would take; writes nothing.

Counts come from the same plan a real run makes (so resume and `--shard` are taken into
account). Visual tokens are estimated from each image's header size by the model's own
resolution planner when the engine exposes one (`adapter.plan_images`). The time estimate
comes from captioning up to two images: the first call (warm-up: allocations, kernel
choice) is reported but not used; the per-request time of the second is multiplied by
the number of requests. Batching usually makes the real run faster than that estimate.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from vlmcli.captions.batching import auto_batch_size, auto_max_batch_tokens
from vlmcli.captions.config import CaptionJob
from vlmcli.captions.decode import Decoded, decode
from vlmcli.captions.pipeline import LoadEngine, device_type, plan_batches, prepare, token_estimator
from vlmcli.captions.plan import Task
from vlmcli.captions.progress import Progress
from vlmcli.captions.rows import RowContext
from vlmcli.captions.runner import BatchRunner
from vlmcli.captions.summary import Summary
from vlmcli.sinks.base import Sink


@dataclass
class DryRunReport:
    files: int
    ignored: int
    prompts: int
    skipped: int
    rows: int
    """Rows a real run would write now."""
    requests: int
    """Engine requests (duplicates and copies excluded)."""
    known_errors: int
    batch_size: int
    batches: int
    visual_tokens: int | None = None
    load_s: float | None = None
    first_call_s: float | None = None
    per_request_s: float | None = None
    calibration_images: int = 0
    estimated_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in vars(self).items()}

    def text(self) -> str:
        lines = [
            f"Files: {self.files} images ({self.ignored} other files ignored); prompts: {self.prompts}",
            f"Already done: {self.skipped}; to write: {self.rows} rows "
            f"({self.requests} engine requests in {self.batches} batches of {self.batch_size}, "
            f"{self.known_errors} known errors)",
        ]
        if self.visual_tokens is not None:
            mean = self.visual_tokens / self.requests if self.requests else 0
            lines.append(f"Visual tokens: {self.visual_tokens} in all, {mean:.0f} per image on average")
        if self.per_request_s is not None:
            lines.append(
                f"Calibration on {self.calibration_images} image(s): load {self.load_s or 0:.1f} s, "
                f"first call {self.first_call_s or 0:.2f} s, then {self.per_request_s:.2f} s per request"
            )
            lines.append(f"Estimated time: {_duration(self.estimated_s or 0)} (plus model load; batching is usually faster)")
        return "\n".join(lines)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def estimate_visual_tokens(engine: Any, tasks: list[Task], job: CaptionJob | None = None) -> int | None:
    """Sum of the tasks' visual tokens by the model's planner (videos: frames x one frame)."""
    planner = getattr(getattr(engine, "adapter", None), "plan_images", None)
    if planner is None or any(t.size is None for t in tasks):
        return None
    try:
        tokens = token_estimator(engine, job.videos if job is not None else None)
        return sum(tokens(t) for t in tasks)
    except Exception:  # noqa: BLE001 - an estimate only
        return None


def calibration_tasks(tasks: list[Task], job: CaptionJob, *, want: int = 2, tries: int = 10) -> list[tuple[Task, Decoded]]:
    """Up to `want` tasks of typical size (from the middle of the cost order) whose images decode."""
    ordered = sorted([t for t in tasks if t.video is None], key=Task.cost)  # images time the model
    middle = len(ordered) // 2
    around = sorted(range(len(ordered)), key=lambda i: (abs(i - middle), i))[:tries]
    chosen: list[tuple[Task, Decoded]] = []
    for index in around:
        decoded = decode(ordered[index].path, max_pixels=job.max_image_pixels)
        if decoded.image is not None:
            chosen.append((ordered[index], decoded))
            if len(chosen) == want:
                break
    return chosen


def _timed(runner: BatchRunner, task: Task, decoded: Decoded) -> float:
    start = time.perf_counter()
    runner.run([task], {task.path: decoded})
    return time.perf_counter() - start


def dry_run(
    job: CaptionJob, sink: Sink, *, load_engine: LoadEngine, progress: Progress, calibrate: bool = True
) -> DryRunReport:
    summary = Summary()
    plan = prepare(job, sink, progress=progress, summary=summary).plan
    report = DryRunReport(
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
        cap = job.max_batch_tokens or auto_max_batch_tokens("cpu")
        report.batches = len(plan_batches(plan.tasks, batch_size=report.batch_size, max_tokens=cap))
        return report
    engine = load_engine(job.engine)
    report.load_s = float(getattr(engine, "load_s", 0.0) or 0.0)
    report.batch_size = job.batch_size or auto_batch_size(device_type(engine))
    cap = job.max_batch_tokens or auto_max_batch_tokens(device_type(engine))
    report.batches = len(
        plan_batches(plan.tasks, batch_size=report.batch_size, max_tokens=cap, tokens=token_estimator(engine, job.videos))
    )
    report.visual_tokens = estimate_visual_tokens(engine, plan.tasks, job)
    runner = BatchRunner(engine, job.generation, RowContext(job.engine.model, job.engine.revision), system=job.system)
    chosen = calibration_tasks(plan.tasks, job)
    if not chosen:
        return report
    report.first_call_s = _timed(runner, *chosen[0])
    report.per_request_s = _timed(runner, *chosen[-1]) if len(chosen) > 1 else report.first_call_s
    report.calibration_images = len(chosen)
    report.estimated_s = report.per_request_s * len(plan.tasks)
    return report
