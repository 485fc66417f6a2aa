"""`--dry-run`: what a run would do, and how long it would take; writes nothing.

Counts come from the same plan a real run makes (so resume and `--shard` are taken into
account), and every input is counted as what it is: images, unreadable files (a header
Pillow cannot read, a file that cannot be opened), videos to caption (`--videos`), videos
skipped without it, other files ignored. Visual tokens are the model's resolution planner's
count from each header size (`adapter.plan_images`; unreadable files add none, they never
make the total unknown), and a clip's what the model's processor makes of its sampled
frames at their decoded size, as `vlm ask --dry-run` counts it (`clip_tokens`). Requests
that do not fit the context are found as a real run would find them (`captions.context`):
a warning says how many and names `--truncate`.

The time estimate is measured, not guessed (`captions.estimate` says why a per-image time
is several times off): the model is loaded (that time, with reading and hashing the
files, is measured as "setup"), one warm-up call on a small synthetic image measures the
first call's extra cost, then one planned batch of real images (from the middle of the
plan: typical sizes), and with `--videos` one of real clips, is decoded and captioned, and
its stage timings become per-token rates applied to every planned batch of its kind
(`captions/calibration.py`). The report says so ("measured on 1 batch of 8 images on this
machine"). Python's own start-up (well under a second) is not included.

With `--engine ray` the report says what Ray would do, without starting it (`ray`,
`ray_pool.pool_plan`): the cluster it would join (RAY_ADDRESS, checked by the command
beforehand) or the local Ray it would start, the actors and their calls, the GPUs each
would ask for; the measured time is still one engine's on this machine, and says so.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vlmcli.captions.batching import auto_batch_size, auto_max_batch_tokens
from vlmcli.captions.config import Backend, CaptionJob
from vlmcli.captions.context import ContextCheck, ContextChecker, check_tasks
from vlmcli.captions.calibration import Estimate, ReaderFor, Shapes, calibrated_estimate
from vlmcli.captions.clip_tokens import clip_counter
from vlmcli.captions.input_counts import InputCounts, unreadable_examples, unreadable_lines
from vlmcli.captions.continuous import device_type
from vlmcli.captions.pipeline import LoadEngine, Tokens, plan_batches, prepare, token_estimator
from vlmcli.captions.plan import Plan, Task
from vlmcli.captions.progress import Progress
from vlmcli.captions.refusals import refused_examples, split_refused
from vlmcli.captions.summary import Summary, undownloaded_note
from vlmcli.sinks.base import Sink

if TYPE_CHECKING:
    from vlmcli.inputs.counts import DatasetCounts

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
    undownloaded: int = 0
    """Dataset items img2dataset could not download: a run writes no row for them (`plan`)."""
    gone_errors: int = 0
    """Error rows of inputs no longer there that a run would drop (`Summary.gone_errors`; said
    on stderr as a `note:` line); a dry run drops none."""
    readable_folder_errors: int = 0
    """Error rows of folders that could not be read before and are read now, that a run would
    drop (`Summary.readable_folder_errors`; a `note:` line); a dry run drops none."""
    superseded_rows: int = 0
    """Ok rows of keys a dataset shard no longer yields that a run would drop once their picture's
    row under the key it yields now is written (`Summary.superseded_rows`; a `note:` line); a
    dry run drops none."""
    symlinked_folders: list[str] = field(default_factory=list)
    """Symlinked subfolders met while walking the input folders (as spelled), not followed."""
    unreadable_folders: list[str] = field(default_factory=list)
    """Dataset runs: subfolders of shard folders that could not be listed, the error of each
    (a run reports them as shards not read, exit 9); plain folders' are `unreadable_files`."""
    ray: dict[str, Any] | None = None
    """`--engine ray`: what Ray would start (`ray_pool.pool_plan`); None for the local engine."""

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
            f"Inputs: {self.counts.text()}; prompts: {self.prompts}"
            + (f"; {undownloaded_note(self.undownloaded)}" if self.undownloaded else ""),
            *unreadable_lines(self.unreadable_files, total=self.counts.unreadable),
            *unreadable_lines(self.refused_files, total=self.refused, label="refused by the model"),
            *(f"Not read: {message}" for message in self.unreadable_folders),
            f"Already done: {self.skipped}; to write: {self.rows} row{'s' if self.rows != 1 else ''} "
            f"({self.requests} engine request{'s' if self.requests != 1 else ''} in {batches}; "
            f"{self.known_errors} known error{'s' if self.known_errors != 1 else ''})",
        ]
        if self.requests:
            lines.append(
                f"Visual tokens: {self.visual_tokens} in all, {self.visual_tokens / self.requests:.0f} per request on average"
            )
        warning = self.context.warning()
        if warning is not None:
            lines.append(warning)
        if self.estimate is None and self.requests:
            lines.append(
                "Estimated time: unknown (no planned batch of its images or videos could be captioned to measure it)"
            )
        if self.ray is not None:
            from vlmcli.captions.ray_pool import pool_text

            lines.append(pool_text(self.ray, estimated=self.estimate is not None))
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
        documents_skipped=summary.documents_skipped,
    )
    report = plan_report(
        job, prepared.plan, counts=counts, summary=summary, load_engine=load_engine, calibrate=calibrate, started=started
    )
    examples = unreadable_examples(prepared.probes, videos_on=job.videos is not None)
    report.unreadable_files = [{"path": path, "error": error} for path, error in examples]
    report.readable_folder_errors = summary.readable_folder_errors  # set by `prepare`
    return report


def _without_undecodable(plan: Plan) -> tuple[Plan, int]:
    """`plan` without the picture tasks whose header no decoder read (the input counts call
    them unreadable): the run will give them error rows, without a model call. Returns the
    rows they make, counted as known errors (as a video that cannot be opened is)."""
    undecodable = [t for t in plan.tasks if t.size is None and t.video is None]
    if not undecodable:
        return plan, 0
    kept = [t for t in plan.tasks if t.size is not None or t.video is not None]
    return dataclasses.replace(plan, tasks=kept), sum(len(t.paths) for t in undecodable)


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
    rows = plan.rows_to_write
    plan, undecodable = _without_undecodable(plan)

    def batches_of(batch_size: int, cap: int | None, tokens: Tokens) -> list[list[Task]]:
        parts = split(plan.tasks)
        return [b for group in parts for b in plan_batches(group, batch_size=batch_size, max_tokens=cap, tokens=tokens)]

    report = DryRunReport(
        counts=counts,
        files=summary.files,
        ignored=summary.ignored,
        prompts=summary.prompts,
        skipped=plan.skipped,
        rows=rows,
        requests=len(plan.tasks),
        known_errors=len(plan.failures) + undecodable,
        batch_size=job.batch_size or auto_batch_size("cpu"),
        batches=0,
        symlinked_folders=list(summary.symlinked_folders),
        gone_errors=summary.gone_errors,
        superseded_rows=summary.superseded_rows,
    )
    if not plan.tasks or not calibrate:
        tokens = token_estimator(None, job.videos)
        report.batches = len(batches_of(report.batch_size, job.max_batch_tokens or auto_max_batch_tokens("cpu"), tokens))
        report.visual_tokens = estimate_visual_tokens(plan.tasks, tokens)
        report.ray = _ray_plan(job, batches=report.batches)
        return report
    engine = load_engine(job.engine)
    setup_s = time.perf_counter() - started
    plan, refused = split_refused(engine, plan)
    report.refused, report.refused_files = len(refused), refused_examples(refused)
    report.known_errors += sum(len(task.paths) for task, _ in refused)
    report.requests = len(plan.tasks)
    device = device_type(engine)
    report.batch_size = job.batch_size or auto_batch_size(device)
    tokens = token_estimator(engine, job.videos)  # batching: the bound the run plans its batches by
    batches = batches_of(report.batch_size, job.max_batch_tokens or auto_max_batch_tokens(device), tokens)
    report.batches = len(batches)
    counted = clip_counter(engine, job.videos, images=tokens)  # a clip as `ask --dry-run` counts it
    report.visual_tokens = estimate_visual_tokens(plan.tasks, counted)
    adapter = getattr(engine, "adapter", None)
    checker = None
    if adapter is not None and hasattr(adapter, "prepare") and hasattr(adapter, "config"):
        checker = ContextChecker(adapter, tokens=counted, system=job.system, answer_tokens=job.generation.max_tokens)
    report.context = check_tasks(checker, plan.tasks, truncate=bool(getattr(job.engine, "truncate", False)))
    shapes = Shapes(counted, checker, videos=job.videos)
    report.estimate = calibrated_estimate(engine, job, batches, shapes, setup_s=setup_s, reader_for=reader_for)
    if job.backend is Backend.RAY:  # a Ray run plans its batches as on a CPU (`pipeline.run`), not as this machine
        cpu = token_estimator(None, job.videos)
        planned = batches_of(job.batch_size or auto_batch_size("cpu"), job.max_batch_tokens or auto_max_batch_tokens("cpu"), cpu)
        report.ray = _ray_plan(job, batches=len(planned))
    return report


def _ray_plan(job: CaptionJob, *, batches: int) -> dict[str, Any] | None:
    if job.backend is not Backend.RAY:
        return None
    from vlmcli.captions.ray_pool import pool_plan

    return pool_plan(job, batches=batches)
