"""Caps only lower: `--max-tiles` / `--max-pixels` never cost more than no flag, for every family.

Issue 15, item 7: on the reference model (a Qwen3-VL with small default pixel bounds)
`--max-tiles 1` gave 256 visual tokens where no flag gave 64, because a cap replaced the
checkpoint's bound instead of taking the smaller of the two. Here, on real photos
(scikit-image's astronaut, chelsea, coffee) and on every family's tiny checkpoint (whose
defaults are small, so real photos hit them), every cap costs at most the default and the
plan still equals what the engine feeds. `--min-pixels` is the one flag that may raise
the cost: above the default it is applied (the plan shows the larger size), and a floor
above a cap is an error that names both values.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from PIL import Image
from typer.testing import CliRunner

from vlmcli.testing.fakes import isolate_env
from vlmcli.cli import app
from vlmcli.engine import EngineConfig, ImageInput, Request
from vlmcli.engine.loader import load_planner
from vlmcli.engine.video_input import VideoInput
from vlmcli.errors import ConfigError
from vlmcli.testing import MODEL_TYPES
from vlmcli.tiling import (
    Idefics3Spec,
    LlavaNextSpec,
    LlavaOnevisionSpec,
    LlavaSpec,
    QwenSpec,
    ResolutionPolicy,
    plan_idefics3,
    plan_llava15,
    plan_llava_next,
    plan_qwen,
    qwen_pixel_bounds,
    qwen_video_size,
)

REFERENCE = str(Path(__file__).resolve().parents[1] / "models" / "reference")
NATIVE = ResolutionPolicy()
CAPS = [
    ResolutionPolicy(max_tiles=1),
    ResolutionPolicy(max_tiles=2),
    ResolutionPolicy(max_tiles=4),
    ResolutionPolicy(max_tiles=9),
    ResolutionPolicy(max_pixels=20_000),
    ResolutionPolicy(max_pixels=10**8),
    ResolutionPolicy(max_tiles=16, max_pixels=10**7),
]


def _photos() -> dict[str, Image.Image]:
    return {name: Image.fromarray(getattr(skimage.data, name)()) for name in ("astronaut", "chelsea", "coffee")}


PHOTOS = _photos()  # 512x512, 451x300, 600x400


def fed(adapter, request: Request) -> tuple[int, int]:
    """(visual tokens the adapter reports, image placeholders really in the prompt)."""
    prepared = adapter.prepare(request)
    return prepared.visual_tokens, int(adapter.visual_mask(prepared.input_ids[None]).sum())


def image_cost(folder: str, policy: ResolutionPolicy, photo: Image.Image) -> int:
    """Visual tokens the engine feeds for `photo` under `policy`, checked against the plan."""
    adapter = load_planner(EngineConfig(model=folder, resolution=policy)).adapter
    (plan,) = adapter.plan_images([photo.size])
    reported, in_prompt = fed(adapter, Request(prompt="Describe.", images=(ImageInput(photo),)))
    assert plan.visual_tokens == reported == in_prompt, (folder, policy)
    return in_prompt


# --- the reproduction: the reference model ----------------------------------------------------


@pytest.mark.parametrize("name", sorted(PHOTOS))
def test_reference_model_cap_never_raises_the_cost(name):
    photo = PHOTOS[name]
    native = image_cost(REFERENCE, NATIVE, photo)
    assert 50 <= native <= 64  # the reference processor's default: at most 256x256 px
    for policy in CAPS:
        if policy.max_pixels == 20_000:
            assert image_cost(REFERENCE, policy, photo) < native  # a cap below the default lowers it
        else:
            assert image_cost(REFERENCE, policy, photo) == native  # before the fix: 256 with --max-tiles 1


def test_reference_dry_run_with_max_tiles_1_matches_the_issue(tmp_path, monkeypatch):
    isolate_env(monkeypatch, tmp_path)
    path = tmp_path / "astronaut.png"
    PHOTOS["astronaut"].save(path)
    runner = CliRunner()
    base = ["ask", "--model", REFERENCE, str(path), "q", "--dry-run", "--json"]
    plain = json.loads(runner.invoke(app, base).stdout)
    capped = json.loads(runner.invoke(app, [*base, "--max-tiles", "1"]).stdout)
    assert capped["images"][0]["visual_tokens"] <= plain["images"][0]["visual_tokens"] == 64
    assert capped["images"][0]["resized"] == plain["images"][0]["resized"] == [256, 256]


# --- every family's tiny checkpoint -------------------------------------------------------------


@pytest.mark.parametrize("family", MODEL_TYPES)
def test_caps_never_cost_more_than_the_default(family, tiny_checkpoint):
    folder = str(tiny_checkpoint(family))
    for name, photo in PHOTOS.items():
        native = image_cost(folder, NATIVE, photo)
        for policy in CAPS:
            try:
                capped = image_cost(folder, policy, photo)
            except ConfigError as error:  # a pixel cap below one tile is refused, never ignored
                assert "below one" in str(error) and policy.max_pixels is not None
                continue
            assert capped <= native, (family, name, policy, capped, native)


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen3_vl", "idefics3", "llava", "llava_next"])
def test_min_pixels_above_the_default_is_applied(family, tiny_checkpoint):
    """A floor above the default raises the cost, and the plan (the dry run) shows it."""
    folder = str(tiny_checkpoint(family))
    photo = PHOTOS["chelsea"]
    native = image_cost(folder, NATIVE, photo)
    floor = ResolutionPolicy(min_pixels=200_000)
    raised = image_cost(folder, floor, photo)
    assert raised > native, (family, raised, native)
    adapter = load_planner(EngineConfig(model=folder, resolution=floor)).adapter
    plan = adapter.plan_images([photo.size])[0]
    width, height = plan.resized
    rows, cols = plan.grid
    assert width * height >= 0.9 * 200_000 or rows * cols > 1  # upscaled (Qwen: to whole cells), or more crops
    # adding a cap to the floor never raises the cost either
    capped = ResolutionPolicy(min_pixels=200_000, max_tiles=2)
    assert image_cost(folder, capped, photo) <= raised


def test_reference_min_pixels_above_the_default_is_reported(tmp_path, monkeypatch):
    isolate_env(monkeypatch, tmp_path)
    path = tmp_path / "coffee.png"
    PHOTOS["coffee"].save(path)
    result = CliRunner().invoke(app, ["ask", "-m", REFERENCE, str(path), "q", "--dry-run", "--json",
                                      "--min-pixels", "200000"])  # fmt: skip
    assert result.exit_code == 0, result.output
    image = json.loads(result.stdout)["images"][0]
    width, height = image["resized"]
    # Qwen's floor holds up to smart_resize's rounding to whole 32-px cells
    assert width * height >= 0.9 * 200_000 and image["visual_tokens"] > 64


# --- video frames: the same rule for the per-frame bounds ---------------------------------------


def _clip(photo: Image.Image, frames: int = 4) -> VideoInput:
    """Frames panning across a real photo, 320x240."""
    pixels = np.stack([np.asarray(photo.crop((8 * i, 0, 8 * i + 320, 240))) for i in range(frames)])
    return VideoInput(frames=pixels, timestamps=tuple(i * 0.5 for i in range(frames)), fps=2.0, source="clip")


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen3_vl", "smolvlm", "llava", "llava_next", "idefics3"])
def test_caps_never_raise_frame_tokens(family, tiny_checkpoint):
    folder = str(tiny_checkpoint(family))
    request = Request(prompt="What happens?", videos=(_clip(PHOTOS["coffee"]),))
    costs = {}
    for policy in [NATIVE, *CAPS]:
        adapter = load_planner(EngineConfig(model=folder, resolution=policy)).adapter
        try:
            reported, in_prompt = fed(adapter, request)
        except ConfigError as error:
            assert "below one" in str(error)
            continue
        assert reported == in_prompt
        costs[policy] = in_prompt
    assert all(cost <= costs[NATIVE] for cost in costs.values()), (family, costs)


def test_qwen3_clip_cap_keeps_the_per_frame_default():
    """Qwen3-VL bounds the clip (the reference model: 1048576 px, so 65536 per frame of a
    16-frame clip): `--max-tiles 1` (one 512-px tile per frame) must keep that share."""
    spec = QwenSpec(patch_size=16, min_pixels=8192, max_pixels=1048576)  # models/reference's video processor
    native = qwen_video_size(spec, NATIVE, frames=16, per_clip=True, capped=True)
    assert native[1] == 1048576
    for policy in CAPS:
        low, high = qwen_video_size(spec, policy, frames=16, per_clip=True, capped=True)
        assert low <= high <= native[1], policy  # before the fix: 16 x 512^2 with --max-tiles 1
    low, high = qwen_video_size(spec, ResolutionPolicy(min_pixels=100_000), frames=16, per_clip=True, capped=True)
    assert high == 16 * 100_000 and low == 100_000  # a floor above the share raises it


# --- the pure mapping, at real models' defaults and real-world sizes ------------------------------

SIZES = [(512, 512), (451, 300), (600, 400), (1920, 1080), (4000, 3000), (3000, 4000), (6000, 500), (100, 100)]
PLANNERS = {  # family: (tile side, planner)
    "qwen2_vl": (448, lambda p, w, h: plan_qwen(QwenSpec(), p, width=w, height=h)),
    "reference": (
        512,
        lambda p, w, h: plan_qwen(QwenSpec(patch_size=16, min_pixels=4096, max_pixels=65536), p, width=w, height=h),
    ),
    "idefics3": (364, lambda p, w, h: plan_idefics3(Idefics3Spec(), p, width=w, height=h)),
    "smolvlm": (512, lambda p, w, h: plan_idefics3(Idefics3Spec(2048, 512, 64), p, width=w, height=h)),
    "llava_next": (336, lambda p, w, h: plan_llava_next(LlavaNextSpec(), p, width=w, height=h)),
    "llava_onevision": (384, lambda p, w, h: plan_llava_next(LlavaOnevisionSpec(), p, width=w, height=h)),
    "llava": (336, lambda p, w, h: plan_llava15(LlavaSpec(), p, width=w, height=h)),
}
PURE_CAPS = [{"max_tiles": t} for t in (1, 2, 3, 4, 6, 9, 16, 36)] + [
    {"max_pixels": p} for p in (300_000, 10**6, 4 * 10**6, 10**8)
]


@pytest.mark.parametrize("family", sorted(PLANNERS))
def test_adding_a_cap_never_raises_the_cost(family):
    """With no floor, any cap; with a floor (which may raise the cost above the default),
    any cap that leaves room for it (a cap below the floor wins over it: see README)."""
    tile, plan_for = PLANNERS[family]
    for base in ({}, {"min_pixels": 2 * 10**6}):
        floor_tiles = ResolutionPolicy(**base).min_tiles(tile)
        for width, height in SIZES:
            before = plan_for(ResolutionPolicy(**base), width, height).visual_tokens
            for cap in PURE_CAPS:
                if cap.get("max_pixels", 10**9) < base.get("min_pixels", 0):
                    continue  # a pixel cap below the floor is refused (see the last test)
                policy = ResolutionPolicy(**base, **cap)
                if policy.tile_bounds(tile)[0] < floor_tiles:
                    continue  # the cap is below the floor's tiles: the cap wins
                capped = plan_for(policy, width, height)
                if base and capped.resized[0] * capped.resized[1] < base["min_pixels"]:
                    continue  # the floor needs more crops than the cap allows: the cap wins
                after = capped.visual_tokens
                assert after <= before, (family, base, cap, width, height, after, before)


def test_qwen_bounds_take_the_smaller_cap():
    spec = QwenSpec(patch_size=16, min_pixels=4096, max_pixels=65536)  # the reference model
    assert qwen_pixel_bounds(spec, ResolutionPolicy(max_tiles=1)) == (4096, 65536)
    assert qwen_pixel_bounds(spec, ResolutionPolicy(max_pixels=10**7)) == (4096, 65536)
    assert qwen_pixel_bounds(spec, ResolutionPolicy(max_pixels=20_000)) == (4096, 20_000)
    assert qwen_pixel_bounds(spec, ResolutionPolicy(min_pixels=200_000)) == (200_000, 200_000)  # the floor raises
    assert qwen_pixel_bounds(spec, ResolutionPolicy(min_pixels=200_000, max_pixels=300_000)) == (200_000, 200_000)
    assert qwen_pixel_bounds(spec, ResolutionPolicy(min_pixels=400_000, max_tiles=1)) == (262_144, 262_144)  # caps win


# --- a floor above the cap is an error naming both values -----------------------------------------


def test_min_pixels_above_max_pixels_names_both_flags(tmp_path, monkeypatch):
    isolate_env(monkeypatch, tmp_path)
    path = tmp_path / "chelsea.png"
    PHOTOS["chelsea"].save(path)
    args = ["ask", "-m", REFERENCE, str(path), "q", "--min-pixels", "800000", "--max-pixels", "400000"]
    for extra in ([], ["--dry-run"], ["--dry-run", "--json"]):
        result = CliRunner().invoke(app, [*args, *extra])
        assert result.exit_code == 2, result.output
        assert result.stdout == ""
        assert result.stderr.count("\n") == 1
        assert "--min-pixels 800000 is larger than --max-pixels 400000" in result.stderr
    with pytest.raises(ConfigError, match="--min-pixels 800000 is larger than --max-pixels 400000"):
        ResolutionPolicy(min_pixels=800_000, max_pixels=400_000)
