"""caption-dir --dry-run counts every input as what it is, finds prompts over the context
as the real run would, and estimates the run's time from one measured batch.

The cost model is tested on hand-made stage timings; how close the estimate comes to a
real run is a measurement, not a test (timings on shared machines are noisy):
`bench/bench_dryrun_estimate.py` prints the ratios and bench/RESULTS.md records them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vlmcli.testing.fakes import isolate_env, real_photo
from vlmcli.testing.media.video_clips import write_video
from vlmcli.captions.estimate import BatchShape, Rates, StageTimes, captioning_seconds
from vlmcli.cli import app

runner = CliRunner()
REFERENCE = Path(__file__).resolve().parents[1] / "models" / "reference"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


def invoke(*args: object):
    return runner.invoke(app, ["caption-dir", *map(str, args)])


# -- the cost model (pure) -------------------------------------------------------------


def test_rates_split_a_measured_batch_by_stage():
    batch = BatchShape(requests=4, visual_tokens=400, longest_prompt=120, pixels=1_000_000)
    times = StageTimes(wall_s=10.0, vision_s=4.0, prefill_s=2.4, decode_s=3.2, steps=16)
    rates = Rates.measured(batch=batch, times=times, read_s=0.5)
    assert rates.vision_s_per_token == pytest.approx(0.01)
    assert rates.prefill_s_per_token == pytest.approx(2.4 / 480)
    assert rates.decode_s_per_step == pytest.approx(0.2) and rates.steps == 16
    assert rates.engine_s(batch) == pytest.approx(10.0)  # the measured batch is predicted exactly
    # a decode step costs the same for a batch of 1: one image alone is not a quarter of the batch
    alone = BatchShape(requests=1, visual_tokens=100, longest_prompt=120, pixels=250_000)
    assert rates.engine_s(alone) == pytest.approx(1.0 + 0.6 + 3.2 + 0.1)
    # files decode beside the model: the slower stream bounds the run, plus the first batch's decoding
    assert captioning_seconds([batch, batch], rates, read_threads=2) == pytest.approx(20.0 + 0.5)
    slow_disk = Rates.measured(batch=batch, times=times, read_s=30.0)
    assert captioning_seconds([batch, batch], slow_disk, read_threads=2) == pytest.approx(30.0 + 30.0)


def test_continuous_batching_charges_the_mean_answer_over_the_slots():
    """Static: every batch decodes its longest answer. Continuous: rows leave as they end and
    newcomers fill their slots, so the run costs its total answer length over the slots."""
    batch = BatchShape(requests=8, visual_tokens=512, longest_prompt=90, pixels=0)
    times = StageTimes(wall_s=5.5, vision_s=1.0, prefill_s=1.0, decode_s=3.2, steps=64, tokens=8 * 16)
    static = Rates.measured(batch=batch, times=times, read_s=0.0)
    continuous = Rates.measured(batch=batch, times=times, read_s=0.0, slots=8)
    assert static.decode_steps(batch) == 64 and continuous.decode_steps(batch) == pytest.approx(16)
    assert static.engine_s(batch) == pytest.approx(5.5)  # the measured (static) batch is predicted exactly
    assert continuous.engine_s(batch) == pytest.approx(5.5 - 3.2 + 0.05 * 16)
    short = BatchShape(requests=2, visual_tokens=128, longest_prompt=90, pixels=0)  # joins the running slots
    assert continuous.decode_steps(short) == pytest.approx(4) and static.decode_steps(short) == 64
    with pytest.raises(ValueError):
        Rates.measured(batch=batch, times=times, read_s=0.0, slots=-1)


def test_the_old_per_image_estimate_is_several_times_off_for_batched_decoding():
    """Why one image alone does not calibrate a batched run (module docstring of estimate.py)."""
    rates = Rates(vision_s_per_token=0.001, prefill_s_per_token=0.0005, decode_s_per_step=0.05, steps=64,
                  prepare_s_per_pixel=0.0, read_s_per_pixel=0.0)
    one = BatchShape(requests=1, visual_tokens=64, longest_prompt=90, pixels=0)
    eight = BatchShape(requests=8, visual_tokens=512, longest_prompt=90, pixels=0)
    per_image_guess = rates.engine_s(one) * 8
    assert per_image_guess / rates.engine_s(eight) > 5


# -- counts and the context --------------------------------------------------------------


@pytest.fixture
def mixed(tmp_path) -> Path:
    root = tmp_path / "mixed"
    root.mkdir()
    real_photo("chelsea").save(root / "chelsea.png")
    real_photo("coffee").save(root / "coffee.jpg", quality=90)
    real_photo("astronaut").resize((320, 320)).save(root / "astronaut.png")
    (root / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00garbage" * 10)  # no decoder reads its header
    frames = np.zeros((12, 48, 64, 3), dtype=np.uint8)
    frames[:, :, :, 0] = np.arange(12, dtype=np.uint8)[:, None, None] * 20
    write_video(root / "clip.mp4", frames, fps=12)
    (root / "notes.md").write_text("not an image")
    return root


def test_counts_every_input_and_visual_tokens_survive_a_broken_file(mixed, tmp_path):
    result = invoke(mixed, "-o", tmp_path / "out", "--model", REFERENCE, "--dry-run", "--json", "-q", "--max-tokens", "4")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["counts"] == {"images": 3, "unreadable": 1, "videos": 0, "videos_skipped": 1, "ignored": 1, "documents_skipped": 0, "animations": 0}
    assert isinstance(report["visual_tokens"], int) and report["visual_tokens"] > 3 * 16
    estimate = report["estimate"]
    assert estimate["source"] == (
        "measured on 1 batch of 3 images on this machine, decoded as continuous batching in 8 slots"
    )  # the reference model's family batches continuously: answers cost their mean length over the slots
    assert estimate["calibration"]["tokens"] >= estimate["calibration"]["steps"] > 0
    static = invoke(mixed, "-o", tmp_path / "out", "--model", REFERENCE, "--dry-run", "--json", "-q", "--max-tokens", "4",
                    "--static-batching")  # fmt: skip
    assert json.loads(static.stdout)["estimate"]["source"] == "measured on 1 batch of 3 images on this machine"
    assert estimate["seconds"] >= estimate["setup_s"] > 0 and estimate["captioning_s"] > 0
    assert report["context"] == {"context_length": 4096, "over": 0, "lowered": 0, "example": None}
    corrupt = str((mixed / "corrupt.jpg").resolve())  # why it is unreadable: the row the run would write
    [unreadable] = report["unreadable_files"]
    assert unreadable["path"] == corrupt and unreadable["error"].startswith(f"{corrupt} is damaged or truncated and cannot be decoded")
    assert not (tmp_path / "out").exists()
    text = invoke(mixed, "-o", tmp_path / "out", "--model", REFERENCE, "--dry-run", "--max-tokens", "4")
    assert "Inputs: 3 images, 1 unreadable, 1 video skipped (add --videos), 1 other file ignored" in text.stderr
    assert f"\n  unreadable: {corrupt} is damaged or truncated" in text.stderr
    assert "Estimated time:" in text.stderr and "measured on 1 batch of 3 images" in text.stderr


@pytest.fixture
def one_photo(tmp_path) -> Path:
    root = tmp_path / "one"
    root.mkdir()
    real_photo("chelsea").save(root / "chelsea.png")  # 54 visual tokens on the reference model
    return root


def long_prompt(words: int) -> str:
    return "a " * words  # the reference tokenizer: one token per word, plus 13 of chat template


def test_a_prompt_over_the_context_is_reported_as_the_real_run_fails(one_photo, tmp_path):
    args = [one_photo, "-o", tmp_path / "out", "--model", REFERENCE, "--max-tokens", "4", "-p", long_prompt(4040)]
    dry = invoke(*args, "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    context = json.loads(dry.stdout)["context"]
    assert context["over"] == 1 and context["lowered"] == 0
    assert "chelsea.png: The prompt needs 4107 tokens" in context["example"]
    assert "context length is 4096" in context["example"]
    assert "--truncate" in dry.stderr and "error rows" in dry.stderr
    real = invoke(*args, "--json", "-q")  # the real run: that request is an error row with the same message
    errors = json.loads(real.stdout)["errors"]
    assert real.exit_code == 9 and [e["error"] for e in errors] == [context["example"].split(": ", 1)[1]]


def test_truncate_in_the_dry_run_says_what_it_lowers_and_what_still_fails(one_photo, tmp_path):
    base = [one_photo, "-o", tmp_path / "out", "--model", REFERENCE, "--max-tokens", "4", "--truncate", "--dry-run", "--json"]
    lowered = invoke(*base, "-p", long_prompt(4040))  # the image's tokens can shrink enough
    assert lowered.exit_code == 0, lowered.output
    assert json.loads(lowered.stdout)["context"]["lowered"] == 1 and "--truncate will lower" in lowered.stderr
    hopeless = invoke(*base, "-p", long_prompt(4100))  # the text alone is over: text is never cut
    context = json.loads(hopeless.stdout)["context"]
    assert context["over"] == 1 and context["lowered"] == 0


def test_the_first_five_unreadable_files_say_why_and_the_rest_are_counted(tmp_path):
    from vlmcli.captions.probe import Probe
    from vlmcli.captions.input_counts import unreadable_examples, unreadable_lines

    probes = []
    for i in range(7):
        path = tmp_path / f"scan{i}.pdf"
        path.write_bytes(b"%PDF-1.4\n%%EOF\n")
        probes.append(Probe(path=str(path), key="k", size=None))
    good = Probe(path=str(tmp_path / "ok.jpg"), key="k", size=(8, 8))
    video = Probe(path=str(tmp_path / "clip.mp4"), key="k", size=None, kind="video")
    examples = unreadable_examples([good, video, *probes], videos_on=False)
    assert [path for path, _ in examples] == [p.path for p in probes[:5]]  # a skipped video is not unreadable
    assert all("is a PDF document" in why for _, why in examples)
    lines = unreadable_lines([{"path": p, "error": e} for p, e in examples], total=7)
    assert lines[0].startswith(f"  unreadable: {probes[0].path} is a PDF document") and lines[-1] == "  ... and 2 more unreadable"
    assert len(lines) == 6


def test_an_image_the_model_refuses_is_a_known_error_and_does_not_spoil_the_estimate(tmp_path):
    """A 4000x1 rule line (web scrapes have them) among photos: Qwen's planner refuses it, the real
    run writes an error row, and the dry run says so before any model call. Before, it counted the
    line's tokens, listed no known error, and its measured batch failed on it: "Estimated time: unknown"."""
    from PIL import Image

    folder = tmp_path / "scrape"
    folder.mkdir()
    real_photo("astronaut").resize((96, 96)).save(folder / "photo.jpg")
    Image.new("RGB", (4000, 1), "grey").save(folder / "rule.png")
    out = tmp_path / "out"
    result = invoke(folder, "-o", out, "-m", REFERENCE, "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["refused"] == 1 and report["known_errors"] == 1 and report["requests"] == 1 and report["rows"] == 2
    (refused,) = report["refused_files"]
    assert refused["path"].endswith("rule.png") and "too elongated for Qwen models" in refused["error"]
    assert report["estimate"] is not None and report["estimate"]["calibration"]["requests"] == 1
    text = invoke(folder, "-o", out, "-m", REFERENCE, "--dry-run")
    assert "  refused by the model: " in text.stderr and "; 1 known error)" in text.stderr
    real = invoke(folder, "-o", out, "-m", REFERENCE, "--json", "-q")
    assert real.exit_code == 9 and json.loads(real.stdout)["error"] == 1  # what the dry run said


def test_videos_are_measured_too(mixed, tmp_path):
    """A --videos run measures one batch of clips beside the images (a run of videos alone got
    "Estimated time: unknown"): their decoding and frame tokens, which no image batch tells."""
    result = invoke(mixed, "-o", tmp_path / "out", "--model", REFERENCE, "--dry-run", "--json", "-q",
                    "--max-tokens", "4", "--videos", "--frames", "3")  # fmt: skip
    assert result.exit_code == 0, result.output
    estimate = json.loads(result.stdout)["estimate"]
    assert estimate["source"].startswith("measured on 1 batch of 3 images and 1 batch of 1 video on this machine")
    clip = estimate["video_calibration"]
    assert clip["requests"] == 1 and clip["read_s"] > 0 and clip["visual_tokens"] > 0
    assert estimate["video_rates"]["read_s_per_pixel"] > 0 and estimate["calibration"]["requests"] == 3

    alone = tmp_path / "alone"
    alone.mkdir()
    (mixed / "clip.mp4").rename(alone / "clip.mp4")
    result = invoke(alone, "-o", tmp_path / "out", "--model", REFERENCE, "--dry-run", "--json", "-q",
                    "--max-tokens", "4", "--videos", "--frames", "3")  # fmt: skip
    estimate = json.loads(result.stdout)["estimate"]
    assert estimate is not None and estimate["source"].startswith("measured on 1 batch of 1 video on this machine")
    assert estimate["captioning_s"] > 0 and estimate["video_calibration"] is None and estimate["calibration"]["requests"] == 1


def test_a_video_run_warms_up_on_a_clip(monkeypatch, mixed, tmp_path):
    """The first call's extra cost is priced with the rates of its own kind: a run of clips
    alone warms up on a stand-in clip, not a picture (which a tiling model may turn into
    17 tiles, priced at a frame's per-token rate: 20 s too much on SmolVLM-256M)."""
    from vlmcli.testing.fakes import install_fake_engine

    fake = install_fake_engine(monkeypatch)
    alone = tmp_path / "alone"
    alone.mkdir()
    (mixed / "clip.mp4").rename(alone / "clip.mp4")
    result = invoke(alone, "-o", tmp_path / "out", "--dry-run", "--json", "-q", "--videos", "--frames", "3")
    assert result.exit_code == 0, result.output
    warm, measured = fake.requests
    assert [v.source for v in warm.videos] == ["<warm-up>"] and not warm.images
    assert measured.videos[0].source.endswith("clip.mp4")
