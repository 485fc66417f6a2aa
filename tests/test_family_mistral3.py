"""Mistral 3 (`mistral3`): Pixtral variable resolution, caps and the floor onto `longest_edge`,
per-image canvases in a batch, videos as frames, and `vlm ask` end to end on the tiny checkpoint.

Parity alone and batched at the default resolution, dry-run token counts and planner
agreement are in the registry-parametrised tests (test_engine_parity,
test_engine_token_budget, test_tiling_caps, test_tiling_agreement); this file covers what
is Mistral 3's own.
"""

from __future__ import annotations

import json

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
from vlmcli.testing.mistral3 import LONGEST_EDGE, MERGE, PATCH, TOWER_EDGE
from vlmcli.testing.reference import hf_greedy
from vlmcli.tiling import ResolutionPolicy
from vlmcli.tiling.mistral3 import Mistral3Spec, mistral3_edge, plan_mistral3

FAMILY = "mistral3"
CELL = PATCH * MERGE  # 16 px per visual token in the tiny checkpoint
CHELSEA = Image.fromarray(skimage.data.chelsea())  # 451x300
SIZES = [(512, 512), (451, 300), (600, 400), (1920, 1080), (4000, 3000), (3000, 4000), (6000, 500), (100, 100),
         (448, 448), (896, 448), (10, 1000), (1540, 1540), (3000, 20)]  # fmt: skip
CAPS = [{"max_tiles": t} for t in (1, 2, 3, 4, 6, 9, 16, 36)] + [
    {"max_pixels": p} for p in (20_000, 300_000, 10**6, 4 * 10**6, 10**8)
]


cost = prompt_visual_tokens  # (folder, policy, request) -> visual tokens, checked against adapter and planner


# --- the pure mapping at Mistral-Small-3.1's defaults (1540 px, 28-px cells) --------------------


def test_default_plan_is_the_hub_models():
    spec = Mistral3Spec()
    assert spec.cell == 28 and spec.tile == 448
    plan = plan_mistral3(spec, ResolutionPolicy(), width=1920, height=1080)
    # ratio 1920/1540: 1540 x 866 -> 55 x 31 cells of 28 px
    assert plan.resized == (1540, 868) and plan.visual_tokens == 55 * 31 and plan.grid == (1, 1) and plan.tiles == 1
    small = plan_mistral3(spec, ResolutionPolicy(), width=100, height=60)  # never upscaled: 4 x 3 cells
    assert small.resized == (112, 84) and small.visual_tokens == 12


def test_caps_never_raise_the_cost_and_keep_the_edge_at_most_the_checkpoints():
    spec = Mistral3Spec()
    for base in ({}, {"min_pixels": 2 * 10**6}):
        for width, height in SIZES:
            before = plan_mistral3(spec, ResolutionPolicy(**base), width=width, height=height)
            for cap in CAPS:
                if cap.get("max_pixels", 10**9) < base.get("min_pixels", 0):
                    continue
                policy = ResolutionPolicy(**base, **cap)
                try:
                    after = plan_mistral3(spec, policy, width=width, height=height)
                except ConfigError as error:
                    assert "below one" in str(error) and (width, height) == (3000, 20), (cap, width, height)
                    continue
                assert after.visual_tokens <= before.visual_tokens, (base, cap, width, height)
                w, h = after.resized
                if "max_pixels" in cap:
                    assert w * h <= cap["max_pixels"]
                else:
                    assert w * h <= cap["max_tiles"] * 448 * 448
                if not base:
                    assert mistral3_edge(spec, policy, width=width, height=height) <= spec.longest_edge


def test_min_pixels_raises_the_edge_up_to_the_tower_and_upscales_small_images():
    spec = Mistral3Spec()
    raised = plan_mistral3(spec, ResolutionPolicy(min_pixels=400_000), width=100, height=60)
    w, h = raised.resized
    assert w * h >= 400_000 and abs(w / h - 100 / 60) < 0.1  # upscaled, aspect kept
    # at most the tower's 1540 px: a 2000x2000 floor on a photo stops at the default's size
    top = plan_mistral3(spec, ResolutionPolicy(min_pixels=4 * 10**6), width=4000, height=3000)
    assert top == plan_mistral3(spec, ResolutionPolicy(), width=4000, height=3000)
    # caps win over the floor
    capped = plan_mistral3(spec, ResolutionPolicy(min_pixels=400_000, max_tiles=1), width=100, height=60)
    assert capped.resized[0] * capped.resized[1] <= 448 * 448


def test_max_pixels_below_one_canvas_is_refused():
    with pytest.raises(ConfigError, match="below one"):
        plan_mistral3(Mistral3Spec(), ResolutionPolicy(max_pixels=500), width=640, height=480)


# --- the tiny checkpoint ----------------------------------------------------------------------


def test_adapter_reads_the_checkpoints_knobs(tiny_checkpoint):
    adapter = load_planner(EngineConfig(model=str(tiny_checkpoint(FAMILY)))).adapter
    assert adapter._spec() == Mistral3Spec(
        longest_edge=LONGEST_EDGE, patch_size=PATCH, spatial_merge_size=MERGE, max_edge=TOWER_EDGE
    )


def test_min_pixels_above_the_default_is_applied_and_caps_lower(tiny_checkpoint):
    folder = str(tiny_checkpoint(FAMILY))
    request = Request(prompt="Describe.", images=(ImageInput(CHELSEA),))
    native = cost(folder, ResolutionPolicy(), request)
    assert native == 6 * 4  # 96 x 63 -> 6 x 4 cells
    raised = cost(folder, ResolutionPolicy(min_pixels=20_000), request)
    assert raised > native and raised * CELL * CELL >= 20_000
    assert cost(folder, ResolutionPolicy(min_pixels=8_000, max_pixels=8_000), request) * CELL * CELL <= 8_000
    for cap in CAPS:
        assert cost(folder, ResolutionPolicy(**cap), request) <= native
    assert cost(folder, ResolutionPolicy(max_pixels=3_000), request) < native


@pytest.mark.parametrize(
    "policy",
    [ResolutionPolicy(min_pixels=12_000), ResolutionPolicy(max_pixels=4_000)],
    ids=["floor-upscales", "cap-lowers"],
)
def test_greedy_matches_generate_under_a_policy_alone_and_batched(tiny_checkpoint, policy):
    """The per-image resize (upscaling included) is the processor's own, so transformers'
    generate fed by the same processor gives the same tokens; images of different canvases
    share one tower call."""
    folder = str(tiny_checkpoint(FAMILY))
    engine = Engine.load(EngineConfig(model=folder, device="cpu", dtype="float32", resolution=policy))
    photos = [ImageInput(p, source=f"photo{i}") for i, p in enumerate(sample_photos())]
    one = Request(prompt="What is in this picture?", images=(photos[0],))
    two = Request(prompt="Which of these two photos is brighter, and why?", images=(photos[1], photos[3]))
    gen = GenerationConfig(max_tokens=8)
    with engine.adapter.resolution_applied():
        expected_one = hf_greedy(engine, [one], new_tokens=8)
        expected_batch = hf_greedy(engine, [one, two], new_tokens=8)
    assert [r.token_ids for r in engine.generate([one], gen)] == expected_one
    assert [r.token_ids for r in engine.generate([one, two], gen)] == expected_batch
    sizes = [(p.image.width, p.image.height) for p in photos[:2]]
    plans = engine.adapter.plan_images(sizes)
    native = load_planner(EngineConfig(model=folder)).adapter.plan_images(sizes)
    if policy.min_pixels:
        assert all(p.visual_tokens > n.visual_tokens for p, n in zip(plans, native))
    else:
        assert all(p.visual_tokens < n.visual_tokens for p, n in zip(plans, native))


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
    assert native == 3 * 6 * 5  # 320x240 -> 96x72 -> 6 x 5 cells per frame
    for cap in CAPS:
        assert cost(folder, ResolutionPolicy(**cap), request) <= native
    assert cost(folder, ResolutionPolicy(min_pixels=20_000), request) > native


def test_compress_perceiver_rewrites_the_run_and_pool_is_refused(tiny_checkpoint):
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
    pooled = engine.adapter.__class__(
        model=engine.adapter.model, processor=engine.adapter.processor, model_type=FAMILY,
        reduction=TokenReduction(compress=parse_compress("pool:2")),
    )  # fmt: skip
    with pytest.raises(ConfigError, match="perceiver"):
        pooled.prepare(request)


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
    assert plain["images"][0]["visual_tokens"] == 24 and plain["images"][0]["resized"] == [96, 64]
    capped = json.loads(runner.invoke(app, [*base, "--max-pixels", "3000"]).stdout)
    assert capped["images"][0]["visual_tokens"] < 24
    w, h = capped["images"][0]["resized"]
    assert w * h <= 3000
    raised = json.loads(runner.invoke(app, [*base, "--min-pixels", "20000"]).stdout)
    w, h = raised["images"][0]["resized"]
    assert w * h >= 20_000 and raised["images"][0]["visual_tokens"] == w * h // (CELL * CELL)
