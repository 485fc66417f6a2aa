"""The pieces of `--engine ray` that run inside actors, tested without a cluster:

- `CaptionActor` captions its call's planned batches continuously batched where the
  family allows it (and batch by batch with --static-batching), and both give the same
  rows, with images fetched by span from the driver's spool (`ray_images.SpoolReader`);
- the spool serves the exact bytes of each item by (offset, length) to another reader
  of its named file, which is how the reader actor on the driver's node serves batches.
"""

from __future__ import annotations

import io
import json
import os
from types import SimpleNamespace

import pyarrow as pa
import pytest

from vlmcli.captions.plan import Task
from vlmcli.captions.prompts import Prompt
from vlmcli.captions.ray_backend import Batching, CaptionActor
from vlmcli.captions.ray_images import SpoolReader, batch_spans
from vlmcli.engine import Engine, EngineConfig, GenerationConfig
from vlmcli.inputs.spool import Spool
from vlmcli.testing import sample_photos

NEW_TOKENS = 6


def jpeg(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def test_spool_spans_give_the_bytes_to_another_reader():
    with Spool() as spool:
        items = {f"shard.tar::{i}": bytes([i]) * (100 + i) for i in range(5)}
        for name, data in items.items():
            spool.add(name, data)
        tasks = [SimpleNamespace(path=name) for name in [*items, "shard.tar::0"]]  # a repeated path: one span
        spans = batch_spans(tasks, spool)
        assert [s[0] for s in spans] == list(items)
        spool.flush()
        assert SpoolReader(spool.path).read(spans) == items
        path = spool.path
    with pytest.raises(FileNotFoundError):  # the named file goes with the spool
        open(path, "rb")


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    """Two planned batches of dataset items (3 + 2 photos of different sizes), spooled."""
    spool = Spool()
    photos = sample_photos()
    batches: list[list[Task]] = []
    number = 0
    prompt = Prompt(text="Describe this image.", index=0, config_hash="h")
    for size in (3, 2):
        batch = []
        for _ in range(size):
            image = photos[number % len(photos)].resize((96 + 32 * number, 80 + 16 * number))
            path = f"/data/shard-0.tar::{number:04d}"
            spool.add(path, jpeg(image))
            batch.append(Task(path=path, key=f"k{number}", size=image.size, prompt=prompt))
            number += 1
        batches.append(batch)
    spool.flush()
    yield spool, batches
    spool.close()


def table(batches: list[list[Task]], spool: Spool) -> pa.Table:
    return pa.Table.from_pylist(
        [{"tasks": json.dumps([t.to_dict() for t in b]), "spans": json.dumps(batch_spans(b, spool))} for b in batches]
    )


class LocalServer:
    """What `ray.get(server.read.remote(spans))` gives an actor, without Ray."""

    def __init__(self, path: str) -> None:
        self.read = SimpleNamespace(remote=SpoolReader(path).read)


def actor(engine, *, static: bool) -> CaptionActor:
    return CaptionActor(
        load_engine=lambda _config: engine, engine_config=engine.config, generation=GenerationConfig(max_tokens=NEW_TOKENS),
        system=None, revision=None, max_image_pixels=None, decode_threads=2,
        batching=Batching(batch_size=2, static=static), images=None,
    )  # fmt: skip


@pytest.mark.parametrize("family", ["idefics3", "qwen2_vl"])
def test_actor_runs_its_batches_continuously_with_the_static_rows(family, tiny_checkpoint, planned, monkeypatch):
    spool, batches = planned
    engine = Engine.load(EngineConfig(model=str(tiny_checkpoint(family)), device="cpu", dtype="float32"))
    monkeypatch.setitem(__import__("sys").modules, "ray", SimpleNamespace(get=lambda value: value))
    continuous, static = actor(engine, static=False), actor(engine, static=True)
    for each in (continuous, static):
        each.images = LocalServer(spool.path)
    assert continuous.mode.continuous and continuous.mode.slots == 2
    assert not static.mode.continuous and "--static-batching" in static.mode.reason
    served = []
    real_serve = engine.serve
    monkeypatch.setattr(engine, "serve", lambda *a, **k: served.append(k["slots"]) or real_serve(*a, **k))
    together = continuous(table(batches, spool)).to_pylist()
    assert served == [2]  # one stream through the slots for the call's two planned batches
    apart = static(table(batches, spool)).to_pylist()

    def key(row):
        return row["path"]

    keep = ("path", "status", "caption", "completion_tokens", "width", "height")
    assert [{k: r[k] for k in keep} for r in sorted(together, key=key)] == [
        {k: r[k] for k in keep} for r in sorted(apart, key=key)
    ]
    assert len(together) == 5 and all(r["status"] == "ok" for r in together)


def test_a_file_name_that_is_not_utf8_crosses_the_actor_boundary(tiny_checkpoint, monkeypatch):
    """`--engine ray` on `caf<E9>.jpg` (a Latin-1 name): the actor's Arrow table refused the name
    ("surrogates not allowed"): exit 1, no rows. It travels escaped, its bytes in path_bytes,
    and the driver gets the real name back, as the local engine writes it."""
    from vlmcli.sinks.schema import restored

    spool = Spool()
    name = os.fsdecode(b"/photos/caf\xe9.jpg")
    spool.add(name, jpeg(sample_photos()[0].resize((96, 80))))
    spool.flush()
    prompt = Prompt(text="Describe this image.", index=0, config_hash="h")
    batches = [[Task(path=name, key=None, size=(96, 80), prompt=prompt)]]
    engine = Engine.load(EngineConfig(model=str(tiny_checkpoint("idefics3")), device="cpu", dtype="float32"))
    monkeypatch.setitem(__import__("sys").modules, "ray", SimpleNamespace(get=lambda value: value))
    for static in (True, False):
        worker = actor(engine, static=static)
        worker.images = LocalServer(spool.path)
        (row,) = worker(table(batches, spool)).to_pylist()
        assert row["status"] == "ok" and row["path"] == "/photos/caf\\xe9.jpg" and row["path_bytes"] == b"/photos/caf\xe9.jpg"
        assert restored(row)["path"] == name
    spool.close()


def test_a_ray_address_nothing_answers_on_is_one_line(monkeypatch, tmp_path):
    """`RAY_ADDRESS=127.0.0.1:1`: ray.init retried for minutes while the log said "waiting for
    the first batch", with Ray's connection warnings between the lines."""
    from typer.testing import CliRunner

    from vlmcli.captions.ray_backend import check_cluster_address
    from vlmcli.cli import app
    from vlmcli.testing.fakes import install_fake_engine, isolate_env, save_photo

    for left_to_ray in ("", "auto", "local", "ray://head:10001"):
        check_cluster_address(left_to_ray)
    isolate_env(monkeypatch, tmp_path)
    install_fake_engine(monkeypatch)
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")
    (tmp_path / "p").mkdir()
    save_photo(tmp_path / "p" / "a.jpg")
    result = CliRunner().invoke(app, ["caption-dir", str(tmp_path / "p"), "-o", str(tmp_path / "o"), "--engine", "ray"])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines()[-1].startswith("Error: Cannot reach the Ray cluster at RAY_ADDRESS=127.0.0.1:1 (")


def test_a_model_that_cannot_load_reaches_the_driver_whole():
    """A failing constructor killed the actor (ActorDiedError: exit 1, a traceback on stderr and
    Ray's on stdout), and Ray Data keeps only the text of what a map function raises: the actor
    keeps the ModelError, raises it from its first call as text, and the driver reads it back."""
    from vlmcli.captions.ray_backend import Batching, CaptionActor, reraise
    from vlmcli.errors import ModelError

    def load(config):
        raise ModelError("model.safetensors is truncated")

    worker = CaptionActor(
        load_engine=load, engine_config=SimpleNamespace(model="bad"), generation=None, system=None,
        revision=None, max_image_pixels=None, decode_threads=1, batching=Batching(),
    )
    with pytest.raises(RuntimeError) as raised:
        worker(None)

    class UserCodeException(Exception):  # Ray Data's wrapper: the original as text only
        pass

    with pytest.raises(ModelError, match="^model.safetensors is truncated$") as back:
        reraise(UserCodeException(f"ray::MapWorker failed\n{raised.value}\nUDF failed to process a data block."))
    assert back.value.exit_code == 4


def test_ray_init_failures_are_one_line_and_keep_the_sigterm_handler(monkeypatch):
    """`RAY_ADDRESS=auto` with no cluster, `127.0.0.1` without a port: "unexpected ConnectionError /
    ValueError", exit 1; and ray.init put sys.exit in place of vlmcli's SIGTERM handling (exit 15,
    no summary)."""
    import signal

    import vlmcli.captions.ray_backend as ray_backend
    from vlmcli.errors import ConfigError

    def handler(signum, frame):
        raise KeyboardInterrupt

    calls = []

    def init(**kwargs):
        calls.append(kwargs)
        signal.signal(signal.SIGTERM, lambda *a: None)  # what ray.init does to the driver
        if len(calls) == 1:
            raise ConnectionError("Could not find any running Ray instance.\nPlease specify ...")

    fake = SimpleNamespace(is_initialized=lambda: False, init=init)
    monkeypatch.setattr(ray_backend, "import_ray", lambda: fake)
    monkeypatch.setattr(ray_backend, "_quiet", lambda ray: None)
    monkeypatch.setenv("RAY_ADDRESS", "auto")
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        with pytest.raises(ConfigError, match=r"^Cannot start or join the Ray cluster at RAY_ADDRESS=auto \(Could not find any running Ray instance\.\);"):
            ray_backend.start_ray()
        assert signal.getsignal(signal.SIGTERM) is handler
        ray_backend.start_ray()
        assert signal.getsignal(signal.SIGTERM) is handler and calls[-1]["log_to_driver"] is False
    finally:
        signal.signal(signal.SIGTERM, previous)
