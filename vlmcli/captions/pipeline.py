"""The caption run, start to end: discover -> probe -> plan -> (load) -> batches -> rows -> sink.

    summary = run(job, sink, load_engine=_runtime.load_engine, progress=NullProgress(), summary=Summary())

Everything that can fail fast (bad inputs, existing txt captions, unreadable old shards)
fails before the model loads; a rerun with nothing left to do never loads it. Rows are
handed to the sink as each batch finishes; `with sink` makes sure that whatever happens
(Ctrl-C included) the finished rows are flushed as complete shards. Paths are resolved
by `discover` (absolute, folders resolved), so resume does not depend on how they were
spelled. Rows made without the model (copies of earlier results, known failures) are
emitted first and marked, so the rates count only what the model did.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vlmcli.captions.batching import auto_batch_size, auto_max_batch_tokens, group_batches, pixel_tokens
from vlmcli.captions.config import Backend, CaptionJob, VideoCaptioning
from vlmcli.captions.continuous import ContinuousRunner, batching_for, device_type
from vlmcli.captions.discover import Candidate, discover, readable_note
from vlmcli.captions.plan import Plan, Task, build_plan
from vlmcli.captions.probe import Probe, probe_all
from vlmcli.captions.progress import Progress, scanning_notice
from vlmcli.captions.prompts import Prompt, make_prompts, prompt_hashes
from vlmcli.captions.rows import RowContext, error_row
from vlmcli.captions.runner import BatchRunner
from vlmcli.captions.summary import Summary, gone_note, rate_unit
from vlmcli.captions.stages import runner_for, task_decoder
from vlmcli.captions.workers import Prefetcher
from vlmcli.errors import InputError
from vlmcli.sinks.base import Sink
from vlmcli.sinks.schema import Row

if TYPE_CHECKING:
    from vlmcli.engine.batching_mode import BatchingMode

LoadEngine = Callable[[Any], Any]
OnRows = Callable[[list[Row]], None]
"""Receives rows as they are written (the txt format reports its error rows through it)."""
Tokens = Callable[[Task], int]


@dataclass
class Prepared:
    probes: list[Probe]
    prompts: list[Prompt]
    plan: Plan


def job_prompts(job: CaptionJob) -> list[Prompt]:
    return make_prompts(
        list(job.prompts),
        model=job.engine.model,
        revision=job.engine.revision,
        system=job.system,
        generation=job.generation,
        resolution=getattr(job.engine, "resolution", None),
        constraint=job.constraint,
        state_constraint=job.schema_prompt,
    )


def clip_prompts_of(job: CaptionJob) -> list[Prompt] | None:
    """The prompts of video rows with --videos (`videos.video_prompts`); None without."""
    if job.videos is None:
        return None
    from vlmcli.captions.videos import video_prompts

    return video_prompts(job, job.videos)


def prepare(
    job: CaptionJob, sink: Sink, *, progress: Progress, summary: Summary, dry_run: bool = True
) -> Prepared:
    """Find, read and hash the inputs, and decide what this run must do (no model needed).
    Error rows of inputs no longer there are counted (`summary.gone_errors`), and so are those
    of folders that could not be read before and are read now (`summary.readable_folder_errors`),
    each said on stderr as what a run would drop; `run` (`dry_run` False) says it once it dropped them."""
    folders = input_folders(job)
    with scanning_notice(progress, folders):  # a huge tree: a line says the listing is under way
        candidates = discover(inputs=job.inputs, globs=job.globs, files_from=job.files_from, exclude=job.exclude)
    for note in candidates.notes():  # symlinked folders not followed
        progress.log(note)
    summary.symlinked_folders = list(candidates.linked)
    if not candidates:
        raise InputError("No files to caption (the folders are empty, or no file matches).")
    progress.scanning(len(candidates))
    probes, counts = probe_all(
        candidates, threads=job.decode_threads, on_each=progress.scanned, videos=job.videos is not None
    )
    summary.videos_skipped = counts.videos_skipped
    summary.documents_skipped = counts.documents_skipped
    summary.animations_as_pictures = sum(p.animated for p in probes)
    if not probes:
        hint = f" ({counts.videos_skipped} videos skipped: add --videos)" if counts.videos_skipped else ""
        if counts.documents_skipped:
            hint += f" ({counts.documents_skipped} PDFs skipped: --input-format pdf captions their pages)"
        raise InputError(f"No images among the {len(candidates)} file(s) found{hint}{_table_hint(candidates)}.")
    prompts = job_prompts(job)
    clip_prompts = clip_prompts_of(job)
    paths = [p.path for p in probes]
    blocked = sink.preflight(paths)
    hashes = prompt_hashes([*prompts, *(clip_prompts or [])])
    resume = sink.resume_state(paths=paths, config_hashes=hashes, folders=folders)
    summary.gone_errors = resume.gone
    summary.readable_folder_errors = resume.readable
    if resume.gone and dry_run:
        progress.log(gone_note(resume.gone, dry_run=True))
    if resume.readable and dry_run:
        progress.log(readable_note(resume.readable, dry_run=True))
    plan = build_plan(probes, prompts, shard=job.shard, resume=resume, blocked=blocked, video_prompts=clip_prompts)
    summary.files, summary.ignored, summary.prompts = len(probes), counts.ignored, len(prompts)
    summary.unit = rate_unit(p.kind for p in probes if p.error is None)
    summary.skipped, summary.kept_failed, summary.out_of_shard = plan.skipped, plan.kept_failed, plan.out_of_shard
    summary.copied = len(plan.copies)
    summary.todo, summary.output = plan.rows_to_write, sink.describe()
    return Prepared(probes=probes, prompts=prompts, plan=plan)


def input_folders(job: CaptionJob) -> list[str]:
    """The job's INPUT folders (of pictures, or of dataset shards), as spelled: what the listing
    notice names, and where the sink looks for error rows of inputs deleted since."""
    return [source for source in job.inputs if os.path.isdir(source)]


def _table_hint(candidates: list[Candidate]) -> str:
    """When a folder holds tables or archives but no pictures: pass them as INPUTs themselves."""
    from vlmcli.inputs.formats import InputFormat, detect_format

    for candidate in candidates:
        if detect_format(Path(candidate.path)) not in (InputFormat.FILES, InputFormat.AUTO):
            return f"; {candidate.path} is a dataset file: pass it as an INPUT itself"
    return ""


def token_estimator(engine: Any, videos: VideoCaptioning | None) -> Tokens:
    """Visual tokens of a task from its header size, by the model's own planner when the
    engine has one (`adapter.plan_images`), else one per 28x28 pixels; a video costs its
    planned frame count times one frame at decode size (an upper bound: Qwen merges pairs)."""
    planner = getattr(getattr(engine, "adapter", None), "plan_images", None)
    known: dict[tuple[int, int], int] = {}

    def image_tokens(size: tuple[int, int] | None) -> int:
        if size is None:
            return 0
        if size not in known:
            try:
                known[size] = int(planner([size])[0].visual_tokens) if planner else pixel_tokens(size)
            except Exception:  # noqa: BLE001 - an estimate for batching only
                known[size] = pixel_tokens(size)
        return known[size]

    def tokens(task: Task) -> int:
        if task.video is None:
            return image_tokens(task.size)
        from vlmcli.video.metadata import fit_within

        clip = videos or VideoCaptioning()
        frame = fit_within(width=task.video.width, height=task.video.height, max_side=clip.max_side)
        return clip.sampling().budget(task.video) * image_tokens(frame)

    return tokens


def plan_batches(
    tasks: Sequence[Task], *, batch_size: int, max_tokens: int | None = None, tokens: Tokens | None = None
) -> list[list[Task]]:
    """Batches of at most `batch_size` tasks and `max_tokens` visual tokens, grouped by
    visual tokens (least padding); videos and images never share a batch."""
    count = tokens or token_estimator(None, None)
    batches: list[list[Task]] = []
    for group in ([t for t in tasks if t.video is not None], [t for t in tasks if t.video is None]):
        batches += group_batches(
            group, batch_size=batch_size, cost=lambda t: (count(t), t.cost()), tokens=count, max_tokens=max_tokens
        )
    return batches


def run(
    job: CaptionJob,
    sink: Sink,
    *,
    load_engine: LoadEngine,
    progress: Progress,
    summary: Summary,
    on_rows: OnRows | None = None,
) -> Summary:
    if job.backend is Backend.RAY:  # missing Ray fails now, not after hashing every file
        from vlmcli.captions.ray_address import import_ray

        import_ray()
    prepared = prepare(job, sink, progress=progress, summary=summary, dry_run=False)
    plan = prepared.plan
    sink.retire(plan.retire)  # with the leftovers and the error rows of inputs no longer there
    if summary.gone_errors:
        progress.log(gone_note(summary.gone_errors))
    if summary.readable_folder_errors:
        progress.log(readable_note(summary.readable_folder_errors))

    def emit(rows: list[Row], *, captioned: bool = True) -> None:
        sink.write(rows)
        summary.add(rows, captioned=captioned)
        progress.advance(rows, captioned=captioned)
        if on_rows is not None:
            on_rows(rows)

    ctx = RowContext(model=job.engine.model, revision=job.engine.revision)
    note = f" ({plan.skipped} already done)" if plan.skipped else ""
    with sink:
        progress.start(plan.rows_to_write, note=note, skipped=plan.skipped, prompts=len(prepared.prompts), unit=summary.unit)
        summary.begin_captioning()
        emit(plan.copies + [failure_row(ctx, f) for f in plan.failures], captioned=False)
        if plan.tasks and job.backend is Backend.RAY:
            from vlmcli.captions.ray_backend import run_ray

            batches = plan_batches(
                plan.tasks,
                batch_size=job.batch_size or auto_batch_size("cpu"),
                max_tokens=job.max_batch_tokens or auto_max_batch_tokens("cpu"),
            )
            summary.planned(batches)
            run_ray(batches, job=job, load_engine=load_engine, emit=emit, summary=summary)
        elif plan.tasks:
            engine = load_engine(job.engine)
            summary.load_s = float(getattr(engine, "load_s", 0.0) or 0.0)
            summary.begin_captioning()
            ctx = RowContext(model=job.engine.model, revision=getattr(engine, "revision", None) or job.engine.revision)
            runner = runner_for(
                engine, ctx, generation=job.generation, system=job.system, debug=job.debug, videos=job.videos
            )
            device = device_type(engine)
            batches = plan_batches(
                plan.tasks,
                batch_size=job.batch_size or auto_batch_size(device),
                max_tokens=job.max_batch_tokens or auto_max_batch_tokens(device),
                tokens=token_estimator(engine, job.videos),
            )
            summary.planned(batches)
            mode = batching_for(engine, job, device=device)
            summary.batching = mode.describe()
            run_local(
                batches, runner=runner, job=job, emit=emit, mode=mode,
                prefill_tokens=job.max_batch_tokens or auto_max_batch_tokens(device),
            )
    summary.finish()
    return summary


def failure_row(ctx: RowContext, failure: Any) -> Row:
    return error_row(
        ctx, path=failure.path, key=failure.key, prompt=failure.prompt, message=failure.message, size=failure.size
    )


def run_local(
    batches: Sequence[Sequence[Task]],
    *,
    runner: BatchRunner,
    job: CaptionJob,
    emit: OnRows,
    read: Callable[[str], bytes] | None = None,
    mode: "BatchingMode | None" = None,
    prefill_tokens: int | None = None,
    locate: Callable[[str], str] | None = None,
) -> None:
    """Caption batches while the next ones decode in background threads (images read by
    `read` when given: a dataset shard's spool; its videos from the files `locate` names):
    under continuous batching (`mode`) as one stream through the decode slots, admitting at
    most `prefill_tokens` prompt tokens at a time (`continuous.ContinuousRunner`); else
    batch by batch, in order."""
    decode_one = task_decoder(
        batches, max_image_pixels=job.max_image_pixels, videos=job.videos, read=read, locate=locate
    )
    with Prefetcher(
        batches, decode_one, path_of=lambda t: t.path, threads=job.decode_threads, depth=job.prefetch_batches
    ) as ready:
        if mode is not None and mode.continuous:
            ContinuousRunner(runner, slots=mode.slots, prefill_tokens=prefill_tokens).run(ready, emit=emit)
            return
        for batch, decoded in ready:
            emit(runner.run(batch, decoded))
