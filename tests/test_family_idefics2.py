"""Idefics2: planning, the policy on its native knobs, the engine and the CLI end to end.

The registry-wide tests (parity alone and batched, dry-run token counts, caps, the
checkpoint's template) cover idefics2 already; here: what is specific to it. Views of
different sizes in one batch (padding and masks), splitting switched per prompt on the
processor object, a non-splitting checkpoint raised by `--min-pixels`, `--compress`
without the processor's replacement offsets, and video as frames.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.engine import Engine, EngineConfig, GenerationConfig, ImageInput, Request
from vlmcli.engine.loader import load_planner
from vlmcli.engine.video_input import VideoInput
from vlmcli.errors import ConfigError
from vlmcli.testing import sample_photos
from vlmcli.testing.reference import new_tokens_until_eos
from vlmcli.tiling import ResolutionPolicy
from vlmcli.tiling.idefics2 import (
    Idefics2Spec,
    idefics2_prompt_tokens,
    idefics2_settings,
    plan_idefics2,
)

FAMILY = "idefics2"
SEQ = 8  # the tiny checkpoint's perceiver latents
REAL = Idefics2Spec()  # idefics2-8b: 980 / 378 px, 64 latents, no splitting
SIZES = [(16, 16), (640, 480), (480, 640), (4000, 3000), (5000, 500), (500, 5000), (1000, 1000), (123, 457)]
CAPS = [
    ResolutionPolicy(max_tiles=1),
    ResolutionPolicy(max_tiles=3),
    ResolutionPolicy(max_tiles=4),
    ResolutionPolicy(max_pixels=20_000),
    ResolutionPolicy(max_pixels=500_000),
    ResolutionPolicy(max_pixels=10**8),
    ResolutionPolicy(max_tiles=16, max_pixels=10**7),
]


# --- the pure planner at the real checkpoint's settings -----------------------------------


@pytest.mark.parametrize("split", [False, True])
def test_caps_never_raise_cost_or_pixels(split):
    spec = Idefics2Spec(do_image_splitting=split)
    for width, height in SIZES:
        native = plan_idefics2(spec, ResolutionPolicy(), width=width, height=height)
        assert native.visual_tokens == (5 if split else 1) * 64
        for policy in CAPS:
            plan = plan_idefics2(spec, policy, width=width, height=height)
            assert plan.visual_tokens <= native.visual_tokens, (width, height, policy)
            assert plan.resized[0] <= native.resized[0] and plan.resized[1] <= native.resized[1]
            if policy.max_pixels is not None:
                w, h = plan.resized
                assert w * h <= policy.max_pixels * 1.01 + 4 * 14 * 14, (width, height, policy, plan)


def test_policy_maps_onto_splitting_and_edges():
    split = Idefics2Spec(do_image_splitting=True)
    assert idefics2_settings(split, ResolutionPolicy(), [(640, 480)]).do_image_splitting
    assert not idefics2_settings(split, ResolutionPolicy(max_tiles=3), [(640, 480)]).do_image_splitting
    assert idefics2_settings(split, ResolutionPolicy(max_tiles=4), [(640, 480)]).do_image_splitting
    # 4 crops of at least 378^2 px do not fit 500k px: one view, its long side lowered
    capped = idefics2_settings(split, ResolutionPolicy(max_pixels=500_000), [(4000, 3000)])
    assert not capped.do_image_splitting and capped.longest_edge < 980
    plan = plan_idefics2(split, ResolutionPolicy(max_pixels=500_000), width=4000, height=3000)
    assert plan.visual_tokens == 64 and plan.resized[0] * plan.resized[1] <= 500_000
    # the floor turns splitting on (the most Idefics2 looks at); a cap below 4 crops wins
    single = Idefics2Spec()
    assert plan_idefics2(single, ResolutionPolicy(min_pixels=2_000_000), width=4000, height=3000).visual_tokens == 320
    assert plan_idefics2(single, ResolutionPolicy(min_pixels=900_000), width=4000, height=3000).visual_tokens == 64
    both = ResolutionPolicy(min_pixels=2_000_000, max_tiles=2)
    assert plan_idefics2(single, both, width=4000, height=3000).visual_tokens == 64
    with pytest.raises(ConfigError, match="below one 14x14 patch"):
        plan_idefics2(single, ResolutionPolicy(max_pixels=100), width=640, height=480)


def test_split_plan_reports_the_quarters_canvas():
    plan = plan_idefics2(Idefics2Spec(do_image_splitting=True), ResolutionPolicy(), width=4000, height=3000)
    assert plan.grid == (2, 2) and plan.tiles == 5 and plan.resized == (1960, 1470)  # 2 x (980 x 735)
    plan = plan_idefics2(Idefics2Spec(), ResolutionPolicy(), width=4000, height=3000)
    assert plan.grid == (1, 1) and plan.tiles == 1 and plan.resized == (980, 735)
    assert plan_idefics2(Idefics2Spec(), ResolutionPolicy(), width=100, height=1000).resized == (378, 980)


# --- the tiny checkpoint through the engine --------------------------------------------------


@pytest.fixture(scope="module")
def photos():
    return [ImageInput(p, source=f"photo{i}") for i, p in enumerate(sample_photos())]


@pytest.fixture(scope="module")
def engine(tiny_checkpoint) -> Engine:
    return Engine.load(EngineConfig(model=str(tiny_checkpoint(FAMILY)), device="cpu", dtype="float32"))


def test_prompt_tokens_are_views_and_markers(engine, photos):
    adapter = engine.adapter
    with_image = adapter.prepare(Request(prompt="Hi.", images=(photos[0],)))
    text_only = engine.loaded.processor.tokenizer([adapter.prompt_text(Request(prompt="Hi."))])["input_ids"][0]
    # the chat template writes "User:" (image first) instead of "User: ": one token apart at most
    extra = len(with_image.input_ids) - len(text_only)
    assert abs(extra - idefics2_prompt_tokens(image_seq_len=SEQ, split=True)) <= 1
    assert int((with_image.input_ids == adapter.image_token_id).sum()) == 5 * SEQ


def test_mixed_sizes_and_policy_in_a_batch_match_generate(tiny_checkpoint, photos):
    """A tall, a wide and a tiny image in one batch (views padded together), under a policy
    that turns splitting off: the same tokens as transformers given the same knobs."""
    folder = str(tiny_checkpoint(FAMILY))
    policy = ResolutionPolicy(max_tiles=2, max_pixels=2000)
    engine = Engine.load(EngineConfig(model=folder, device="cpu", dtype="float32", resolution=policy))
    tall = ImageInput(photos[2].image.rotate(90, expand=True), source="tall")
    tiny = ImageInput(photos[1].image.resize((20, 12)), source="tiny")
    batch = [
        Request(prompt="Describe it.", images=(tall,)),
        Request(prompt="Compare these two images, please.", images=(photos[0], tiny)),
    ]
    gen = GenerationConfig(max_tokens=8)
    results = engine.generate(batch, gen)
    assert [r.visual_tokens for r in results] == [SEQ, 2 * SEQ]  # no splitting under max_tiles=2
    sizes = [(im.image.width, im.image.height) for r in batch for im in r.images]
    settings = idefics2_settings(engine.adapter._spec(), policy, sizes)
    assert not settings.do_image_splitting
    assert [r.token_ids for r in results] == generate_with(engine, batch, settings, new_tokens=8)
    # the processor's own setting is back after each prompt
    assert engine.adapter.processor.image_processor.do_image_splitting is True


def generate_with(engine: Engine, requests: list[Request], settings, *, new_tokens: int) -> list[list[int]]:
    """transformers' greedy path with the processor set to `settings` (each prompt alone:
    the engine also takes one setting per prompt)."""
    import torch

    processor, model = engine.loaded.processor, engine.adapter.model
    processor.tokenizer.padding_side = "left"
    saved = processor.image_processor.do_image_splitting
    processor.image_processor.do_image_splitting = settings.do_image_splitting
    try:
        inputs = processor(
            text=[engine.adapter.prompt_text(r) for r in requests],
            images=[[im.image for im in r.images] for r in requests],
            size=settings.size(),
            return_tensors="pt",
            padding=True,
        )
    finally:
        processor.image_processor.do_image_splitting = saved
    with torch.inference_mode():
        out = model.generate(**inputs, do_sample=False, max_new_tokens=new_tokens)
    return new_tokens_until_eos(out, prompt_length=inputs["input_ids"].shape[1], eos=engine.token_ids.eos)


def test_cache_hit_gives_the_same_answer(engine, photos):
    request = Request(prompt="What is in this picture?", images=(photos[0],))
    gen = GenerationConfig(max_tokens=6)
    first = engine.generate([request], gen)[0].token_ids
    again = engine.generate([Request(prompt="What is in this picture?", images=(photos[0],))], gen)[0].token_ids
    assert first == again


def _compressed(tiny_checkpoint, compress: str) -> Engine:
    from vlmcli.reduction.compress import parse_compress
    from vlmcli.reduction.reducer import TokenReduction

    reduction = TokenReduction(compress=parse_compress(compress))
    return Engine.load(
        EngineConfig(model=str(tiny_checkpoint(FAMILY)), device="cpu", dtype="float32", reduction=reduction)
    )


def test_pooling_is_refused_since_perceiver_latents_have_no_grid(tiny_checkpoint, photos):
    engine = _compressed(tiny_checkpoint, "pool:2")
    with pytest.raises(ConfigError, match="perceiver:M"):
        engine.adapter.prepare(Request(prompt="What is it?", images=(photos[0],)))


@pytest.mark.parametrize(("compress", "per_view"), [("perceiver:3", 3)])
def test_compression_resizes_each_view(tiny_checkpoint, photos, compress, per_view):
    engine = _compressed(tiny_checkpoint, compress)
    request = Request(prompt="What is it?", images=(photos[0],))
    (result,) = engine.generate([request], GenerationConfig(max_tokens=3))
    assert result.visual_tokens == 5 * per_view
    prepared = engine.adapter.prepare(request)
    ids = prepared.input_ids.tolist()
    assert ids.count(engine.adapter.image_token_id) == 5 * per_view
    fake = engine.loaded.processor.tokenizer.convert_tokens_to_ids("<fake_token_around_image>")
    assert ids.count(fake) == 6  # the markers are kept around every view


def test_video_goes_in_as_frames(engine):
    pixels = np.zeros((3, 48, 64, 3), np.uint8)
    for i in range(3):
        pixels[i, :, :, i] = 200
    video = VideoInput(frames=pixels, timestamps=[0.0, 0.5, 1.0], fps=2.0, source="clip")
    (result,) = engine.generate([Request(prompt="What happens?", videos=(video,))], GenerationConfig(max_tokens=4))
    assert result.visual_tokens == 3 * 5 * SEQ  # three frames, each split like an image
    assert result.completion_tokens >= 1


# --- the CLI ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def photo_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("photos") / "photo.png"
    sample_photos()[1].save(path)
    return path


def test_vlm_ask_end_to_end_and_dry_run(tiny_checkpoint, photo_path, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    folder = str(tiny_checkpoint(FAMILY))
    runner = CliRunner()
    asked = runner.invoke(app, ["ask", "--model", folder, str(photo_path), "q", "--max-tokens", "4", "--json"])
    assert asked.exit_code == 0, asked.output
    answer = json.loads(asked.stdout)
    assert answer["visual_tokens"] == 5 * SEQ and answer["completion_tokens"] >= 1
    dry = runner.invoke(app, ["ask", "--model", folder, str(photo_path), "q", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    image = json.loads(dry.stdout)["images"][0]
    assert image["visual_tokens"] == 5 * SEQ and image["tiles"] == 5 and image["grid"] == [2, 2]
    capped = runner.invoke(app, ["ask", "--model", folder, str(photo_path), "q", "--dry-run", "--json",
                                 "--max-tiles", "1"])  # fmt: skip
    assert capped.exit_code == 0, capped.output
    assert json.loads(capped.stdout)["images"][0]["visual_tokens"] == SEQ


def test_min_pixels_turns_splitting_on_for_a_single_view_checkpoint(tiny_checkpoint, tmp_path, photos):
    """A checkpoint that does not split (idefics2-8b's default): the floor raises the cost,
    the plan says so, and the engine feeds exactly that; a cap below 4 crops wins."""
    folder = tmp_path / "idefics2-single"
    shutil.copytree(tiny_checkpoint(FAMILY), folder)
    config_path = folder / "processor_config.json"
    if not config_path.exists() or "do_image_splitting" not in config_path.read_text():
        config_path = folder / "preprocessor_config.json"
    config = json.loads(config_path.read_text())
    target = config.get("image_processor", config)
    target["do_image_splitting"] = False
    config_path.write_text(json.dumps(config))
    image = photos[1]
    costs = {}
    for name, policy in {
        "native": ResolutionPolicy(),
        "floor": ResolutionPolicy(min_pixels=20_000),
        "floor+cap": ResolutionPolicy(min_pixels=20_000, max_tiles=2),
    }.items():
        adapter = load_planner(EngineConfig(model=str(folder), resolution=policy)).adapter
        (plan,) = adapter.plan_images([(image.image.width, image.image.height)])
        prepared = adapter.prepare(Request(prompt="Describe.", images=(image,)))
        assert plan.visual_tokens == prepared.visual_tokens == int((prepared.input_ids == adapter.image_token_id).sum())
        costs[name] = plan.visual_tokens
    assert costs == {"native": SEQ, "floor": 5 * SEQ, "floor+cap": SEQ}


def test_one_pixel_sides_plan_like_the_processor_or_are_refused_when_split():
    """A side under 2 px has empty quarters (the processor fails on them): refused with a
    clear InputError when splitting; without splitting planned exactly as the processor."""
    from transformers import Idefics2ImageProcessor

    from vlmcli.errors import InputError

    spec = Idefics2Spec(longest_edge=64, shortest_edge=24, image_seq_len=SEQ, patch_size=8)
    processor = Idefics2ImageProcessor(size={"shortest_edge": 24, "longest_edge": 64}, do_image_splitting=False)
    for width, height in [(1, 1), (1, 10), (10, 1), (1024, 1), (1, 1024), (300, 1)]:
        out = processor(
            images=[np.zeros((height, width, 3), np.uint8)], input_data_format="channels_last", return_tensors="pt"
        )
        mask = out["pixel_attention_mask"][0, 0].bool()
        plan = plan_idefics2(spec, ResolutionPolicy(), width=width, height=height)
        assert plan.resized == (int(mask[0].sum()), int(mask[:, 0].sum())), (width, height)
        with pytest.raises(InputError, match="--max-tiles 1"):
            plan_idefics2(replace(spec, do_image_splitting=True), ResolutionPolicy(), width=width, height=height)
        split_capped = plan_idefics2(
            replace(spec, do_image_splitting=True), ResolutionPolicy(max_tiles=1), width=width, height=height
        )
        assert split_capped == plan
