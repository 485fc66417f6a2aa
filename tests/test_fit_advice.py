"""A prompt over the context is told only the flags that can lower its tokens, and SmolVLM2
video frames are never lowered below the least size its video processor takes.

Found by a stranger walk: `--truncate` (or `--max-pixels 1`) on a SmolVLM2 video halved the
video `longest_edge` down to 1 px, and torch's antialiased resize of a 1x1 frame failed with
an internal assert (exit 1, "unexpected RuntimeError"); and every overflow said "lower
--max-pixels ..., or pass --truncate", also where a `--min-pixels` floor caused it or a
video's fixed-size frames made those flags useless (`--frames` was never named).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.engine import EngineConfig, ImageInput, Request
from vlmcli.engine.fit import check_budget, prepare_batch
from vlmcli.engine.fit_advice import Remedies
from vlmcli.engine.generate import check_context
from vlmcli.engine.loader import load_planner
from vlmcli.engine.video_input import VideoInput
from vlmcli.errors import ConfigError, ContextLengthError
from vlmcli.testing import sample_photos
from vlmcli.testing.fakes import isolate_env
from vlmcli.testing.media.video_clips import clip_set
from vlmcli.tiling import ResolutionPolicy, idefics3_video_edge

LIMIT = 4096
"""The tiny checkpoints' context length."""


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


def _clip(frames: int = 3, width: int = 320, height: int = 136) -> VideoInput:
    pixels = np.random.default_rng(0).integers(0, 255, (frames, height, width, 3), dtype=np.uint8)
    return VideoInput(frames=pixels, timestamps=tuple(i * 0.5 for i in range(frames)), fps=2.0, source="clip")


def _adapter(folder, policy: ResolutionPolicy = ResolutionPolicy()):
    return load_planner(EngineConfig(model=str(folder), resolution=policy)).adapter


def _overflow(adapter, request: Request, *, truncate: bool = False, room: int = 1) -> str:
    """The message of `request` with an answer budget `room` tokens over what the context leaves."""
    needed = int(adapter.prepare(request).input_ids.shape[0])
    with pytest.raises(ContextLengthError) as err:
        prepare_batch(adapter, [request], truncate=truncate, answer_tokens=LIMIT - needed + room)
    return str(err.value)


# --- SmolVLM2 video frames: a least size, never a crash ----------------------------------------


def test_video_edge_refuses_a_cap_below_the_least_frame():
    with pytest.raises(ConfigError, match=r"--max-pixels 1 is below 2 px.*pass at least 2"):
        idefics3_video_edge(128, ResolutionPolicy(max_pixels=1), width=640, height=272)
    with pytest.raises(ConfigError, match="below 4 px"):  # a square frame's least is 2x2
        idefics3_video_edge(128, ResolutionPolicy(max_pixels=3), width=64, height=64)
    assert idefics3_video_edge(128, ResolutionPolicy(max_pixels=2), width=640, height=272) == 2
    assert idefics3_video_edge(128, ResolutionPolicy(max_pixels=1_000), width=320, height=240) == 36  # unchanged


def test_smolvlm2_video_max_pixels_1_is_a_clean_config_error(tiny_checkpoint):
    adapter = _adapter(tiny_checkpoint("smolvlm"), ResolutionPolicy(max_pixels=1))
    with pytest.raises(ConfigError, match="--max-pixels 1 is below 2 px"):
        adapter.prepare(Request(prompt="?", videos=(_clip(),)))


def test_truncate_on_smolvlm2_frames_fails_with_the_numbers(tiny_checkpoint):
    """Fixed-size frames: no lower cap fits, and the search stops at the least frame."""
    adapter = _adapter(tiny_checkpoint("smolvlm"))
    message = _overflow(adapter, Request(prompt="What happens?", videos=(_clip(),)), truncate=True)
    assert "even the lowest resolution --truncate can use needs" in message
    assert "fewer frames (--frames, --fps, --max-frames)" in message and "images" not in message


def test_cli_smolvlm2_video_exit_codes(tiny_checkpoint):
    runner = CliRunner()
    base = ["ask", str(clip_set().motion.path), "Q", "-m", str(tiny_checkpoint("smolvlm")), "--frames", "3", "--dry-run"]
    refused = runner.invoke(app, [*base, "--max-pixels", "1"])
    assert refused.exit_code == 2 and "--max-pixels 1 is below" in refused.stderr, refused.output
    overflow = runner.invoke(app, [*base, "--max-tokens", "4090", "--truncate"])
    assert overflow.exit_code == 5 and "--frames" in overflow.stderr, overflow.output
    assert overflow.stderr.count("\n") == 1


def test_video_summarize_dry_run_fits_each_segment_as_the_run_does(tiny_checkpoint):
    """The dry run checked `prompt + --max-tokens >= context` itself: the generic advice
    (--max-pixels for fixed-size SmolVLM2 frames), an exactly-full context refused that the run
    takes, `--truncate` ignored. It now goes through `prepare_batch`, as the run does."""
    runner = CliRunner()
    base = ["video-summarize", str(clip_set().motion.path), "-m", str(tiny_checkpoint("smolvlm")), "--no-scenes", "-q"]
    over = [*base, "--frames", "3", "--max-tokens", "4094"]
    planned = runner.invoke(app, [*over, "--dry-run"])
    assert planned.exit_code == 5, planned.output
    assert "sample fewer frames (--frames, --fps, --max-frames)" in planned.stderr and "--max-pixels" not in planned.stderr
    real = runner.invoke(app, over)
    assert real.exit_code == 5 and real.stderr == planned.stderr, (real.output, planned.output)


# --- the advice names what helps ----------------------------------------------------------------


@pytest.mark.parametrize("family", ["smolvlm", "qwen2_vl", "qwen3_vl", "llava_next"])
def test_a_floor_that_overflows_names_min_pixels(family, tiny_checkpoint):
    adapter = _adapter(tiny_checkpoint(family), ResolutionPolicy(min_pixels=20_000_000))
    photo = ImageInput(sample_photos()[0])
    with pytest.raises(ContextLengthError) as err:
        prepare_batch(adapter, [Request(prompt="?", images=(photo,))], truncate=False, answer_tokens=16)
    message = str(err.value)
    assert "lower --min-pixels, --max-pixels or --max-tiles" in message and "--truncate" in message
    assert "--frames" not in message


def test_a_floor_that_changes_nothing_is_not_named(tiny_checkpoint):
    adapter = _adapter(tiny_checkpoint("qwen2_vl"), ResolutionPolicy(min_pixels=100))  # below the default
    message = _overflow(adapter, Request(prompt="?", images=(ImageInput(sample_photos()[0]),)))
    assert "--min-pixels" not in message and "lower --max-pixels or --max-tiles" in message


def test_fixed_size_smolvlm2_frames_name_frames_not_pixels(tiny_checkpoint):
    adapter = _adapter(tiny_checkpoint("smolvlm"))
    message = _overflow(adapter, Request(prompt="What happens?", videos=(_clip(),)))
    assert "sample fewer frames (--frames, --fps, --max-frames)" in message
    assert "--max-pixels" not in message and "--truncate" not in message and "images" not in message
    assert message.endswith("or lower --max-tokens.")


def test_scaling_qwen_frames_name_frames_pixels_and_truncate(tiny_checkpoint):
    adapter = _adapter(tiny_checkpoint("qwen2_vl"))
    message = _overflow(adapter, Request(prompt="What happens?", videos=(_clip(frames=4),)))
    assert "--frames" in message and "lower --max-pixels or --max-tiles" in message and "--truncate" in message
    assert "--min-pixels" not in message and "images" not in message


@pytest.mark.parametrize("family", ["idefics2", "smolvlm", "internvl", "llava_onevision", "qwen2_vl"])
def test_truncate_is_advised_exactly_where_it_lowers_the_tokens(family, tiny_checkpoint):
    """The advice's probes agree with --truncate's own search: Idefics2 frames only stop
    splitting far below their size, fixed-size frames never get cheaper."""
    adapter = _adapter(tiny_checkpoint(family))
    request = Request(prompt="What happens?", videos=(_clip(),))
    needed = int(adapter.prepare(request).input_ids.shape[0])
    advice = _overflow(adapter, request)
    with pytest.raises(ContextLengthError) as err:  # room for a 1-token prompt: the search goes all the way down
        prepare_batch(adapter, [request], truncate=True, answer_tokens=LIMIT - 1)
    lowest = int(re.search(r"can use needs (\d+)", str(err.value)).group(1))
    assert ("--truncate" in advice) == ("--max-pixels" in advice) == (lowest < needed), (family, advice, lowest)


def test_an_image_that_scales_keeps_the_full_advice(tiny_checkpoint):
    adapter = _adapter(tiny_checkpoint("qwen2_vl"))
    message = _overflow(adapter, Request(prompt="?", images=(ImageInput(sample_photos()[0]),)))
    assert message.endswith(
        "lower --max-pixels or --max-tiles, use fewer images (or PDF pages: --pages), lower --max-tokens, "
        "or pass --truncate to lower the resolution until it fits."
    )


def test_a_fixed_single_view_names_no_resolution_flag(tiny_checkpoint):
    """LLaVA 1.5 sees one fixed view: --max-pixels and --truncate cannot lower it."""
    adapter = _adapter(tiny_checkpoint("llava"))
    message = _overflow(adapter, Request(prompt="?", images=(ImageInput(sample_photos()[0]),)))
    assert message.endswith("use fewer images (or PDF pages: --pages), or lower --max-tokens.")


def test_remedies_phrasing_and_defaults():
    assert Remedies().overflow(answer=False) == (
        "lower --max-pixels or --max-tiles, use fewer images (or PDF pages: --pages), "
        "or pass --truncate to lower the resolution until it fits"
    )
    assert Remedies(images=False, scales=False).overflow(answer=False) == "shorten the prompt"
    assert Remedies(images=False, videos=True, scales=False).lowest() == (
        "use fewer frames (--frames, --fps, --max-frames), a shorter prompt, a lower --max-tokens, "
        "or --temporal-pool / --compress"
    )
    with pytest.raises(ContextLengthError, match="; lower --min-pixels, --max-pixels or --max-tiles, use fewer"):
        check_budget(prompt_tokens=90, answer_tokens=20, limit=100, remedies=Remedies(floor=True))


def test_check_context_names_what_it_is_told(tiny_checkpoint):
    config = _adapter(tiny_checkpoint("smolvlm")).config
    with pytest.raises(ContextLengthError, match="--truncate"):  # no remedies: every flag, as before
        check_context(LIMIT, config)
    with pytest.raises(ContextLengthError) as err:
        check_context(LIMIT, config, remedies=Remedies(images=False, videos=True, scales=False))
    assert str(err.value).endswith("sample fewer frames (--frames, --fps, --max-frames) or pool them "
                                   "(--temporal-pool, --compress).")
