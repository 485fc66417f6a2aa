"""LFM2-VL (`lfm2_vl`): single views or tiles + thumbnail, the caps and the floor on the
processor's knobs, NaFlex rows cut per image, the hybrid (conv + attention) decoder's cache,
videos as frames, and `vlm ask` end to end on the tiny checkpoint.

Parity alone and batched at the default resolution, dry-run token counts, caps and planner
agreement are in the registry-parametrised tests (test_engine_parity,
test_engine_token_budget, test_tiling_caps, test_tiling_agreement); this file covers what
is LFM2-VL's own.
"""

from __future__ import annotations

import json
from contextlib import contextmanager

import numpy as np
import pytest
import skimage.data
from PIL import Image
from typer.testing import CliRunner

from vlmcli.testing.fakes import isolate_env
from vlmcli.cli import app
from vlmcli.engine import Engine, EngineConfig, GenerationConfig, ImageInput, Request
from vlmcli.engine.loader import load_planner
from vlmcli.engine.video_input import VideoInput
from vlmcli.errors import ConfigError
from vlmcli.testing import sample_photos
from vlmcli.testing.costs import prompt_visual_tokens
from vlmcli.testing.lfm2_vl import (
    DOWNSAMPLE,
    MAX_IMAGE_TOKENS,
    MAX_TILES,
    MIN_IMAGE_TOKENS,
    MIN_TILES,
    PATCH,
    TILE,
)
from vlmcli.testing.reference import hf_greedy
from vlmcli.tiling import ResolutionPolicy
from vlmcli.tiling.lfm2_vl import Lfm2VlSpec, lfm2_vl_settings, plan_lfm2_vl

FAMILY = "lfm2_vl"
CELL = PATCH * DOWNSAMPLE  # 16 px per visual token in the tiny checkpoint
CHELSEA = Image.fromarray(skimage.data.chelsea())  # 451x300
SIZES = [(512, 512), (451, 300), (600, 400), (1920, 1080), (4000, 3000), (3000, 4000), (6000, 500), (100, 100),
         (448, 448), (896, 448), (40, 1000), (1540, 1540), (64, 64), (1000, 700)]  # fmt: skip
CAPS = [{"max_tiles": t} for t in (1, 2, 3, 4, 6, 9, 16)] + [
    {"max_pixels": p} for p in (2_000, 20_000, 300_000, 10**6, 4 * 10**6, 10**8)
]


cost = prompt_visual_tokens  # (folder, policy, request) -> visual tokens, checked against adapter and planner


# --- the pure mapping at LFM2-VL's hub defaults (512-px tiles, 32-px cells, 64..256 tokens) ---


def test_default_plan_is_the_hub_models():
    spec = Lfm2VlSpec()
    assert spec.cell == 32 and spec.tokens_per_tile == 256
    big = plan_lfm2_vl(spec, ResolutionPolicy(), width=1920, height=1080)
    # 2 rows x 4 cols of 512-px tiles + a 480x256... thumbnail within 256 tokens
    assert big.grid == (2, 4) and big.tiles == 9 and big.resized == (2048, 1024)
    assert big.visual_tokens == 8 * 256 + 252
    medium = plan_lfm2_vl(spec, ResolutionPolicy(), width=451, height=300)  # one view, whole 32-px cells
    assert medium.grid == (1, 1) and medium.tiles == 1 and medium.resized == (448, 288)
    assert medium.visual_tokens == 14 * 9
    small = plan_lfm2_vl(spec, ResolutionPolicy(), width=100, height=60)  # upscaled to >= 64 tokens
    assert small.visual_tokens >= 64 and small.resized[0] * small.resized[1] >= 64 * 32 * 32


def test_caps_never_raise_the_cost():
    spec = Lfm2VlSpec()
    for base in ({}, {"min_pixels": 2 * 10**6}):
        for width, height in SIZES:
            before = plan_lfm2_vl(spec, ResolutionPolicy(**base), width=width, height=height)
            for cap in CAPS:
                if cap.get("max_pixels", 10**9) < base.get("min_pixels", 0):
                    continue
                after = plan_lfm2_vl(spec, ResolutionPolicy(**base, **cap), width=width, height=height)
                assert after.visual_tokens <= before.visual_tokens, (base, cap, width, height)
                rows, cols = after.grid
                assert rows * cols <= cap.get("max_tiles", 10**9)
                if "max_pixels" in cap and rows * cols > 1:  # the thumbnail (at most one tile) counts too
                    assert (rows * cols + 1) * 512 * 512 <= cap["max_pixels"]
                if "max_pixels" in cap and rows * cols == 1:
                    w, h = after.resized
                    assert w * h <= cap["max_pixels"] or min(w, h) == 32, (cap, width, height)


def test_the_knobs_each_flag_sets():
    spec = Lfm2VlSpec()
    assert lfm2_vl_settings(spec, ResolutionPolicy()) == spec
    one = lfm2_vl_settings(spec, ResolutionPolicy(max_tiles=1))
    assert not one.splits and one.max_image_tokens == 256
    four = lfm2_vl_settings(spec, ResolutionPolicy(max_tiles=4))
    assert four.splits and (four.min_tiles, four.max_tiles) == (2, 4)
    by_pixels = lfm2_vl_settings(spec, ResolutionPolicy(max_pixels=4 * 512 * 512))
    assert by_pixels.splits and by_pixels.max_tiles == 3  # + the thumbnail: 4 views of 512^2 at most
    assert not lfm2_vl_settings(spec, ResolutionPolicy(max_pixels=3 * 512 * 512 - 1)).splits
    small = lfm2_vl_settings(spec, ResolutionPolicy(max_pixels=100 * 32 * 32))
    assert not small.splits and small.max_image_tokens == 100 and small.min_image_tokens == 25
    assert small.max_num_patches == 1024  # still padded to a tile's patches, as by default
    low_floor = lfm2_vl_settings(spec, ResolutionPolicy(min_pixels=100 * 32 * 32))
    assert low_floor.min_image_tokens == 100 and low_floor.max_image_tokens == 256
    high_floor = lfm2_vl_settings(spec, ResolutionPolicy(min_pixels=5 * 512 * 512))
    assert high_floor.max_pixels_tolerance == 0 and high_floor.min_tiles == 5
    plan = plan_lfm2_vl(spec, ResolutionPolicy(min_pixels=5 * 512 * 512), width=100, height=60)
    rows, cols = plan.grid
    assert rows * cols >= 5  # even a small image is split when the floor asks for tiles
    capped = plan_lfm2_vl(spec, ResolutionPolicy(min_pixels=5 * 512 * 512, max_tiles=2), width=100, height=60)
    assert capped.grid[0] * capped.grid[1] <= 2  # caps win


def test_max_pixels_below_one_cell_is_refused():
    with pytest.raises(ConfigError, match="below one"):
        plan_lfm2_vl(Lfm2VlSpec(), ResolutionPolicy(max_pixels=500), width=640, height=480)


# --- the tiny checkpoint ----------------------------------------------------------------------


def test_adapter_reads_the_checkpoints_knobs(tiny_checkpoint):
    adapter = load_planner(EngineConfig(model=str(tiny_checkpoint(FAMILY)))).adapter
    assert adapter._spec() == Lfm2VlSpec(
        encoder_patch_size=PATCH, downsample_factor=DOWNSAMPLE, tile_size=TILE, min_tiles=MIN_TILES,
        max_tiles=MAX_TILES, min_image_tokens=MIN_IMAGE_TOKENS, max_image_tokens=MAX_IMAGE_TOKENS,
    )  # fmt: skip


def test_min_pixels_above_the_default_is_applied_and_caps_lower(tiny_checkpoint):
    folder = str(tiny_checkpoint(FAMILY))
    request = Request(prompt="Describe.", images=(ImageInput(CHELSEA),))
    native = cost(folder, ResolutionPolicy(), request)
    assert native == 2 * 16 + 12  # 2x1 tiles of 64 px (16 tokens) + a 64x48 thumbnail
    raised = cost(folder, ResolutionPolicy(min_pixels=20_000), request)
    assert raised > native  # at least 5 tiles of 64 px
    assert cost(folder, ResolutionPolicy(min_pixels=20_000, max_tiles=2), request) <= native
    for cap in CAPS:
        assert cost(folder, ResolutionPolicy(**cap), request) <= native
    assert cost(folder, ResolutionPolicy(max_tiles=1), request) == 12  # the single view
    assert cost(folder, ResolutionPolicy(max_pixels=2_000), request) < 12


def test_the_decoder_cache_keeps_lfm2s_conv_states(tiny_checkpoint):
    """The engine's cache: growing attention layers, LFM2's conv-state layers untouched."""
    from transformers.cache_utils import DynamicLayer

    from vlmcli.engine.kvcache import growing_cache

    engine = Engine.load(EngineConfig(model=str(tiny_checkpoint(FAMILY)), device="cpu", dtype="float32"))
    text = engine.adapter.model.config.get_text_config(decoder=True)
    cache = growing_cache(text, reserve=4)
    kinds = [type(layer).__name__ for layer in cache.layers]
    assert text.layer_types == ["conv", "full_attention", "conv"]
    assert kinds[1] == "GrowingLayer" and not any(isinstance(cache.layers[i], DynamicLayer) for i in (0, 2)), kinds


@pytest.mark.parametrize(
    "policy",
    [ResolutionPolicy(), ResolutionPolicy(min_pixels=20_000), ResolutionPolicy(max_tiles=1)],
    ids=["native", "floor-tiles", "cap-single"],
)
def test_greedy_matches_generate_alone_and_batched(tiny_checkpoint, policy):
    """Tiles, thumbnails and single views of different sizes share one tower call; left
    padding goes through the conv layers; a text-only row too. The answers depend on the
    image (the tiny decoder is initialised wide enough for that)."""
    folder = str(tiny_checkpoint(FAMILY))
    engine = Engine.load(EngineConfig(model=folder, device="cpu", dtype="float32", resolution=policy))
    photos = [ImageInput(p, source=f"photo{i}") for i, p in enumerate(sample_photos())]
    one = Request(prompt="What is in this picture?", images=(photos[0],))
    other = Request(prompt="What is in this picture?", images=(photos[2],))
    two = Request(prompt="Which of these two photos is brighter, and why?", images=(photos[1], photos[5]))
    text = Request(prompt="Say hello.")
    gen = GenerationConfig(max_tokens=8)
    with knobs_on_the_processor(engine):
        expected_one = hf_greedy(engine, [one], new_tokens=8)
        expected = hf_greedy(engine, [one, two, text, other], new_tokens=8)
    assert [r.token_ids for r in engine.generate([one], gen)] == expected_one
    got = [r.token_ids for r in engine.generate([one, two, text, other], gen)]
    assert got == expected
    assert got[0] != got[3]  # same prompt, another photo: another answer


@contextmanager
def knobs_on_the_processor(engine: Engine):
    """The policy's knobs set on the image processor itself, so that `model.generate`'s inputs
    (built by the plain processor call in `hf_greedy`) are the engine's."""
    image_processor = engine.adapter.processor.image_processor
    knobs = lfm2_vl_settings(engine.adapter._spec(), engine.adapter.policy)
    names = ("do_image_splitting", "min_tiles", "max_tiles", "min_image_tokens", "max_image_tokens",
             "max_pixels_tolerance")  # fmt: skip
    saved = {name: getattr(image_processor, name) for name in names}
    for name in names:
        setattr(image_processor, name, getattr(knobs, name))
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(image_processor, name, value)


def clip(frames: int = 3) -> VideoInput:
    pixels = np.stack([np.asarray(CHELSEA.crop((8 * i, 0, 8 * i + 320, 240))) for i in range(frames)])
    return VideoInput(frames=pixels, timestamps=tuple(i * 0.5 for i in range(frames)), fps=2.0, source="clip")


def test_video_frames_as_images_and_caps_never_raise_frames(tiny_checkpoint):
    folder = str(tiny_checkpoint(FAMILY))
    engine = Engine.load(EngineConfig(model=folder, device="cpu", dtype="float32"))
    request = Request(prompt="What happens in this video?", videos=(clip(),))
    (result,) = engine.generate([request], GenerationConfig(max_tokens=4))
    assert result.videos[0].units == 3 and result.images == [] and result.completion_tokens >= 1
    native = cost(folder, ResolutionPolicy(), request)
    per_frame = plan_lfm2_vl(load_planner(EngineConfig(model=folder)).adapter._spec(), ResolutionPolicy(),
                             width=320, height=240).visual_tokens  # fmt: skip
    assert native == 3 * per_frame
    for cap in CAPS:
        assert cost(folder, ResolutionPolicy(**cap), request) <= native
    assert cost(folder, ResolutionPolicy(min_pixels=40_000), request) > native


def test_compress_perceiver_rewrites_the_run(tiny_checkpoint):
    from vlmcli.reduction.compress import parse_compress
    from vlmcli.reduction.reducer import TokenReduction

    folder = str(tiny_checkpoint(FAMILY))
    engine = Engine.load(EngineConfig(model=folder, device="cpu", dtype="float32"))
    request = Request(prompt="Describe.", images=(ImageInput(CHELSEA),))
    squeezed = engine.adapter.__class__(
        model=engine.adapter.model, processor=engine.adapter.processor, model_type=FAMILY,
        reduction=TokenReduction(compress=parse_compress("perceiver:4")),
    )  # fmt: skip
    prepared = squeezed.prepare(request)
    assert prepared.visual_tokens == 4 == int((prepared.input_ids == squeezed.image_token_id).sum())
    assert prepared.input_ids.tolist().count(squeezed.processor.tokenizer.convert_tokens_to_ids("<|image_end|>")) == 1


def test_vlm_ask_end_to_end_and_dry_run(tiny_checkpoint, tmp_path, monkeypatch):
    isolate_env(monkeypatch, tmp_path)
    folder = str(tiny_checkpoint(FAMILY))
    path = tmp_path / "photo.png"
    CHELSEA.save(path)
    runner = CliRunner()
    result = runner.invoke(app, ["ask", "--model", folder, str(path), "What is this?", "--max-tokens", "4"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip()
    base = ["ask", "--model", folder, str(path), "q", "--dry-run", "--json"]
    plain = json.loads(runner.invoke(app, base).stdout)
    assert plain["images"][0]["visual_tokens"] == 44 and plain["images"][0]["resized"] == [128, 64]
    single = json.loads(runner.invoke(app, [*base, "--max-tiles", "1"]).stdout)
    assert single["images"][0]["visual_tokens"] == 12 and single["images"][0]["resized"] == [64, 48]
    capped = json.loads(runner.invoke(app, [*base, "--max-pixels", "2000"]).stdout)
    w, h = capped["images"][0]["resized"]
    assert w * h <= 2000 and capped["images"][0]["visual_tokens"] == w * h // (CELL * CELL)
    raised = json.loads(runner.invoke(app, [*base, "--min-pixels", "20000"]).stdout)
    assert raised["images"][0]["visual_tokens"] > 44
