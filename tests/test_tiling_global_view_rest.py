"""--max-pixels counts every view the vision encoder gets, the global/thumbnail view included,
for InternVL, Idefics2, LFM2-VL, Gemma 3 (pan-and-scan) and MiniCPM-V too.

Each test adds up the pixels of the views the processor really makes (sizes from the
planners' own mirrors of the processors, which tests/test_tiling_agreement.py checks against
transformers) and compares them with the cap; a cap below what a family encodes at the
least is refused. tests/test_tiling_pixel_bounds.py has the same rule for LLaVA and Idefics3.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from vlmcli.errors import ConfigError, InputError
from vlmcli.tiling import ResolutionPolicy
from vlmcli.tiling.gemma3 import Gemma3Spec, plan_gemma3
from vlmcli.tiling.idefics2 import Idefics2Spec, idefics2_settings, idefics2_views, plan_idefics2
from vlmcli.tiling.internvl import InternVLSpec, plan_internvl
from vlmcli.tiling.lfm2_vl import Lfm2VlSpec, lfm2_vl_settings, lfm2_vl_smart_resize, plan_lfm2_vl
from vlmcli.tiling.minicpmv4_6 import (
    MiniCPMV4_6Spec,
    minicpmv4_6_layout,
    minicpmv4_6_slice_limit,
    plan_minicpmv4_6,
)

SIZES = [(512, 512), (451, 300), (1920, 1080), (4000, 3000), (3000, 4000), (6000, 500), (500, 3000), (100, 100)]


def caps(tile: int) -> list[int]:
    """Caps around whole numbers of `tile` px views, from one view to twelve."""
    area = tile * tile
    return sorted({n * area + extra for n in range(1, 13) for extra in (0, area // 2, area - 1)})


def test_internvl_counts_the_thumbnail():
    spec = InternVLSpec()
    for cap in caps(spec.tile):
        for width, height in SIZES:
            plan = plan_internvl(spec, ResolutionPolicy(max_pixels=cap), width=width, height=height)
            assert plan.tiles * spec.tile**2 <= cap, (cap, width, height, plan)
    # 3 tiles' worth: 2 crops + the thumbnail (before: 3 crops + the thumbnail, 4 tiles)
    plan = plan_internvl(spec, ResolutionPolicy(max_pixels=3 * 448 * 448), width=4000, height=1000)
    assert plan.grid == (1, 2) and plan.tiles == 3
    # 2 tiles' worth: one crop, the unsplit image, which has no thumbnail
    assert plan_internvl(spec, ResolutionPolicy(max_pixels=2 * 448 * 448), width=4000, height=1000).tiles == 1
    with pytest.raises(ConfigError, match="below one"):
        plan_internvl(spec, ResolutionPolicy(max_pixels=448 * 448 - 1), width=640, height=480)


def test_gemma3_counts_the_global_view():
    spec = Gemma3Spec(do_pan_and_scan=True)
    view = spec.image_size**2
    for cap in caps(spec.image_size):
        for width, height in SIZES:
            plan = plan_gemma3(spec, ResolutionPolicy(max_pixels=cap), width=width, height=height)
            assert plan.tiles * view <= cap, (cap, width, height, plan)
    wide = ResolutionPolicy(max_pixels=3 * view)  # the global view and 2 crops (before: 3 crops)
    assert plan_gemma3(spec, wide, width=6000, height=500).tiles == 3
    assert plan_gemma3(spec, ResolutionPolicy(max_pixels=2 * view), width=6000, height=500).tiles == 1
    for policy in (ResolutionPolicy(max_pixels=view - 1), ResolutionPolicy(max_pixels=1000)):
        with pytest.raises(ConfigError, match="below one 896x896 view"):  # before: the view, over the cap
            plan_gemma3(Gemma3Spec(), policy, width=640, height=480)


def test_gemma3_floor_and_cap_count_the_global_view():
    spec = Gemma3Spec()
    view = spec.image_size**2
    policy = ResolutionPolicy(min_pixels=4 * view, max_pixels=4 * view)
    plan = plan_gemma3(spec, policy, width=6000, height=500)
    assert plan.tiles == 4 and plan.tiles * view <= 4 * view


@pytest.mark.parametrize("spec", [Idefics2Spec(do_image_splitting=True), Idefics2Spec()], ids=["split", "single"])
def test_idefics2_counts_the_whole_image_of_a_split(spec):
    for cap in [*caps(spec.shortest_edge), 10**6, 4 * 10**6]:
        for width, height in SIZES:
            settings = idefics2_settings(spec, ResolutionPolicy(max_pixels=cap), [(width, height)])
            views = idefics2_views(
                width=width, height=height, split=settings.do_image_splitting,
                shortest_edge=settings.shortest_edge, longest_edge=settings.longest_edge,
            )  # fmt: skip
            assert sum(w * h for w, h in views) <= cap, (cap, width, height, settings, views)
            plan = plan_idefics2(spec, ResolutionPolicy(max_pixels=cap), width=width, height=height)
            assert plan.tiles == len(views)


def test_idefics2_split_needs_room_for_five_views():
    spec = Idefics2Spec(do_image_splitting=True)
    least = 5 * spec.shortest_edge**2
    assert idefics2_settings(spec, ResolutionPolicy(max_pixels=least), [(4000, 3000)]).do_image_splitting
    # 4 crops of the least size fit, the whole image beside them does not: one view
    assert not idefics2_settings(spec, ResolutionPolicy(max_pixels=least - 1), [(4000, 3000)]).do_image_splitting


def test_idefics2_prompt_images_share_one_setting_within_the_cap():
    spec = Idefics2Spec(do_image_splitting=True)
    sizes = [(4000, 3000), (300, 2000), (640, 480)]
    cap = 1_500_000
    settings = idefics2_settings(spec, ResolutionPolicy(max_pixels=cap), sizes)
    for width, height in sizes:
        views = idefics2_views(
            width=width, height=height, split=settings.do_image_splitting,
            shortest_edge=settings.shortest_edge, longest_edge=settings.longest_edge,
        )  # fmt: skip
        assert sum(w * h for w, h in views) <= cap


def _lfm2_pixels(spec: Lfm2VlSpec, policy: ResolutionPolicy, *, width: int, height: int) -> int:
    """Pixels of every view the LFM2-VL processor makes: tiles and thumbnail, or the one view."""
    knobs = lfm2_vl_settings(spec, policy)
    plan = plan_lfm2_vl(spec, policy, width=width, height=height)
    rows, cols = plan.grid
    if rows * cols == 1:
        return plan.resized[0] * plan.resized[1]
    thumb_w, thumb_h = lfm2_vl_smart_resize(knobs, width=width, height=height)
    return rows * cols * knobs.tile_size**2 + (thumb_w * thumb_h if knobs.use_thumbnail else 0)


def test_lfm2_vl_counts_the_thumbnail():
    spec = Lfm2VlSpec()
    for cap in caps(spec.tile_size):
        for width, height in SIZES:
            pixels = _lfm2_pixels(spec, ResolutionPolicy(max_pixels=cap), width=width, height=height)
            assert pixels <= cap, (cap, width, height, pixels)
    # 3 tiles' worth: 2 tiles + the thumbnail (before: 3 tiles + the thumbnail)
    plan = plan_lfm2_vl(spec, ResolutionPolicy(max_pixels=3 * 512 * 512), width=4000, height=1000)
    assert plan.grid[0] * plan.grid[1] == 2 and plan.tiles == 3
    # a floor that asks for tiles is capped the same way (caps win)
    both = ResolutionPolicy(min_pixels=2 * 10**6, max_pixels=2 * 10**6)
    assert _lfm2_pixels(spec, both, width=4000, height=3000) <= 2 * 10**6


def layout_pixels(layout) -> int:
    """Pixels of the MiniCPM-V thumbnail and every slice."""
    slice_h, slice_w = layout.slice_size
    return layout.thumbnail[0] * layout.thumbnail[1] + layout.slices * slice_h * slice_w


def test_minicpmv_counts_the_thumbnail():
    spec = MiniCPMV4_6Spec()
    for cap in caps(spec.scale_resolution):
        for width, height in SIZES:
            policy = ResolutionPolicy(max_pixels=cap)
            try:
                limit = minicpmv4_6_slice_limit(spec, policy, [(width, height)])
            except InputError as refused:  # the thumbnail alone is over the cap
                assert "thumbnail" in str(refused)
                thumb = minicpmv4_6_layout(replace(spec, max_slice_nums=1), width=width, height=height).thumbnail
                assert thumb[0] * thumb[1] > cap
                continue
            layout = minicpmv4_6_layout(replace(spec, max_slice_nums=limit), width=width, height=height)
            assert layout_pixels(layout) <= cap, (cap, width, height, layout)
            assert plan_minicpmv4_6(spec, policy, width=width, height=height).tiles == 1 + layout.slices
    # 4000x3000 at 9 tiles' worth: the thumbnail and at most 8 slices (before: 9 slices, 10 views)
    plan = plan_minicpmv4_6(spec, ResolutionPolicy(max_pixels=9 * 448 * 448), width=4000, height=3000)
    assert plan.tiles <= 9


def test_minicpmv_thin_image_over_the_cap_is_refused():
    spec = MiniCPMV4_6Spec()
    with pytest.raises(InputError, match="thumbnail"):  # a 56-px short side, 14000 px long
        plan_minicpmv4_6(spec, ResolutionPolicy(max_pixels=448 * 448), width=14000, height=14)
    with pytest.raises(ConfigError, match="below one"):
        plan_minicpmv4_6(spec, ResolutionPolicy(max_pixels=1000), width=640, height=480)
