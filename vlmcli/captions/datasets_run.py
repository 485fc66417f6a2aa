"""caption-dir over dataset shards (WebDataset tars, Parquet, `save_to_disk`): shard by shard.

For each shard, in order: read it front to back (each item hashed, sized from its header,
its bytes spooled to a temporary file: `vlmcli.inputs.spool`), ask the sink what is done,
plan with the same rules as files (`plan.build_plan`: skip done items, retry errors,
copy duplicates; items img2dataset could not download get no row, only a count), caption
the tasks, and write the rows annotated with `source`, `source_key` and `extra`. Memory
holds one shard's probes at a time, never its images; the model is loaded once, at the
first shard with work. With `--videos`, a shard's videos (video2dataset's tars, a zip of
clips) and animated pictures are captioned as clips, each written to a temporary file of
its own while its shard is worked on (`inputs/clip_files.py`), with the video prompts and
rows of folders' videos. A shard that cannot be read to the end keeps the rows of the items
read before the damage and is reported (exit 9).

Each shard's rows are published when it is done, and the next shard asks the sink again:
an image already captioned in an earlier shard is copied, not captioned twice. The sink
reads the output folder once per run and answers each shard from that index
(`sinks/resume_index.py`), which also holds the rows this run wrote. Each shard read to its
end is named to the sink as such, so error rows of keys it no longer yields (an older
version's `k1#dup1`) are dropped, never those of a shard read part way; with those of
deleted shards under the input folders, they are added up over the shards, in one line.
So are the ok rows of its old keys whose picture it still yields under a new key (a tar of
a folder keyed by member name, a table of image paths keyed by path): dropped once the
shard's rows are published (`Sink.drop_superseded`).

`--engine ray` reads and captions dataset shards on Ray (`ray_datasets.py`); `entry.py`
picks the runner by backend.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

from vlmcli.captions import pipeline
from vlmcli.captions.batching import auto_batch_size, auto_max_batch_tokens
from vlmcli.captions.config import CaptionJob
from vlmcli.captions.continuous import batching_for, device_type
from vlmcli.captions.dataset_items import Meta, annotate, item_meta, item_probe
from vlmcli.captions.plan import build_plan
from vlmcli.captions.probe import Probe
from vlmcli.captions.progress import Progress
from vlmcli.captions.rows import RowContext
from vlmcli.captions.summary import Summary, gone_note, rate_unit, superseded_note
from vlmcli.captions.prompts import prompt_hashes
from vlmcli.errors import InputError
from vlmcli.inputs.clip_files import ClipFiles
from vlmcli.inputs.expand import ShardRef
from vlmcli.inputs.item import item_path
from vlmcli.inputs.spool import Spool
from vlmcli.sinks.base import Sink
from vlmcli.sinks.schema import Row


def probe_shard(
    ref: ShardRef,
    job: CaptionJob,
    spool: Spool | None,
    *,
    clips: ClipFiles | None = None,
    on_each: Callable[[], None],
    on_warning: Callable[[str], None] | None = None,
    on_left_out: Callable[[int], None] | None = None,
) -> tuple[list[Probe], Meta, str | None]:
    """(probes, meta, error): every item read before the end or the damage (`error`); the
    bytes of the images to caption go to `spool` (None: not kept, as `--dry-run` reads),
    with --videos those of its videos to `clips`, a file each. `on_warning` hears each
    item's warnings (a tar member stored twice), each once; `on_left_out` the pictures and
    clips a tar key leaves out beside its item (`ShardItem.left_out`), where there are any."""
    source = ref.source
    probes: list[Probe] = []
    meta: Meta = {}
    said: set[str] = set()
    try:
        for item in ref.items(job.dataset.columns):
            path = item_path(source, item.key)
            meta[path] = item_meta(source, item)
            on_each()
            if item.left_out and on_left_out is not None:
                on_left_out(item.left_out)
            for warning in (w for w in item.warnings if w not in said):
                said.add(warning)
                if on_warning is not None:
                    on_warning(warning)
            probe = item_probe(path, item, clips=clips)
            if spool is not None and probe.error is None and probe.kind == "image" and item.data is not None:
                spool.add(path, item.data)
            probes.append(probe)
    except InputError as exc:
        return probes, meta, str(exc)
    return probes, meta, None


def run_datasets(
    job: CaptionJob,
    sink: Sink,
    refs: list[ShardRef],
    *,
    load_engine: Callable[[Any], Any],
    progress: Progress,
    summary: Summary,
    on_rows: Callable[[list[Row]], None] | None = None,
) -> Summary:
    prompts = pipeline.job_prompts(job)
    clip_prompts = pipeline.clip_prompts_of(job)
    hashes = prompt_hashes([*prompts, *(clip_prompts or [])])
    summary.prompts, summary.output = len(prompts), sink.describe()
    state: dict[str, Any] = {"runner": None, "engine": None, "started": False, "kinds": set()}
    ctx = RowContext(model=job.engine.model, revision=job.engine.revision)

    def left_out(count: int) -> None:  # a tar key's other pictures and clips (said in the shard's warning)
        summary.left_out += count

    with sink:
        for number, ref in enumerate(refs):
            with Spool() as spool, clip_files_for(job) as clips:
                warn = lambda w: progress.log(f"warning: {w}")  # noqa: E731 - a tar member stored twice
                probes, meta, error = probe_shard(
                    ref, job, spool, clips=clips, on_each=progress.scanned, on_warning=warn, on_left_out=left_out
                )
                summary.shards += 1
                summary.animations_as_pictures += sum(p.animated for p in probes)
                if error is not None:
                    summary.shard_errors.append(error)
                    progress.log(f"Error: {error}")

                def emit(rows: list[Row], *, captioned: bool = True, meta: Meta = meta) -> None:
                    sink.write(annotate(rows, meta))
                    summary.add(rows, captioned=captioned)
                    progress.advance(rows, captioned=captioned)
                    if on_rows is not None:
                        on_rows(rows)

                resume = sink.resume_state(
                    paths=[p.path for p in probes], config_hashes=hashes, folders=pipeline.input_folders(job),
                    read_fully=[ref.source] if error is None else [],  # a damaged shard's missing keys may be there
                )  # fmt: skip
                plan = build_plan(
                    probes, prompts, shard=job.shard, resume=resume, blocked={}, video_prompts=clip_prompts
                )
                sink.retire(plan.retire)
                summary.gone_errors += resume.gone
                summary.files += len(probes) - plan.undownloaded
                summary.undownloaded += plan.undownloaded
                state["kinds"] |= {p.kind for p in probes if p.error is None}
                summary.unit = rate_unit(state["kinds"])  # over the shards read so far
                summary.skipped += plan.skipped
                summary.kept_failed += plan.kept_failed
                summary.out_of_shard += plan.out_of_shard
                summary.copied += len(plan.copies)
                summary.todo += plan.rows_to_write
                # the total is estimated from the shards read so far (exact once the last is read)
                estimate = summary.todo + round(summary.todo / (number + 1)) * (len(refs) - number - 1)
                if not state["started"]:
                    state["started"] = True
                    summary.begin_captioning()  # as a folder's run, after its inputs are read; again after the load
                    note = f" (~{len(refs)} shards)" if len(refs) > 1 else ""
                    note = note or (f" ({plan.skipped} already done)" if plan.skipped else "")
                    progress.start(estimate, note=note, skipped=plan.skipped, prompts=len(prompts), unit=summary.unit)
                else:
                    progress.retotal(estimate, unit=summary.unit, skipped=summary.skipped)
                emit(plan.copies + [pipeline.failure_row(ctx, f) for f in plan.failures], captioned=False)
                if plan.tasks:
                    runner = _runner(job, state, load_engine, summary)
                    device = device_type(state["engine"])
                    batches = pipeline.plan_batches(
                        plan.tasks,
                        batch_size=job.batch_size or auto_batch_size(device),
                        max_tokens=job.max_batch_tokens or auto_max_batch_tokens(device),
                        tokens=pipeline.token_estimator(state["engine"], job.videos),
                    )
                    summary.planned(batches)
                    mode = batching_for(state["engine"], job, device=device)
                    summary.batching = mode.describe()
                    pipeline.run_local(
                        batches, runner=runner, job=job, emit=emit, read=spool.read, mode=mode,
                        prefill_tokens=job.max_batch_tokens or auto_max_batch_tokens(device),
                        locate=clips.file if clips is not None else None,
                    )
                sink.flush()  # the shard's rows are published: the next shards see them (duplicates are copied)
                summary.superseded_rows += sink.drop_superseded()  # ok rows of its old keys, now under new ones
    if summary.gone_errors:  # added up over the shards: one line
        progress.log(gone_note(summary.gone_errors))
    if summary.superseded_rows:
        progress.log(superseded_note(summary.superseded_rows))
    summary.finish()
    return summary


def _runner(job: CaptionJob, state: dict[str, Any], load_engine: Callable[[Any], Any], summary: Summary) -> Any:
    """The batch runner, loading the model on first use (a run with nothing to do never loads it)."""
    if state["runner"] is None:
        from vlmcli.captions.stages import runner_for

        engine = state["engine"] = load_engine(job.engine)
        summary.load_s = float(getattr(engine, "load_s", 0.0) or 0.0)
        summary.begin_captioning()  # the rate's clock starts after the load (`Summary.captioning_s`)
        ctx = RowContext(model=job.engine.model, revision=getattr(engine, "revision", None) or job.engine.revision)
        state["runner"] = runner_for(
            engine, ctx, generation=job.generation, system=job.system, debug=job.debug, videos=job.videos
        )
    return state["runner"]


def clip_files_for(job: CaptionJob) -> Any:
    """A shard's `ClipFiles` with --videos (its videos are captioned), else nothing to hold them."""
    return ClipFiles() if job.videos is not None else nullcontext()
