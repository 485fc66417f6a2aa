"""The actor pool of `--engine ray` (`captions/ray_pool.py`, `ray_backend.run_ray`):

- `--concurrency N` on a small job put every planned batch in one Ray Data block, so one
  actor captioned everything while the others stood idle: the batches are now split into
  at least as many calls as actors, no more actors start than there are calls, and an actor
  takes one call at a time (Ray Data's default queued two behind a busy actor);
- `--json` said `batching: ""` and `load_s: 0` under Ray: the actors report their load
  time and batching with their rows, and captioning is timed from their first call;
- with nothing to caption Ray is not started.

Most of it runs the real `CaptionActor` (with the fake engine) under a stand-in for Ray
Data that calls it once per block, as Ray Data does with `batch_size=None` (checked on
Ray 2.60); one test runs a real local Ray with a tiny checkpoint against the local engine.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pytest
from typer.testing import CliRunner

import vlmcli.captions.ray_backend as ray_backend
from vlmcli.captions.config import CaptionJob
from vlmcli.captions.plan import Task
from vlmcli.captions.prompts import Prompt
from vlmcli.captions.ray_pool import ACTOR_COLUMN, CALL_BATCHES, ActorInfo, ActorReports, PoolShape
from vlmcli.captions.summary import Summary
from vlmcli.cli import app
from vlmcli.engine import EngineConfig, GenerationConfig
from vlmcli.exports.results import read_results
from vlmcli.testing.fakes import FakeEngineFactory, install_fake_engine, isolate_env, save_photo

runner = CliRunner()
NAMES = ("astronaut", "chelsea", "coffee", "camera", "rocket", "horse", "cat")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


def test_every_actor_gets_a_call_when_there_are_enough_batches():
    assert CALL_BATCHES == 4
    assert PoolShape.of(batches=3, concurrency=2) == PoolShape(actors=2, calls=2)  # was 1 call: one actor busy
    assert PoolShape.of(batches=9, concurrency=4) == PoolShape(actors=4, calls=4)  # was 3
    assert PoolShape.of(batches=100, concurrency=4) == PoolShape(actors=4, calls=25)  # big jobs: calls of 4
    assert PoolShape.of(batches=3, concurrency=8) == PoolShape(actors=3, calls=3)  # no actor loads for nothing
    assert PoolShape.of(batches=0, concurrency=2) == PoolShape(actors=0, calls=0)


class FakeRayData:
    """Ray Data as `run_ray` uses it: `from_items` splits the rows into blocks as Ray does
    (the first blocks one row longer), `map_batches(batch_size=None)` makes one call per
    block, dealt to the pool's actors in turn."""

    def __init__(self) -> None:
        self.blocks: list[list[dict]] = []
        self.map_kwargs: dict = {}
        self.strategy: dict = {}
        self.actors: list = []

    def ActorPoolStrategy(self, **kwargs):  # noqa: N802 - Ray's name
        self.strategy = kwargs
        return kwargs

    def from_items(self, items, *, override_num_blocks):
        size, extra = divmod(len(items), override_num_blocks)
        start = 0
        for i in range(override_num_blocks):
            end = start + size + (1 if i < extra else 0)
            self.blocks.append(items[start:end])
            start = end
        return self

    def map_batches(self, cls, **kwargs):
        self.cls, self.map_kwargs = cls, kwargs
        return self

    def iter_batches(self, **kwargs):
        assert self.map_kwargs["batch_size"] is None  # a block is a call
        self.actors = [self.cls(**self.map_kwargs["fn_constructor_kwargs"]) for _ in range(self.strategy["size"])]
        for i, block in enumerate(self.blocks):
            yield self.actors[i % len(self.actors)](pa.Table.from_pylist(block))


def photo_batches(folder: Path, sizes: list[int]) -> list[list[Task]]:
    folder.mkdir()
    prompt = Prompt(text="Describe this image.", index=0, config_hash="h")
    batches, number = [], 0
    for size in sizes:
        batch = []
        for _ in range(size):
            path = save_photo(folder / f"p{number}.png", NAMES[number % len(NAMES)])
            batch.append(Task(path=str(path), key=f"k{number}", size=None, prompt=prompt))
            number += 1
        batches.append(batch)
    return batches


def job(concurrency: int) -> CaptionJob:
    return CaptionJob(
        engine=EngineConfig(model="fake", device="cpu"), generation=GenerationConfig(max_tokens=4), inputs=("photos",),
        backend="ray", concurrency=concurrency,
    )  # fmt: skip


def test_run_ray_spreads_the_calls_and_reports_what_the_actors_did(monkeypatch, tmp_path):
    data = FakeRayData()
    monkeypatch.setattr(ray_backend, "start_ray", lambda: SimpleNamespace(data=data, cluster_resources=dict))
    batches = photo_batches(tmp_path / "p", [2, 2, 1])
    rows: list[dict] = []
    summary = Summary()
    summary.begin_captioning()
    before = summary.caption_started
    ray_backend.run_ray(batches, job=job(8), load_engine=FakeEngineFactory(), emit=rows.extend, summary=summary)

    assert data.strategy == {"size": 3, "max_tasks_in_flight_per_actor": 1}  # not 8 actors, 5 of them idle
    assert [len(block) for block in data.blocks] == [1, 1, 1]  # one planned batch per call: every actor busy
    assert sorted(r["path"] for r in rows) == sorted(t.path for b in batches for t in b)
    assert all(r["status"] == "ok" and ACTOR_COLUMN not in r for r in rows)  # the report stays out of the rows
    assert summary.load_s == 1.25  # the fake engine's load time, as each actor measured it
    assert summary.batching == "static batching (this engine has no scheduler), on 3 Ray actors"
    assert summary.caption_started is not None and summary.caption_started >= before


def test_reports_name_each_kind_of_batching_and_time_captioning_from_the_first_call():
    reports = ActorReports()
    summary = Summary()
    summary.caption_started = 100.0  # when the driver began: before Ray started and the models loaded
    for info, arrived in [
        (ActorInfo("b", load_s=5.0, batching="continuous batching, 8 slots", call_s=1.0), 109.5),
        (ActorInfo("a", load_s=3.0, batching="continuous batching, 8 slots", call_s=4.0), 110.0),  # began first
        (ActorInfo("a", load_s=3.0, batching="continuous batching, 8 slots", call_s=1.0), 111.0),
        (ActorInfo("c", load_s=4.0, batching="static batching (--static-batching)", call_s=1.0), 112.0),
    ]:
        reports.add(info, arrived=arrived)
        reports.apply(summary)  # as the tables come
    assert reports.calls == 4 and summary.load_s == 5.0  # the slowest load: they load side by side
    assert summary.batching == "continuous batching, 8 slots, on 2 Ray actors; static batching (--static-batching), on 1 Ray actor"
    assert summary.caption_started == 106.0  # the first call began at 110 - 4, though it came second
    assert ActorInfo.from_json(ActorInfo("a", load_s=1.5, batching="x", call_s=0.25).to_json()).load_s == 1.5


def test_nothing_to_caption_starts_no_ray(monkeypatch, tmp_path):
    def start():
        raise AssertionError("Ray was started with nothing to caption")

    monkeypatch.setattr(ray_backend, "start_ray", start)
    ray_backend.run_ray([], job=job(2), load_engine=FakeEngineFactory(), emit=lambda rows: None)

    install_fake_engine(monkeypatch)  # and a rerun of a finished folder: read, hashed, skipped, no Ray
    folder = tmp_path / "p"
    photo_batches(folder, [2])
    out = tmp_path / "o"
    assert runner.invoke(app, ["caption-dir", str(folder), "-o", str(out)]).exit_code == 0
    again = runner.invoke(app, ["caption-dir", str(folder), "-o", str(out), "--engine", "ray", "--json", "-q"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["skipped"] == 2


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Ray's own, about its own settings
def test_a_real_ray_pool_gives_the_local_rows_and_reports_its_actors(monkeypatch, tiny_checkpoint, tmp_path):
    """A real local Ray: its GCS passes the address probe, and two actors caption four
    planned batches (two calls) into the local engine's rows, reporting their load time and
    batching in the run's `--json`."""
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'vlmcli[ray]')")
    pytest.importorskip("ray.data", reason="ray[data] is not installed (pip install 'vlmcli[ray]')")
    from vlmcli.captions.ray_address import check_cluster_address

    folder = tmp_path / "p"
    photo_batches(folder, [7])
    model = str(tiny_checkpoint("idefics3"))
    args = ["-m", model, "--max-tokens", "4", "--batch-size", "2", "-q", "--json"]
    local = runner.invoke(app, ["caption-dir", str(folder), "-o", str(tmp_path / "local"), *args])
    assert local.exit_code == 0, local.output

    real_run_ray = ray_backend.run_ray
    shapes: list[PoolShape] = []

    def run_ray(batches, **kwargs):
        shapes.append(PoolShape.of(batches=len(batches), concurrency=kwargs["job"].concurrency))
        return real_run_ray(batches, **kwargs)

    monkeypatch.setattr(ray_backend, "run_ray", run_ray)
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    try:
        check_cluster_address(ray.get_runtime_context().gcs_address)  # a Ray head's GCS answers the probe
        remote = runner.invoke(
            app, ["caption-dir", str(folder), "-o", str(tmp_path / "ray"), *args, "--engine", "ray", "--concurrency", "2"]
        )
    finally:
        ray.shutdown()
    assert remote.exit_code == 0, remote.output
    assert shapes == [PoolShape(actors=2, calls=2)]

    def comparable(out: Path) -> list[dict]:
        rows = sorted(read_results(out), key=lambda r: r["path"])
        return [{k: v for k, v in r.items() if k not in ("created_at", "latency_ms")} for r in rows]

    assert comparable(tmp_path / "ray") == comparable(tmp_path / "local")
    on_ray, here = json.loads(remote.stdout), json.loads(local.stdout)
    assert on_ray["ok"] == here["ok"] == 7
    assert on_ray["load_s"] > 0
    assert on_ray["batching"].startswith(here["batching"] + ", on ")  # "continuous batching, 2 slots, on 1 Ray actor"
