"""`--engine ray`: the same batches and rows, captioned by Ray Data actors.

The driver (this process) discovers, hashes, plans and writes exactly as the local
engine does; only decoding and captioning move (videos too, with `--videos`). Each Ray Data row is one planned batch (its tasks as
JSON), so every engine call sees the same batch the local engine would, and gives the
same captions. `CaptionActor` loads one engine per actor (an actor pool of `--concurrency`) and
returns the batch's rows as a pyarrow table with the fixed schema; the driver streams
them into the sink as they arrive, so resume and crash safety are unchanged.

Files are read by the actors from their paths. Dataset items have no path a worker can
open (`<shard>::<key>`): the driver gives `run_ray` a `read` for their bytes, puts each
batch's images in the object store (`ray.put`, one object per batch: the driver keeps
only references, Ray spills to disk under pressure) and the actor gets its batch's object.

Ray is optional (`pip install 'vlmcli[ray]'`). An existing cluster is used when
`RAY_ADDRESS` is set or `ray.init` was called already; otherwise a local one starts.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from vlmcli.captions.decode import decode_all
from vlmcli.captions.stages import runner_for, task_decoder
from vlmcli.captions.plan import Task
from vlmcli.captions.rows import RowContext
from vlmcli.errors import BackendUnavailableError, VlmError
from vlmcli.sinks.schema import Row, arrow_schema

if TYPE_CHECKING:
    import pyarrow as pa

    from vlmcli.captions.config import CaptionJob, VideoCaptioning

INSTALL_HINT = "pip install 'vlmcli[ray]'"


def import_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401 - the extra, not just the core
    except ImportError as exc:
        raise BackendUnavailableError(f"--engine ray needs Ray Data, which is not installed ({exc.name}); {INSTALL_HINT}.") from None
    return ray


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
        videos: "VideoCaptioning | None" = None,
        images: Sequence[Any] = (),
    ) -> None:
        engine = load_engine(engine_config)
        ctx = RowContext(model=engine_config.model, revision=getattr(engine, "revision", None) or revision)
        self.runner = runner_for(engine, ctx, generation=generation, system=system, debug=False, videos=videos)
        self.max_image_pixels = max_image_pixels
        self.decode_threads = decode_threads
        self.videos = videos
        self.images = list(images)  # per planned batch, a reference to {path: image bytes}; none for files

    def _reader(self, number: int) -> Callable[[str], bytes] | None:
        if not self.images:
            return None
        import ray

        return ray.get(self.images[number]).__getitem__

    def __call__(self, batch: "pa.Table") -> "pa.Table":
        import pyarrow as pa

        rows: list[Row] = []
        for text, number in zip(batch.column("tasks").to_pylist(), batch.column("batch").to_pylist()):
            tasks = [Task.from_dict(item) for item in json.loads(text)]
            read = self._reader(number)
            decode_one = task_decoder([tasks], max_image_pixels=self.max_image_pixels, videos=self.videos, read=read)
            decoded = decode_all([t.path for t in tasks], decode_one, threads=self.decode_threads)
            rows += self.runner.run(tasks, decoded)
        return pa.Table.from_pylist(rows, schema=arrow_schema())


def _gpus_per_actor(ray: Any, job: "CaptionJob") -> float:
    device = getattr(job.engine.device, "value", job.engine.device)
    if device == "cpu":
        return 0
    if device == "cuda":
        return 1
    return 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0


def _quiet(ray: Any) -> None:
    """Our own progress bar is on stderr; Ray Data's bars and INFO logs would tear it."""
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)


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
    return exc


def start_ray() -> Any:
    """Ray, started (or joined: `RAY_ADDRESS`, an earlier `ray.init`) and quiet."""
    ray = import_ray()
    if not ray.is_initialized():
        ray.init(include_dashboard=False, logging_level=logging.ERROR)
    _quiet(ray)
    return ray


def reraise(exc: Exception) -> NoReturn:
    """Raise the VlmError behind a Ray failure (a model that cannot load, a bad column), else `exc`."""
    cause = _unwrap(exc)
    if cause is not exc:
        raise cause from None
    raise exc


def _batch_images(ray: Any, batches: Sequence[Sequence[Task]], read: Callable[[str], bytes]) -> list[Any]:
    return [ray.put({path: read(path) for path in dict.fromkeys(t.path for t in batch)}) for batch in batches]


def run_ray(
    batches: Sequence[Sequence[Task]],
    *,
    job: "CaptionJob",
    load_engine: Callable[[Any], Any],
    emit: Callable[[list[Row]], None],
    read: Callable[[str], bytes] | None = None,
) -> None:
    """Caption `batches` on an actor pool; `read`: the bytes of each task's path (dataset
    items), shipped through the object store; without it actors read the files."""
    ray = start_ray()
    images = _batch_images(ray, batches, read) if read is not None else []
    items = [{"tasks": json.dumps([t.to_dict() for t in batch]), "batch": number} for number, batch in enumerate(batches)]
    dataset = ray.data.from_items(items, override_num_blocks=max(1, len(items)))
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
            "videos": job.videos,
            "images": images,
        },
        batch_size=1,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=job.concurrency),
        num_gpus=_gpus_per_actor(ray, job),
    )
    try:
        for table in captioned.iter_batches(batch_size=None, batch_format="pyarrow"):
            emit(table.to_pylist())
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        reraise(exc)
