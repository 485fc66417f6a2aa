"""`ResolutionPolicy`, its mapping onto each family's native knobs, and `ImagePlan`."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vlmcli.errors import ConfigError
from vlmcli.tiling import (
    Idefics3Spec,
    ImagePlan,
    LlavaNextSpec,
    LlavaOnevisionSpec,
    LlavaSpec,
    QwenSpec,
    ResolutionPolicy,
    anyres_pinpoints,
    idefics3_longest_edge,
    plan_idefics3,
    plan_llava15,
    plan_llava_next,
    plan_qwen,
    qwen_pixel_bounds,
)
from vlmcli.tiling.anyres_floor import FLOOR_SEARCH

NATIVE = ResolutionPolicy()


# --- the policy itself ---------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [{"max_tiles": 0}, {"max_pixels": -1}, {"min_pixels": 0}, {"max_tiles": 2.5}, {"max_tiles": True},
     {"min_pixels": 10, "max_pixels": 9}],
)  # fmt: skip
def test_policy_rejects_impossible_settings(kwargs):
    with pytest.raises(ConfigError):
        ResolutionPolicy(**kwargs)


def test_policy_tile_bounds():
    assert NATIVE.is_native and NATIVE.tile_cap(336) is None and NATIVE.tile_bounds(336) == (1, None)
    policy = ResolutionPolicy(max_tiles=6, max_pixels=4 * 336 * 336 + 5, min_pixels=2 * 336 * 336 + 1)
    assert not policy.is_native
    assert policy.tile_cap(336) == 4  # max_pixels is the tighter cap
    assert policy.min_tiles(336) == 3
    assert policy.tile_bounds(336) == (3, 4)
    assert ResolutionPolicy(max_tiles=2, min_pixels=10**7).tile_bounds(336) == (2, 2)  # caps win
    with pytest.raises(ConfigError, match="below one 336x336 tile"):
        ResolutionPolicy(max_pixels=1000).tile_cap(336)


# --- Qwen ----------------------------------------------------------------------------


def test_qwen_pixel_bounds():
    spec = QwenSpec()
    assert qwen_pixel_bounds(spec, NATIVE) == (3136, 1003520)
    assert qwen_pixel_bounds(spec, ResolutionPolicy(max_pixels=500_000, min_pixels=10_000)) == (10_000, 500_000)
    assert qwen_pixel_bounds(spec, ResolutionPolicy(max_tiles=2)) == (3136, 2 * 448 * 448)
    assert qwen_pixel_bounds(QwenSpec(patch_size=16), ResolutionPolicy(max_tiles=1)) == (3136, 512 * 512)
    assert qwen_pixel_bounds(spec, ResolutionPolicy(min_pixels=2_000_000, max_tiles=1)) == (448 * 448, 448 * 448)
    with pytest.raises(ConfigError):
        qwen_pixel_bounds(spec, ResolutionPolicy(max_pixels=100))
    with pytest.raises(ConfigError):
        QwenSpec(min_pixels=10, max_pixels=5)


def test_plan_qwen():
    plan = plan_qwen(QwenSpec(), NATIVE, width=1920, height=1080)
    assert plan.to_dict() == {
        "path": None, "width": 1920, "height": 1080, "resized": [1316, 728], "grid": [1, 1], "tiles": 1,
        "visual_tokens": 1222,
    }  # fmt: skip
    capped = plan_qwen(QwenSpec(), ResolutionPolicy(max_tiles=1), width=1920, height=1080)
    assert capped.visual_tokens <= 256


# --- Idefics3 ------------------------------------------------------------------------


def test_idefics3_longest_edge_mapping():
    spec = Idefics3Spec(longest_edge=4 * 512, max_image_size=512, image_seq_len=64)  # SmolVLM
    assert idefics3_longest_edge(spec, NATIVE, width=1920, height=1080) == 2048
    # 16:9 at 2048 is 3x4 = 12 crops; at 1536 it is 2x3 = 6, the largest within 6
    assert idefics3_longest_edge(spec, ResolutionPolicy(max_tiles=6), width=1920, height=1080) == 1536
    assert idefics3_longest_edge(spec, ResolutionPolicy(max_tiles=5), width=1920, height=1080) == 1024
    assert idefics3_longest_edge(spec, ResolutionPolicy(max_tiles=1), width=1920, height=1080) == 512
    # a cap never raises the edge above the native one, whatever the image
    assert idefics3_longest_edge(spec, ResolutionPolicy(max_tiles=6), width=6000, height=500) == 2048
    assert idefics3_longest_edge(spec, ResolutionPolicy(max_tiles=100), width=640, height=480) == 2048
    assert idefics3_longest_edge(spec, ResolutionPolicy(max_tiles=100), width=4000, height=3000) == 2048
    # a floor raises the edge above the native one (as far as 4096), and a cap lowers it again
    floor = ResolutionPolicy(min_pixels=20 * 512 * 512)
    assert idefics3_longest_edge(spec, floor, width=1000, height=1000) == 2560
    assert idefics3_longest_edge(spec, ResolutionPolicy(min_pixels=10**9), width=1000, height=1000) == 4096
    capped = ResolutionPolicy(min_pixels=20 * 512 * 512, max_tiles=9)
    assert idefics3_longest_edge(spec, capped, width=1000, height=1000) == 1536
    # splitting off: the edge is irrelevant, the native one is kept
    off = Idefics3Spec(do_image_splitting=False)
    assert idefics3_longest_edge(off, ResolutionPolicy(max_tiles=2), width=1920, height=1080) == off.longest_edge


def test_plan_idefics3():
    spec = Idefics3Spec(longest_edge=2048, max_image_size=512, image_seq_len=64)
    plan = plan_idefics3(spec, NATIVE, width=1920, height=1080)
    assert (plan.grid, plan.tiles, plan.visual_tokens, plan.resized) == ((3, 4), 13, 13 * 64, (2048, 1536))
    single = plan_idefics3(spec, ResolutionPolicy(max_tiles=1), width=1920, height=1080)
    assert (single.grid, single.tiles, single.visual_tokens, single.resized) == ((1, 1), 1, 64, (512, 512))


# --- LLaVA family --------------------------------------------------------------------


def test_anyres_pinpoints_mapping():
    spec = LlavaNextSpec()
    assert anyres_pinpoints(spec, NATIVE) == spec.image_grid_pinpoints
    # a cap filters the native canvases (2-tile ones remain); it never adds larger ones
    assert anyres_pinpoints(spec, ResolutionPolicy(max_tiles=2)) == ((336, 672), (672, 336))
    # max_pixels counts the base view: 3 tiles leave 2 crops
    assert anyres_pinpoints(spec, ResolutionPolicy(max_pixels=3 * 336 * 336)) == ((336, 672), (672, 336))
    assert anyres_pinpoints(spec, ResolutionPolicy(max_pixels=2 * 336 * 336)) == ((336, 336),)
    assert anyres_pinpoints(spec, ResolutionPolicy(max_tiles=9)) == spec.image_grid_pinpoints
    # no native canvas fits one tile: grids up to the cap are generated
    assert anyres_pinpoints(spec, ResolutionPolicy(max_pixels=336 * 336)) == ((336, 336),)
    # a floor keeps the native canvases first and adds every grid up to FLOOR_SEARCH x its
    # crops (within the caps); `anyres_input_size` then picks each image's canvas
    three = anyres_pinpoints(spec, ResolutionPolicy(min_pixels=3 * 336 * 336))
    assert three[:5] == spec.image_grid_pinpoints and (1008, 1344) in three and (1344, 1344) not in three
    capped = anyres_pinpoints(spec, ResolutionPolicy(min_pixels=5 * 336 * 336, max_tiles=4))
    assert capped[:3] == ((336, 672), (672, 336), (672, 672)) and max(h * w for h, w in capped) == 4 * 336 * 336


def test_plan_llava_next_and_onevision():
    plan = plan_llava_next(LlavaNextSpec(), NATIVE, width=1920, height=1080)
    assert (plan.grid, plan.tiles, plan.visual_tokens, plan.resized) == ((2, 2), 5, 1948, (672, 378))
    small = plan_llava_next(LlavaNextSpec(), ResolutionPolicy(max_tiles=1), width=1920, height=1080)
    assert (small.grid, small.tiles) == ((1, 1), 2)
    # base + the 24x24 map unpadded to 14 rows (13.5 px of content, padding removed in pairs) + 14 newlines
    assert small.visual_tokens == 576 + 14 * 24 + 14
    ov = plan_llava_next(LlavaOnevisionSpec(), NATIVE, width=1920, height=1080)
    assert (ov.grid, ov.tiles, ov.visual_tokens) == ((3, 5), 16, 7269)
    multi = plan_llava_next(LlavaOnevisionSpec(), NATIVE, width=1920, height=1080, multi_image=True)
    assert (multi.grid, multi.tiles, multi.visual_tokens, multi.resized) == ((1, 1), 1, 730, (384, 384))
    with pytest.raises(ConfigError):
        plan_llava_next(LlavaNextSpec(), NATIVE, width=0, height=10)


def test_plan_llava15():
    spec = LlavaSpec()
    plain = plan_llava15(spec, NATIVE, width=1920, height=1080)
    assert (plain.grid, plain.tiles, plain.visual_tokens, plain.resized) == ((1, 1), 1, 576, (336, 336))  # centre crop
    assert plan_llava15(spec, ResolutionPolicy(max_tiles=4), width=1920, height=1080) == plain  # a cap never tiles
    tiled = plan_llava15(spec, ResolutionPolicy(min_pixels=4 * 336 * 336), width=1920, height=1080)
    assert (tiled.grid, tiled.tiles, tiled.visual_tokens) == ((2, 3), 7, 7 * 576)  # 2x2 would show 672x378 only
    assert tiled.resized == (1008, 567)  # letterboxed content inside the 1008x672 canvas, >= the floor
    forced = plan_llava15(spec, ResolutionPolicy(min_pixels=2 * 336 * 336), width=100, height=100)
    assert forced.grid == (2, 2) and forced.tiles == 5  # a 1x2 grid would show 336x336 and a blank crop
    capped = plan_llava15(spec, ResolutionPolicy(min_pixels=4 * 336 * 336, max_tiles=2), width=1920, height=1080)
    assert capped.grid == (1, 2) and capped.tiles == 3  # caps win over the floor


# --- max_tiles means the same for every family ----------------------------------------

TILED = [
    ("llava15", lambda p, w, h: plan_llava15(LlavaSpec(), p, width=w, height=h)),
    ("next", lambda p, w, h: plan_llava_next(LlavaNextSpec(), p, width=w, height=h)),
    ("onevision", lambda p, w, h: plan_llava_next(LlavaOnevisionSpec(), p, width=w, height=h)),
    ("smolvlm", lambda p, w, h: plan_idefics3(Idefics3Spec(2048, 512, 64), p, width=w, height=h)),
]


@settings(max_examples=100, deadline=None)
@given(
    family=st.sampled_from(TILED),
    width=st.integers(1, 6000),
    height=st.integers(1, 6000),
    max_tiles=st.integers(1, 12),
)
def test_max_tiles_caps_crops_for_every_tiled_family(family, width, height, max_tiles):
    _, plan_for = family
    plan = plan_for(ResolutionPolicy(max_tiles=max_tiles), width, height)
    rows, cols = plan.grid
    assert rows * cols <= max_tiles
    assert plan.tiles <= max_tiles + 1  # + the global/thumbnail view
    assert plan.visual_tokens >= 1


@settings(max_examples=100, deadline=None)
@given(width=st.integers(1, 8000), height=st.integers(1, 8000), max_tiles=st.integers(1, 12))
def test_max_tiles_caps_qwen_tokens(width, height, max_tiles):
    if max(width, height) / min(width, height) > 50:  # very thin images hit the 1-cell floor
        return
    plan = plan_qwen(QwenSpec(), ResolutionPolicy(max_tiles=max_tiles), width=width, height=height)
    assert plan.visual_tokens <= max_tiles * 256


# --- ImagePlan -----------------------------------------------------------------------


def test_image_plan_record():
    plan = ImagePlan(width=10, height=20, resized=[8, 16], grid=(1, 2), tiles=3, visual_tokens=99)
    assert plan.resized == (8, 16)
    labelled = plan.with_path("a.jpg")
    assert labelled.path == "a.jpg" and plan.path is None
    record = labelled.to_dict()
    assert list(record) == ["path", "width", "height", "resized", "grid", "tiles", "visual_tokens"]
    assert json.loads(json.dumps(record)) == record
    for bad in ({"tiles": 0}, {"resized": (1,)}, {"grid": (0, 1)}, {"width": 1.5}):
        with pytest.raises(ValueError):
            ImagePlan(**{**dict(width=1, height=1, resized=(1, 1), grid=(1, 1), tiles=1, visual_tokens=1), **bad})


@pytest.mark.parametrize("spec", [LlavaNextSpec(), LlavaOnevisionSpec()], ids=["next", "onevision"])
def test_a_higher_floor_never_gives_less_resolution(spec):
    """Grids of exactly ceil(P / tile^2) crops: a prime count (113) was a 1 x 113 strip, a
    451x300 photo fed at 64x42, less than with no floor at all."""
    tile = spec.image_size
    default = plan_llava_next(spec, NATIVE, width=451 * 8, height=300 * 8)
    best = default.resized[0] * default.resized[1]
    native_most = max((h // tile) * (w // tile) for h, w in spec.image_grid_pinpoints)
    for crops in range(5, 130):
        plan = plan_llava_next(spec, ResolutionPolicy(min_pixels=crops * tile * tile), width=451 * 8, height=300 * 8)
        rows, cols = plan.grid
        assert crops <= rows * cols <= max(native_most, crops * FLOOR_SEARCH)
        assert plan.resized[0] * plan.resized[1] >= best, (crops, plan.grid, plan.resized)
