"""`--dry-run` on dataset shards: what a run would do and how long it would take; writes nothing.

    report = dataset_dry_run(job, sink, refs, load_engine=_runtime.load_engine, progress=progress)

1. Samples per shard from each shard's metadata (`vlmcli.inputs.counts`: Parquet footers,
   Arrow batch lengths, tar member names): no image is read for these.
2. The plan a real run would make: every item is probed as a run probes it (read, hashed,
   its size from the image header; no pixels decoded, nothing spooled), and one plan is
   made over all shards with the sink's resume state, so items already done, errors to
   retry and images repeated across shards (captioned once) count as the run does them.
   Tasks are batched shard by shard, as the local run batches them. Error rows a run would
   drop (of keys a shard read to its end no longer yields, of deleted shards), and ok rows of
   old keys it would replace by the plan's copies under the new keys (`superseded_rows`),
   are counted and said in `note:` lines on stderr, and left where they are.
3. Visual tokens, the context check and the measured time exactly as for files
   (`dryrun.plan_report`): the one batch measured has its images read again from their
   shard (`shard_reader`); they are the only images this holds in memory.

A shard that cannot be read to the end is named in the report ("Damaged shard: ..."), and so
is a subfolder of a shard folder that could not be listed ("Not read: Cannot read folder ...");
symlinked subfolders, not followed, get the note a run prints.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from vlmcli.captions.config import CaptionJob
from vlmcli.captions.dataset_items import Meta, shard_groups
from vlmcli.captions.datasets_run import clip_files_for, probe_shard
from vlmcli.captions.calibration import Reader
from vlmcli.captions.dryrun import DryRunReport, plan_report
from vlmcli.captions.input_counts import InputCounts, unreadable_examples, unreadable_probes
from vlmcli.captions.pipeline import LoadEngine, clip_prompts_of, input_folders, job_prompts
from vlmcli.captions.plan import Task, build_plan
from vlmcli.captions.probe import Probe
from vlmcli.captions.progress import Progress
from vlmcli.captions.summary import Summary, gone_note
from vlmcli.captions.prompts import prompt_hashes
from vlmcli.errors import InputError
from vlmcli.inputs.columns import ColumnChoice
from vlmcli.inputs.counts import DatasetCounts
from vlmcli.inputs.expand import ShardRef
from vlmcli.inputs.item import item_path
from vlmcli.inputs.walk import linked_notes
from vlmcli.sinks.base import Sink


def superseded_dry_note(count: int) -> str:
    """The dry run's line for `superseded_rows` (a run says `summary.superseded_note`)."""
    rows = f"{count} row{'s' if count != 1 else ''} of keys the shard no longer uses"
    return f"note: {rows} would be replaced by rows under its new keys by a run (a dry run changes nothing)"


def shard_reader(refs: Sequence[ShardRef], choice: ColumnChoice, meta: Meta) -> Callable[[list[list[Task]]], Reader]:
    """batches -> a reader of their images, read again from their shards (only those kept)."""

    def reader(batches: list[list[Task]]) -> Reader:
        return item_reader(refs, choice, meta, {t.path for batch in batches for t in batch})

    return reader


def item_reader(refs: Sequence[ShardRef], choice: ColumnChoice, meta: Meta, wanted: set[str]) -> Reader:
    """A reader of the `wanted` items' bytes, read again from their shards (only those kept)."""
    sources = {meta[path][0] for path in wanted}
    data: dict[str, bytes] = {}
    for ref in (r for r in refs if r.source in sources):
        try:
            for item in ref.items(choice):
                path = item_path(ref.source, item.key)
                if path in wanted and item.data is not None:
                    data[path] = item.data
        except InputError:
            continue  # damaged after the wanted items, or before: decoding says so
    return data.__getitem__


def dataset_dry_run(
    job: CaptionJob, sink: Sink, refs: list[ShardRef], *, load_engine: LoadEngine, progress: Progress, calibrate: bool = True
) -> DryRunReport:
    started = time.perf_counter()
    unreadable, linked = list(getattr(refs, "unreadable", ())), list(getattr(refs, "linked", ()))
    for note in linked_notes(linked):  # symlinked subfolders of shard folders, not followed
        progress.log(note)
    probes: list[Probe] = []
    meta: Meta = {}
    damaged: list[str] = []
    read_fully: list[str] = []
    for ref in refs:
        with clip_files_for(job) as clips:  # videos are probed from a file, then dropped (not measured)
            shard_probes, shard_meta, error = probe_shard(ref, job, None, clips=clips, on_each=progress.scanned)
        probes += shard_probes
        meta.update(shard_meta)
        if error is not None:
            damaged.append(error)
        else:
            read_fully.append(ref.source)
    prompts, clip_prompts = job_prompts(job), clip_prompts_of(job)
    hashes = prompt_hashes([*prompts, *(clip_prompts or [])])
    resume = sink.resume_state(
        paths=[p.path for p in probes], config_hashes=hashes, folders=input_folders(job), read_fully=read_fully
    )
    if resume.gone:  # counted, never dropped: only `retire` drops, and a dry run never calls it
        progress.log(gone_note(resume.gone, dry_run=True))
    plan = build_plan(probes, prompts, shard=job.shard, resume=resume, blocked={}, video_prompts=clip_prompts)
    probes = [p for p in probes if not p.undownloaded]  # no rows, counted apart (`plan.undownloaded`)
    summary = Summary(files=len(probes), prompts=len(prompts), shards=len(refs), undownloaded=plan.undownloaded)
    summary.gone_errors = resume.gone  # what a run would drop (`DryRunReport.gone_errors`)
    summary.superseded_rows = sink.would_supersede(plan.copies)  # counted, never dropped
    if summary.superseded_rows:
        progress.log(superseded_dry_note(summary.superseded_rows))
    counts = InputCounts.of(probes, videos_on=job.videos is not None, walked_videos_skipped=0, ignored=0)
    report = plan_report(
        job, plan, counts=counts, summary=summary, load_engine=load_engine, calibrate=calibrate, started=started,
        groups=shard_groups(meta), reader_for=shard_reader(refs, job.dataset.columns, meta),
    )  # fmt: skip
    report.dataset = DatasetCounts.of(refs, damaged=damaged, columns=job.dataset.columns)
    report.undownloaded = plan.undownloaded
    report.unreadable_folders, report.symlinked_folders = unreadable, linked
    videos_on = job.videos is not None
    unreadable = unreadable_probes(probes, videos_on=videos_on)  # why, as the run's error rows will say
    read = item_reader(refs, job.dataset.columns, meta, {p.path for p in unreadable if p.error is None})
    examples = unreadable_examples(unreadable, videos_on=videos_on, read=read)
    report.unreadable_files = [{"path": path, "error": error} for path, error in examples]
    return report
