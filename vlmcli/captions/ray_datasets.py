"""caption-dir over dataset shards with `--engine ray`: Ray Data reads, plans once, Ray actors caption.

    summary = run_ray_datasets(job, sink, refs, load_engine=..., progress=..., summary=Summary())

1. Read: `ray_reads.read_items` (one Ray read task per shard, items probed on the workers)
   streams the items to the driver in shard order; their bytes go to a temporary spool
   (`vlmcli.inputs.spool`), their probes and row columns stay (small: no pixels).
2. Plan: one `build_plan` over every shard's probes, with the sink's resume state: done
   items are skipped, errors retried, and an image seen in an earlier shard rides along
   with its first task (a follower: its row is a copy, with its own path in any error
   message), which is what the local engine's shard-by-shard copies give.
3. Caption: the tasks are batched shard by shard, as the local engine batches them (so an
   engine call sees the same requests), and captioned by `ray_backend.run_ray`, each
   actor fetching a batch's images from the spool when it runs it (`ray_images`: the
   object store holds the batches in flight, not the run); rows are annotated with
   `source`, `source_key`, `extra` and streamed into the sink as batches finish.

Rows are therefore the local engine's rows (`tests/test_caption_ray_datasets.py`). A
shard damaged part way keeps its earlier items and is reported (exit 9), as locally; error
rows of keys a shard read to its end no longer yields are dropped, as locally (never a
damaged shard's: its read task names it in its last row).
Unlike the local run, the driver holds the probes of every shard before captioning, and
the spool holds every image to caption until the run ends (disk, not memory). With
`--videos` a shard's clips are probed on the read workers and captioned by the actors,
each writing a clip's bytes to a temporary file while it decodes it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from vlmcli.captions import pipeline
from vlmcli.captions.batching import auto_batch_size, auto_max_batch_tokens
from vlmcli.captions.config import CaptionJob
from vlmcli.captions.dataset_items import Meta, annotate, shard_groups
from vlmcli.captions.plan import Task, build_plan
from vlmcli.captions.probe import Probe
from vlmcli.captions.progress import Progress
from vlmcli.captions.rows import RowContext
from vlmcli.captions.summary import Summary, gone_note, rate_unit, superseded_note
from vlmcli.captions.prompts import prompt_hashes
from vlmcli.inputs.expand import ShardRef
from vlmcli.inputs.item import item_path
from vlmcli.inputs.spool import Spool
from vlmcli.sinks.base import Sink
from vlmcli.sinks.schema import Row
from vlmcli.video.metadata import VideoInfo

if TYPE_CHECKING:
    import pyarrow as pa


def _item_rows(dataset: Any) -> Iterator[dict[str, Any]]:
    from vlmcli.captions.ray_backend import reraise

    try:
        for block in dataset.iter_batches(batch_format="pyarrow", batch_size=None):
            yield from _block_rows(block)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - a Ray failure: the VlmError behind it, if any
        reraise(exc)


def _block_rows(block: "pa.Table") -> Iterator[dict[str, Any]]:
    columns = block.to_pydict()
    for i in range(block.num_rows):
        yield {name: values[i] for name, values in columns.items()}


def collect_items(
    dataset: Any,
    spool: Spool,
    *,
    on_each: Callable[[], None],
    on_shard_error: Callable[[str, str], None],
    on_warning: Callable[[str], None] | None = None,
    on_left_out: Callable[[int], None] | None = None,
) -> tuple[list[Probe], Meta]:
    """Every item of the read dataset, in order: its probe and row columns; bytes to `spool`;
    a damaged shard's `source` and message to `on_shard_error`; each item's warnings to
    `on_warning`, each once; the pictures and clips a tar key leaves out beside its item to
    `on_left_out` (`ShardItem.left_out`), where there are any."""
    probes: list[Probe] = []
    meta: Meta = {}
    said: set[str] = set()
    for row in _item_rows(dataset):
        if row["shard_error"] is not None:
            on_shard_error(row["source"], row["shard_error"])
            continue
        for warning in (w for w in row.get("warnings") or () if w not in said):
            said.add(warning)
            if on_warning is not None:
                on_warning(warning)
        if row.get("left_out") and on_left_out is not None:
            on_left_out(int(row["left_out"]))
        path = item_path(row["source"], row["source_key"])
        meta[path] = (row["source"], row["source_key"], row["extra"])
        size = (row["width"], row["height"]) if row["width"] is not None else None
        video = VideoInfo(**json.loads(row["video"])) if row.get("video") else None
        kind, animated = row.get("kind") or "image", bool(row.get("animated"))
        undownloaded = bool(row.get("undownloaded"))
        probes.append(
            Probe(path, row["sha256"], size, row["error"], kind=kind, video=video, animated=animated, undownloaded=undownloaded)
        )
        if row["data"] is not None:
            spool.add(path, row["data"])
        on_each()
    return probes, meta


def shard_batches(tasks: list[Task], meta: Meta, *, job: CaptionJob) -> list[list[Task]]:
    """The tasks batched shard by shard, in shard order (`dataset_items.shard_groups`)."""
    size = job.batch_size or auto_batch_size("cpu")
    cap = job.max_batch_tokens or auto_max_batch_tokens("cpu")
    tokens = pipeline.token_estimator(None, job.videos)
    return [
        batch
        for group in shard_groups(meta)(tasks)
        for batch in pipeline.plan_batches(group, batch_size=size, max_tokens=cap, tokens=tokens)
    ]


def run_ray_datasets(
    job: CaptionJob,
    sink: Sink,
    refs: list[ShardRef],
    *,
    load_engine: Callable[[Any], Any],
    progress: Progress,
    summary: Summary,
    on_rows: Callable[[list[Row]], None] | None = None,
) -> Summary:
    from vlmcli.captions.ray_backend import run_ray, start_ray
    from vlmcli.captions.ray_reads import read_items

    start_ray()
    prompts, clip_prompts = pipeline.job_prompts(job), pipeline.clip_prompts_of(job)
    summary.prompts, summary.output, summary.shards = len(prompts), sink.describe(), len(refs)

    damaged: set[str] = set()

    def shard_error(source: str, message: str) -> None:
        damaged.add(source)
        summary.shard_errors.append(message)
        progress.log(f"Error: {message}")

    def left_out(count: int) -> None:  # a tar key's other pictures and clips (said in the shard's warning)
        summary.left_out += count

    with Spool() as spool:
        dataset = read_items(refs, job.dataset.columns, videos=job.videos is not None)
        probes, meta = collect_items(
            dataset, spool, on_each=progress.scanned, on_shard_error=shard_error,
            on_warning=lambda w: progress.log(f"warning: {w}"), on_left_out=left_out,
        )  # fmt: skip
        summary.animations_as_pictures = sum(p.animated for p in probes)
        hashes = prompt_hashes([*prompts, *(clip_prompts or [])])
        resume = sink.resume_state(
            paths=[p.path for p in probes], config_hashes=hashes, folders=pipeline.input_folders(job),
            read_fully=[ref.source for ref in refs if ref.source not in damaged],
        )  # fmt: skip
        plan = build_plan(probes, prompts, shard=job.shard, resume=resume, blocked={}, video_prompts=clip_prompts)
        sink.retire(plan.retire)
        summary.gone_errors = resume.gone
        if resume.gone:
            progress.log(gone_note(resume.gone))
        summary.files, summary.skipped, summary.kept_failed = len(probes) - plan.undownloaded, plan.skipped, plan.kept_failed
        summary.undownloaded = plan.undownloaded
        summary.unit = rate_unit(p.kind for p in probes if p.error is None)
        summary.out_of_shard, summary.copied, summary.todo = plan.out_of_shard, len(plan.copies), plan.rows_to_write
        ctx = RowContext(model=job.engine.model, revision=job.engine.revision)

        def emit(rows: list[Row], *, captioned: bool = True) -> None:
            sink.write(annotate(rows, meta))
            summary.add(rows, captioned=captioned)
            progress.advance(rows, captioned=captioned)
            if on_rows is not None:
                on_rows(rows)

        with sink:
            note = f" ({plan.skipped} already done)" if plan.skipped else ""
            progress.start(plan.rows_to_write, note=note, skipped=plan.skipped, prompts=len(prompts), unit=summary.unit)
            summary.begin_captioning()
            emit(plan.copies + [pipeline.failure_row(ctx, f) for f in plan.failures], captioned=False)
            if plan.tasks:
                batches = shard_batches(plan.tasks, meta, job=job)
                summary.planned(batches)
                run_ray(batches, job=job, load_engine=load_engine, emit=emit, spool=spool, summary=summary)
            summary.superseded_rows = sink.drop_superseded()  # ok rows of old keys, once the new rows are out
    if summary.superseded_rows:
        progress.log(superseded_note(summary.superseded_rows))
    summary.finish()
    return summary
