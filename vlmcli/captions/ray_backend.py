"""`--engine ray`: the same batches and rows, captioned by Ray Data actors.

The driver (this process) discovers, hashes, plans and writes exactly as the local
engine does; only decoding and captioning move (videos too, with `--videos`). Each Ray
Data row is one planned batch (its tasks as JSON); `CaptionActor` loads one engine per
actor (an actor pool of up to `--concurrency`, `ray_pool`) and captions the planned
batches of a call (up to `CALL_BATCHES`, fewer when that gives every actor work) as the
local engine does: continuously batched where the family allows it (one stream through
`--batch-size` decode slots, `continuous.ContinuousRunner`), else batch by batch, so every
row is the local engine's row. It returns the rows as a pyarrow table with the fixed
schema, and its report (load time, batching: `ray_pool.ActorInfo`) in one more column; the
driver streams the rows into the sink as they arrive, so resume and crash safety are
unchanged, and puts the reports in the run's summary.

Files are read by the actors from their paths. Dataset items have no path a worker can
open (`<shard>::<key>`): their bytes are in the driver's spool, and the actor fetches a
batch's images when it runs it, from one reader actor on the driver's node
(`ray_images`), so the object store holds only the batches in flight, never the run.

Ray is optional (`pip install 'vlmcli[ray]'`). An existing cluster is used when
`RAY_ADDRESS` is set or `ray.init` was called already; otherwise a local one starts. The
address is checked (`ray_address`) before the inputs are read, and Ray is started only
when there is something to caption (files) or to read (dataset shards).
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from vlmcli.captions.continuous import ContinuousRunner
from vlmcli.captions.decode import decode_all
from vlmcli.captions.stages import runner_for, task_decoder
from vlmcli.captions.plan import Task
from vlmcli.media.quiet import stderr_lines_dropped
from vlmcli.captions.ray_address import check_cluster_address, import_ray, split_address
from vlmcli.captions.ray_pool import ACTOR_COLUMN, ActorInfo, ActorReports, PoolShape, gpus_per_actor
from vlmcli.captions.rows import RowContext
from vlmcli.errors import ConfigError, VlmError
from vlmcli.sinks.schema import Row, arrow_schema, check_row, restored, storable

if TYPE_CHECKING:
    import pyarrow as pa

    from vlmcli.captions.config import CaptionJob, VideoCaptioning
    from vlmcli.captions.summary import Summary
    from vlmcli.engine.batching_mode import BatchingMode
    from vlmcli.inputs.spool import Spool

class CaptionActor:
    """A Ray Data `map_batches` callable: one engine per actor, one planned batch per input row."""

    def __init__(
        self,
        *,
        load_engine: Callable[[Any], Any],
        engine_config: Any,
        generation: Any,
        system: str | None,
        revision: str | None,
        max_image_pixels: int | None,
        decode_threads: int,
        batching: "Batching",
        videos: "VideoCaptioning | None" = None,
        images: Any = None,
    ) -> None:
        self.failed: VlmError | None = None
        self.name = uuid.uuid4().hex[:12]
        started = time.perf_counter()
        try:
            engine = load_engine(engine_config)
        except VlmError as exc:  # Ray kills an actor whose constructor fails (ActorDiedError, a traceback):
            self.failed = exc  # raised from __call__ instead, carried as text (`carried`)
            return
        ctx = RowContext(model=engine_config.model, revision=getattr(engine, "revision", None) or revision)
        self.runner = runner_for(engine, ctx, generation=generation, system=system, debug=False, videos=videos)
        self.max_image_pixels = max_image_pixels
        self.decode_threads = decode_threads
        self.videos = videos
        self.images = images  # the reader actor of the driver's spool (`ray_images`); None for files
        self.mode, self.prefill_tokens = batching.mode(engine)
        self.load_s = float(getattr(engine, "load_s", 0.0) or 0.0) or time.perf_counter() - started

    def _reader(self, spans: str | None) -> Callable[[str], bytes] | None:
        if self.images is None:
            return None
        import ray

        return ray.get(self.images.read.remote(json.loads(spans or "[]"))).__getitem__

    def _decoded(self, batch: "pa.Table") -> Iterator[tuple[list[Task], dict[str, Any]]]:
        spans = batch.column("spans").to_pylist() if "spans" in batch.column_names else [None] * batch.num_rows
        for text, where in zip(batch.column("tasks").to_pylist(), spans):
            tasks = [Task.from_dict(item) for item in json.loads(text)]
            read = self._reader(where)
            decode_one = task_decoder([tasks], max_image_pixels=self.max_image_pixels, videos=self.videos, read=read)
            yield tasks, decode_all([t.path for t in tasks], decode_one, threads=self.decode_threads)

    def __call__(self, batch: "pa.Table") -> "pa.Table":
        import pyarrow as pa

        if self.failed is not None:
            raise RuntimeError(carried(self.failed))
        started = time.perf_counter()
        rows: list[Row] = []
        if self.mode.continuous:
            ContinuousRunner(self.runner, slots=self.mode.slots, prefill_tokens=self.prefill_tokens).run(
                self._decoded(batch), emit=rows.extend
            )
        else:
            for tasks, decoded in self._decoded(batch):
                rows += self.runner.run(tasks, decoded)
        # Arrow holds UTF-8 only: a file name that is not (caf\xe9.jpg) travels escaped, with its bytes in path_bytes
        table = pa.Table.from_pylist([storable(check_row(row)) for row in rows], schema=arrow_schema())
        info = ActorInfo(self.name, load_s=self.load_s, batching=self.mode.describe(), call_s=time.perf_counter() - started)
        report = [info.to_json()] + [None] * (table.num_rows - 1) if table.num_rows else []
        return table.append_column(ACTOR_COLUMN, pa.array(report, pa.string()))


@dataclass(frozen=True)
class Batching:
    """The run's batching choices, decided on each actor once its engine is loaded (as the
    local engine decides them: `continuous.batching_for`)."""

    batch_size: int = 0
    static: bool = False
    max_batch_tokens: int = 0

    def mode(self, engine: Any) -> tuple["BatchingMode", int]:
        """(the batching mode, prompt tokens per admission) for `engine`."""
        from vlmcli.captions.batching import auto_max_batch_tokens
        from vlmcli.captions.continuous import batching_of, device_type

        device = device_type(engine)
        mode = batching_of(engine, batch_size=self.batch_size, static=self.static, device=device)
        return mode, self.max_batch_tokens or auto_max_batch_tokens(device)


def _gpus_per_actor(ray: Any, job: "CaptionJob") -> float:
    known = gpus_per_actor(job.engine.device, None)
    return known if known is not None else gpus_per_actor(job.engine.device, ray.cluster_resources().get("GPU", 0))


def _quiet(ray: Any) -> None:
    """Our own progress bar is on stderr; Ray Data's bars and INFO logs would tear it."""
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    logging.getLogger("ray").setLevel(logging.ERROR)
    # Ray Data logs a failed map ("Exception occurred in user code", "Dataset execution will now
    # abort") before raising it: the run says it once, in its own one line (`reraise`)
    logging.getLogger("ray.data").setLevel(logging.CRITICAL)


_CARRIED = re.compile(r"<vlmcli-error (\{.*?\})>")


def carried(error: VlmError) -> str:
    """`error` as text that survives Ray Data's wrapping (its UserCodeException keeps only the
    text of what a map function raised), read back by `_unwrap`."""
    return f"<vlmcli-error {json.dumps({'kind': type(error).__name__, 'message': str(error)})}>"


def _from_text(exc: BaseException) -> VlmError | None:
    from vlmcli import errors

    found = _CARRIED.search(str(exc))
    if found is None:
        return None
    try:
        fields = json.loads(found[1])
    except ValueError:
        return None
    kind = getattr(errors, str(fields.get("kind")), None)
    if not (isinstance(kind, type) and issubclass(kind, VlmError)):
        return None
    return kind(str(fields.get("message", "")))  # every VlmError takes its message alone


def _unwrap(exc: BaseException) -> BaseException:
    """A VlmError raised inside an actor (e.g. the model cannot load), else `exc` itself."""
    seen = exc
    for _ in range(5):
        cause = getattr(seen, "cause", None) or seen.__cause__
        if cause is None:
            break
        if isinstance(cause, VlmError):
            return cause
        seen = cause
    return _from_text(exc) or exc


RAY_NOISE = re.compile(rb"core_worker\.cc:\d+: Actor with class name: .* has constructor arguments in the object store and max_restarts > 0")
"""The line Ray's core worker logs as an error on every Ray Data actor pool (its constructor
arguments are put in the object store by Ray Data itself, and its actors may restart: ray
issue 53727): harmless here, and alarming on a user's stderr, so it is dropped."""


def start_ray() -> Any:
    """Ray, started (or joined: `RAY_ADDRESS`, an earlier `ray.init`) and quiet."""
    ray = import_ray()
    if not ray.is_initialized():
        address = os.environ.get("RAY_ADDRESS", "")
        check_cluster_address(address)
        sigterm = signal.getsignal(signal.SIGTERM)  # ray.init puts sys.exit in place of Ctrl-C's handling
        try:
            # log_to_driver: the workers' log lines went to the driver's stdout, before --json's line
            ray.init(include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
        except (ConnectionError, ValueError, RuntimeError, TimeoutError) as exc:
            where = f"the Ray cluster at RAY_ADDRESS={address}" if address else "a local Ray"
            raise ConfigError(f"Cannot start or join {where} ({one_line_of(exc)}); {_join_hint(address, exc)}") from None
        finally:
            if sigterm is not None and threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGTERM, sigterm)
    _quiet(ray)
    return ray


def _join_hint(address: str, exc: BaseException) -> str:
    """What to do about a failed `ray.init`. A head that answered the probe but refused us is
    most often one with token authentication (Ray 2.60 turns it on for a head wherever a token
    exists, ~/.ray/auth_token), which a driver joins only with RAY_AUTH_MODE=token; measured:
    20 refusals "Authentication token is missing or incorrect", then "Failed to connect"."""
    fix = "fix the address (host:port of a head started with `ray start --head`), or unset RAY_ADDRESS to run a local Ray."
    token = os.environ.get("RAY_AUTH_MODE", "").lower() == "token"
    if isinstance(exc, ConnectionError) and split_address(address) is not None and not token:
        return (
            "a head with token authentication (Ray's default where a token exists) is joined with RAY_AUTH_MODE=token "
            f"and its token (~/.ray/auth_token, RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH); else {fix}"
        )
    return fix


def one_line_of(exc: BaseException) -> str:
    """The first line of an exception's message (Ray's run to dozens)."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


def reraise(exc: Exception) -> NoReturn:
    """Raise the VlmError behind a Ray failure (a model that cannot load, a bad column), else `exc`."""
    cause = _unwrap(exc)
    if cause is not exc:
        raise cause from None
    raise exc


def run_ray(
    batches: Sequence[Sequence[Task]],
    *,
    job: "CaptionJob",
    load_engine: Callable[[Any], Any],
    emit: Callable[[list[Row]], None],
    spool: "Spool | None" = None,
    summary: "Summary | None" = None,
) -> None:
    """Caption `batches` on an actor pool; `spool`: where the bytes of each task's path are
    (dataset items), fetched by the actors as they run each batch (`ray_images`); without
    it actors read the files. `summary` gets the actors' reports as they come (`load_s`,
    `batching`, and captioning timed from the first call: `ray_pool.ActorReports.apply`).
    No batches: Ray is not started."""
    from vlmcli.captions.ray_images import batch_spans, start_image_server

    shape = PoolShape.of(batches=len(batches), concurrency=job.concurrency)
    if not shape.calls:
        return
    ray = start_ray()
    items: list[dict[str, Any]] = []
    for batch in batches:
        item: dict[str, Any] = {"tasks": json.dumps([t.to_dict() for t in batch])}
        if spool is not None:
            item["spans"] = json.dumps(batch_spans(batch, spool))
        items.append(item)
    images = start_image_server(ray, spool) if spool is not None else None
    dataset = ray.data.from_items(items, override_num_blocks=shape.calls)  # one block, one call
    captioned = dataset.map_batches(
        CaptionActor,
        fn_constructor_kwargs={
            "load_engine": load_engine,
            "engine_config": job.engine,
            "generation": job.generation,
            "system": job.system,
            "revision": job.engine.revision,
            "max_image_pixels": job.max_image_pixels,
            "decode_threads": job.decode_threads,
            "batching": Batching(batch_size=job.batch_size, static=job.static_batching, max_batch_tokens=job.max_batch_tokens),
            "videos": job.videos,
            "images": images,
        },
        batch_size=None,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=shape.actors, max_tasks_in_flight_per_actor=1),
        num_gpus=_gpus_per_actor(ray, job),
    )
    reports = ActorReports()
    try:
        with stderr_lines_dropped(RAY_NOISE):
            for table in captioned.iter_batches(batch_size=None, batch_format="pyarrow"):
                rows = _take_reports(table, reports, summary).to_pylist()
                emit([restored(row) for row in rows])  # the real (non-UTF-8) names back
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        reraise(exc)


def _take_reports(table: "pa.Table", reports: ActorReports, summary: "Summary | None") -> "pa.Table":
    """The actors' reports in `table` (one per call it holds) into `reports`, and so `summary`;
    returns the rows without them."""
    if ACTOR_COLUMN not in table.column_names:
        return table
    arrived = time.monotonic()
    for text in table.column(ACTOR_COLUMN).to_pylist():
        if text is not None:
            reports.add(ActorInfo.from_json(text), arrived=arrived)
    if summary is not None:
        reports.apply(summary)
    return table.drop_columns([ACTOR_COLUMN])
