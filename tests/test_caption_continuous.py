"""caption-dir under continuous batching (the default): same rows as static batching, errors
still rows, a failed batch falls back to the static runner, and the mode is reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vlmcli.captions.continuous import ContinuousRunner
from vlmcli.captions.decode import Decoded
from vlmcli.captions.plan import Task
from vlmcli.captions.prompts import make_prompts
from vlmcli.captions.rows import RowContext
from vlmcli.captions.runner import BatchRunner
from vlmcli.cli import app
from vlmcli.engine import GenerationConfig
from vlmcli.engine.events import FinishReason, GenerationResult, ImageUsage
from vlmcli.engine.scheduler import Completion
from vlmcli.errors import ContextLengthError
from vlmcli.testing import sample_photos
from vlmcli.testing.fakes import isolate_env

cli = CliRunner()


def _result(request) -> GenerationResult:
    source = request.images[0].source
    return GenerationResult(
        text=f"saw {source}", token_ids=[1], finish_reason=FinishReason.STOP, prompt_tokens=9, visual_tokens=4,
        completion_tokens=1, images=[ImageUsage(source, 2, 2, (2, 2), 4)],
    )


class ServingEngine:
    """`serve` answers with the image's source, in reverse order of arrival per pair; fails on demand."""

    def __init__(self, *, fail_prepare=(), crash_after: int | None = None):
        self.fail_prepare = set(fail_prepare)
        self.crash_after = crash_after
        self.slots_seen: list[int] = []
        self.static_calls: list[int] = []

    def serve(self, requests, gen, *, slots, prefill_tokens=None):
        self.slots_seen.append(slots)
        taken = []
        for index, request in enumerate(requests):
            taken.append(index)
            if self.crash_after is not None and len(taken) > self.crash_after:
                self.crash_after = None  # once
                raise RuntimeError("CUDA out of memory (fake)")
            source = request.images[0].source
            if source in self.fail_prepare:
                yield Completion(index=index, error=ContextLengthError(f"{source} is too long"))
            else:
                yield Completion(index=index, result=_result(request))

    def generate(self, requests, gen):
        self.static_calls.append(len(requests))
        return [_result(r) for r in requests]


def _ready(names: list[str]):
    from PIL import Image

    from vlmcli.media.image_input import ImageInput

    (prompt,) = make_prompts(["p"], model="m", revision=None, system=None, generation=GenerationConfig())
    tasks = [Task(n, f"key-{n}", (2, 2), prompt, (f"{n}-copy",) if n == "a" else ()) for n in names]
    decoded = {n: Decoded(ImageInput(Image.new("RGB", (2, 2)), source=n, key=f"key-{n}")) for n in names}
    decoded["bad"] = Decoded(None, "bad is damaged")
    return [(tasks[:3], decoded), (tasks[3:], decoded)]


def _run(engine, names, *, slots=4) -> dict[str, tuple[str, str]]:
    rows: list[dict] = []
    runner = BatchRunner(engine, GenerationConfig(max_tokens=2), RowContext("m", None))
    ContinuousRunner(runner, slots=slots).run(_ready(names), emit=rows.extend)
    assert len(rows) == len({r["path"] for r in rows})
    return {r["path"]: (r["status"], r["caption"] or r["error"]) for r in rows}


def test_every_task_gets_its_rows_and_errors_stay_rows():
    rows = _run(ServingEngine(fail_prepare={"c"}), ["a", "b", "c", "bad", "d"])
    assert rows == {
        "a": ("ok", "saw a"), "a-copy": ("ok", "saw a"), "b": ("ok", "saw b"), "c": ("error", "c is too long"),
        "bad": ("error", "bad is damaged"), "d": ("ok", "saw d"),
    }


def test_a_failed_batch_goes_static_and_the_stream_resumes_with_fewer_slots():
    engine = ServingEngine(crash_after=2)
    rows = _run(engine, ["a", "b", "c", "d", "e"], slots=4)
    assert {p: s for p, (s, _) in rows.items()} == dict.fromkeys(["a", "a-copy", "b", "c", "d", "e"], "ok")
    assert engine.static_calls == [1]  # the request in flight when it crashed
    assert engine.slots_seen == [4, 2]  # out of memory: half the slots from then on


# -- the real thing -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("photos")
    for i, photo in enumerate(sample_photos()):
        photo.save(root / f"photo{i}.png")
    (root / "truncated.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    return root


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


def caption(photo_dir: Path, out: Path, model: Path, *extra: str) -> tuple[dict, list[dict]]:
    import pyarrow.parquet as pq

    args = ["caption-dir", str(photo_dir), "-o", str(out), "-m", str(model), "--max-tokens", "6", "--json",
            "--batch-size", "2", *extra]
    result = cli.invoke(app, args)
    assert result.exit_code == 9, result.output  # the truncated file
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    skip = {"created_at", "latency_ms"}
    rows = [{k: v for k, v in r.items() if k not in skip} for r in pq.read_table(out).to_pylist()]
    return summary, sorted(rows, key=lambda r: r["path"])


def test_continuous_is_the_default_and_gives_the_static_rows(photo_dir, tiny_checkpoint, tmp_path):
    model = tiny_checkpoint("qwen2_vl")
    summary, rows = caption(photo_dir, tmp_path / "continuous", model)
    assert summary["batching"] == "continuous batching, 2 slots"
    static_summary, static_rows = caption(photo_dir, tmp_path / "static", model, "--static-batching")
    assert static_summary["batching"] == "static batching (--static-batching)"
    assert rows == static_rows
    assert sum(r["status"] == "ok" for r in rows) == len(sample_photos())


def test_a_static_family_says_so(photo_dir, tiny_checkpoint, tmp_path):
    summary, rows = caption(photo_dir, tmp_path / "out", tiny_checkpoint("lfm2_vl"))
    assert summary["batching"] == "static batching (LFM2-VL: short-convolution layers keep a state)"
    assert sum(r["status"] == "ok" for r in rows) == len(sample_photos())
