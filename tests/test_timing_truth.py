"""The times vlmcli reports add up: no row is charged for other rows' work, per-answer
timings are shares that sum to the batch's, and the summary line's rate can be checked from
the figures printed beside it.

No figure here is a performance measurement: the scheduler's clock is a fake one that only
the stages under test move (preparing an input, encoding images, a forward pass), so every
expected value is exact accounting.
"""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

import vlmcli.engine.generate as static_module
import vlmcli.engine.scheduler as scheduler_module
from vlmcli.captions.calibration import _results_times
from vlmcli.captions.summary import Summary
from vlmcli.cli import app
from vlmcli.engine import Engine, EngineConfig, GenerationConfig, ImageInput, Request
from vlmcli.engine.events import Timings
from vlmcli.testing import sample_photos
from vlmcli.testing.fakes import isolate_env

PREPARE_S, VISION_S, FORWARD_S = 10.0, 6.0, 2.0
cli = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


class FakeClock:
    """The scheduler's `time`: stands still except where a test moves it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.forwards = 0

    def perf_counter(self) -> float:
        return self.now


def fake_stages(
    monkeypatch, *, prepare_s: float = PREPARE_S, vision_s: float = 0.0, forward_s: float = 0.0
) -> FakeClock:
    """Each preparation, vision encoding and forward pass of the scheduler takes the given fake seconds."""
    clock = FakeClock()
    monkeypatch.setattr(scheduler_module, "time", SimpleNamespace(perf_counter=clock.perf_counter))

    def slow(real, seconds, *, forward: bool = False):
        def call(*args, **kwargs):
            clock.now += seconds
            clock.forwards += forward
            return real(*args, **kwargs)

        return call

    monkeypatch.setattr(scheduler_module, "prepare_batch", slow(scheduler_module.prepare_batch, prepare_s))
    monkeypatch.setattr(scheduler_module, "encode_batch", slow(scheduler_module.encode_batch, vision_s))
    forward = slow(scheduler_module.forward_logits, forward_s, forward=True)
    monkeypatch.setattr(scheduler_module, "forward_logits", forward)
    return clock


@pytest.fixture(scope="module")
def photos() -> list[ImageInput]:
    return [ImageInput(p, source=f"photo{i}") for i, p in enumerate(sample_photos()[:4])]


def requests_for(photos: list[ImageInput]) -> list[Request]:
    prompts = ["What is in this picture?", "Caption.", "Describe the colours, one by one.", "Hi"]
    return [Request(prompt=p, images=(im,)) for p, im in zip(prompts, photos)]


def test_rows_prefilled_together_share_a_start_not_each_others_preparation(monkeypatch, tiny_checkpoint, photos):
    """caption-dir showed 301, 299, 162, 26 ... 14 ms for one batch of 8 rows that prefilled
    together: the first row prepared was charged for preparing the other seven."""
    engine = Engine.load(EngineConfig(model=str(tiny_checkpoint("qwen2_vl")), device="cpu", dtype="float32"))
    clock = fake_stages(monkeypatch, vision_s=VISION_S, forward_s=FORWARD_S)
    scheduler = engine.scheduler(GenerationConfig(max_tokens=5), slots=4)
    done = []
    for completion in scheduler.run(requests_for(photos)):
        done.append(completion)
        clock.now += 100.0  # the caller writing the row: no row's latency, no row's timings
    assert scheduler.stats.joins == 1 and len(done) == 4 and all(c.error is None for c in done)
    admission = 4 * PREPARE_S + VISION_S + FORWARD_S  # the group's preparation, encoding and prefill
    for c in done:
        # its last token came from the prefill or from decode step k-1 of the group
        steps = c.result.completion_tokens - 1
        assert c.latency_s == pytest.approx(admission + FORWARD_S * steps), c
        own = c.result.timings
        assert own.vision_s + own.prefill_s + own.decode_s < PREPARE_S  # no one's preparation


def test_answers_share_the_batch_timings_instead_of_repeating_them(monkeypatch, tiny_checkpoint, photos):
    engine = Engine.load(EngineConfig(model=str(tiny_checkpoint("qwen2_vl")), device="cpu", dtype="float32"))
    clock = fake_stages(monkeypatch, prepare_s=0.0, vision_s=VISION_S, forward_s=FORWARD_S)
    scheduler = engine.scheduler(GenerationConfig(max_tokens=4), slots=4)
    results = [c.result for c in scheduler.run(requests_for(photos))]
    assert scheduler.stats.joins == 1
    assert sum(r.timings.vision_s for r in results) == pytest.approx(VISION_S)
    assert sum(r.timings.prefill_s for r in results) == pytest.approx(FORWARD_S)
    steps = clock.forwards - 1  # one forward was the prefill
    assert steps == scheduler.stats.decode_steps
    assert sum(r.timings.decode_s for r in results) == pytest.approx(FORWARD_S * steps)
    tokens = [r.visual_tokens for r in results]  # vision in proportion to the visual tokens encoded
    for result in results:
        assert result.timings.vision_s == pytest.approx(VISION_S * result.visual_tokens / sum(tokens))


def test_describe_json_timings_add_up_to_the_batch_once(monkeypatch, tiny_checkpoint, tmp_path):
    """`describe --json` with two inputs gave both answers the batch's vision_s and prefill_s."""
    paths = []
    for i, image in enumerate(sample_photos()[:2]):
        paths.append(str(tmp_path / f"p{i}.png"))
        image.save(paths[-1])
    fake_stages(monkeypatch, prepare_s=0.0, vision_s=VISION_S, forward_s=FORWARD_S)
    args = ["describe", *paths, "-m", str(tiny_checkpoint("qwen2_vl")), "--json", "--max-tokens", "3",
            "--batch-size", "2", "--dtype", "float32"]  # fmt: skip
    result = cli.invoke(app, args)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 2
    assert sum(r["timings"]["vision_s"] for r in records) == pytest.approx(VISION_S, abs=1e-5)
    assert sum(r["timings"]["prefill_s"] for r in records) == pytest.approx(FORWARD_S, abs=1e-5)
    assert records[0]["timings"]["vision_s"] != records[1]["timings"]["vision_s"]  # different images, different costs


def test_caption_rows_of_one_admission_are_comparable(monkeypatch, tiny_checkpoint, tmp_path):
    """latency_ms is the wall time from the start of the row's admission, not the first
    prepared row's share of everyone's preparation."""
    import pyarrow.parquet as pq

    folder = tmp_path / "photos"
    folder.mkdir()
    for i, photo in enumerate(sample_photos()[:4]):
        photo.save(folder / f"photo{i}.png")
    fake_stages(monkeypatch)  # only preparing moves the clock
    args = ["caption-dir", str(folder), "-o", str(tmp_path / "out"), "-m", str(tiny_checkpoint("qwen2_vl")),
            "--max-tokens", "3", "--json", "-q", "--batch-size", "4", "--max-batch-tokens", "100000"]  # fmt: skip
    result = cli.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["batching"] == "continuous batching, 4 slots"
    latencies = [r["latency_ms"] for r in pq.read_table(tmp_path / "out").to_pylist()]
    assert latencies == [pytest.approx(4 * PREPARE_S * 1000)] * 4  # one admission of four: same start, same work


def test_the_summary_rate_is_over_the_time_printed_beside_it():
    """"12 ok ... in 3.1 s; 11.30 images/s" divided by the captioning time only: 12 / 3.1 is 3.9."""
    summary = Summary(ok=12, captioned=12, load_s=2.4, started=0.0, caption_started=2.5, finished=3.56)
    line = summary.text()
    assert " in 3.56 s (model load 2.40 s, captioning 1.06 s); 11.32 images/s while captioning" in line, line
    seconds = float(re.search(r"captioning ([0-9.]+) s\)", line).group(1))
    rate = float(re.search(r"; ([0-9.]+) images/s", line).group(1))
    assert 12 / seconds == pytest.approx(rate, rel=0.01)
    assert summary.to_dict()["captioning_s"] == 1.06
    copied = Summary(ok=12, captioned=10, copied=2, prompts=2, started=0.0, caption_started=0.0, finished=10.0)
    assert (
        "(captioning 10.0 s); 10 captioned at 0.50 images/s (1.00 image-prompt pairs/s) while captioning"
        in copied.text()
    )


def test_the_dry_run_names_images_and_prompts(tiny_checkpoint, tmp_path):
    """2 images x 2 prompts were "1 batch of 4 images" (visual tokens of 2)."""
    folder = tmp_path / "two"
    folder.mkdir()
    for i, photo in enumerate(sample_photos()[:2]):
        photo.save(folder / f"photo{i}.png")
    args = ["caption-dir", str(folder), "-o", str(tmp_path / "out"), "-m", str(tiny_checkpoint("qwen2_vl")),
            "--dry-run", "--json", "-q", "--max-tokens", "2", "-p", "Caption.", "-p", "Tags."]  # fmt: skip
    result = cli.invoke(app, args)
    assert result.exit_code == 0, result.output
    estimate = json.loads(result.stdout)["estimate"]
    assert estimate["source"].startswith("measured on 1 batch of 2 images x 2 prompts (4 requests) on this machine")
    calibration = estimate["calibration"]
    assert (calibration["requests"], calibration["inputs"], calibration["prompts"]) == (4, 2, 2)


def test_calibration_adds_up_per_answer_shares_and_counts_a_shared_one_once():
    def result(timings: Timings, tokens: int = 2):
        return SimpleNamespace(timings=timings, completion_tokens=tokens)

    shares = [
        result(Timings(vision_s=1.0, prefill_s=0.5, decode_s=2.0)),
        result(Timings(vision_s=3.0, prefill_s=0.5, decode_s=2.0)),
    ]
    times = _results_times(shares, wall_s=10.0)
    assert (times.vision_s, times.prefill_s, times.decode_s) == (4.0, 1.0, 4.0)
    batch = Timings(vision_s=4.0, prefill_s=1.0, decode_s=4.0)
    times = _results_times([result(batch), result(batch)], wall_s=10.0)
    assert (times.vision_s, times.prefill_s, times.decode_s) == (4.0, 1.0, 4.0)


def test_static_describe_json_timings_add_up_to_the_batch_once(monkeypatch, tiny_checkpoint, tmp_path):
    isolate_env(monkeypatch, tmp_path)
    clock = SimpleNamespace(now=0.0)
    monkeypatch.setattr(static_module, "time", SimpleNamespace(perf_counter=lambda: clock.now))
    real = static_module.encode_batch

    def slow(*args, **kwargs):
        clock.now += 6.0
        return real(*args, **kwargs)

    monkeypatch.setattr(static_module, "encode_batch", slow)
    paths = []
    for i, image in enumerate(sample_photos()[:2]):
        paths.append(str(tmp_path / f"p{i}.png"))
        image.save(paths[-1])
    args = ["describe", *paths, "-m", str(tiny_checkpoint("qwen2_vl")), "--json", "--max-tokens", "3",
            "--batch-size", "2", "--static-batching", "--dtype", "float32"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert sum(r["timings"]["vision_s"] for r in records) == pytest.approx(6.0, abs=1e-5)


def test_debug_stats_give_a_decode_rate_only_for_an_answer_alone():
    """A rate over a batch share would read as the batch's throughput, not one answer's speed."""
    from vlmcli.commands._generate import stats_line

    result = SimpleNamespace(
        prompt_tokens=10, visual_tokens=4, completion_tokens=8, finish_reason="stop",
        timings=Timings(load_s=1.0, vision_s=0.1, prefill_s=0.2, decode_s=0.5),
    )
    assert stats_line(result, 1.0).endswith("decode 0.50s (16.0 tok/s)")
    assert stats_line(result, 1.0, alone=False).endswith("decode 0.50s (its share of the batch)")
