"""Per-family resize rules and visual-token counts, without transformers.

Golden numbers below were cross-checked against transformers' processors (see
test_tiling_agreement.py, which recomputes them live).
"""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from vlmcli.errors import ConfigError, InputError
from vlmcli.tiling import (
    Idefics3Spec,
    LlavaNextSpec,
    LlavaOnevisionSpec,
    LlavaSpec,
    SelectStrategy,
    anyres_visual_tokens,
    idefics3_image_seq_len,
    idefics3_layout,
    idefics3_prompt_tokens,
    parse_anyres_max,
    qwen_visual_tokens,
    smart_resize,
)
from vlmcli.tiling.qwen import ceil_by_factor, floor_by_factor, round_by_factor

# --- Qwen smart_resize -----------------------------------------------------------------


def test_factor_helpers():
    assert round_by_factor(42, 28) == 56 and round_by_factor(41, 28) == 28
    assert round_by_factor(14, 28) == 0  # round(0.5) == 0: banker's rounding, as in transformers
    assert ceil_by_factor(29, 28) == 56 and ceil_by_factor(28, 28) == 28
    assert floor_by_factor(55, 28) == 28 and floor_by_factor(27, 28) == 0


@settings(max_examples=200, deadline=None)
@given(
    height=st.integers(1, 8000),
    width=st.integers(1, 8000),
    factor=st.sampled_from([28, 32]),
    min_cells=st.integers(1, 64),
    extra_cells=st.integers(0, 4000),
)
def test_smart_resize_properties(height, width, factor, min_cells, extra_cells):
    assume(max(height, width) / min(height, width) <= 200)
    min_pixels = min_cells * factor * factor
    max_pixels = (min_cells + extra_cells) * factor * factor
    h, w = smart_resize(height=height, width=width, factor=factor, min_pixels=min_pixels, max_pixels=max_pixels)
    assert h % factor == 0 and w % factor == 0 and h >= factor and w >= factor
    rounded = round_by_factor(height, factor) * round_by_factor(width, factor)
    if rounded > max_pixels:  # scaled down: within the cap unless a side hit the factor floor
        assert h * w <= max_pixels or factor in (h, w)
    elif rounded < min_pixels:  # scaled up: at least the floor
        assert h * w >= min_pixels
    else:
        assert min_pixels <= h * w <= max_pixels
    # aspect ratio: each side is off the exact scaled size by less than one factor
    if min(h, w) >= 8 * factor:
        assert abs(math.log((h / w) / (height / width))) < 2.5 * factor / min(h, w)


def test_smart_resize_examples():
    assert smart_resize(height=1080, width=1920, factor=28, min_pixels=3136, max_pixels=1003520) == (728, 1316)
    assert smart_resize(height=16, width=16, factor=28, min_pixels=3136, max_pixels=1003520) == (56, 56)
    assert smart_resize(height=1, width=10, factor=28, min_pixels=3136, max_pixels=1003520) == (28, 196)
    with pytest.raises(ValueError, match="aspect ratio"):
        smart_resize(height=1, width=201, factor=28, min_pixels=3136, max_pixels=1003520)


def test_qwen_visual_tokens():
    tokens, grid_thw, resized = qwen_visual_tokens(
        height=1080, width=1920, patch_size=14, merge_size=2, min_pixels=3136, max_pixels=1003520
    )
    assert (tokens, grid_thw, resized) == (1222, (1, 52, 94), (728, 1316))
    tokens, grid_thw, _ = qwen_visual_tokens(
        height=1080, width=1920, patch_size=16, merge_size=2, min_pixels=4096, max_pixels=16384 * 32 * 32
    )
    assert grid_thw == (1, 68, 120) and tokens == 68 * 120 // 4  # Qwen3-VL factor 32
    with pytest.raises(InputError, match="too elongated"):
        qwen_visual_tokens(height=1, width=1024, patch_size=14, merge_size=2, min_pixels=3136, max_pixels=1003520)
    with pytest.raises(ConfigError):
        qwen_visual_tokens(height=10, width=10, patch_size=0, merge_size=2, min_pixels=1, max_pixels=10)


# --- Idefics3 / SmolVLM ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "rows_cols", "canvas"),
    [
        ((1920, 1080), (3, 4), (1456, 1092)),  # Idefics3 defaults: 4 x 364 longest edge
        ((1080, 1920), (4, 3), (1092, 1456)),
        ((16, 16), (4, 4), (1456, 1456)),  # tiny images are upscaled to the longest edge
        ((5000, 200), (1, 4), (1456, 364)),
        ((364, 10), (1, 4), (1456, 364)),
    ],
)
def test_idefics3_layout_defaults(size, rows_cols, canvas):
    layout = idefics3_layout(width=size[0], height=size[1], longest_edge=1456, max_image_size=364)
    assert (layout.rows, layout.cols) == rows_cols
    assert (layout.canvas_width, layout.canvas_height) == canvas
    assert layout.encoder_images == rows_cols[0] * rows_cols[1] + 1


def test_idefics3_no_split_cases():
    # longest edge of one tile: no split, one image, rows = cols = 0 like transformers
    layout = idefics3_layout(width=640, height=480, longest_edge=364, max_image_size=364)
    assert (layout.rows, layout.cols, layout.encoder_images, layout.crops) == (0, 0, 1, 1)
    assert not layout.split
    off = idefics3_layout(width=4000, height=3000, longest_edge=1456, max_image_size=364, do_image_splitting=False)
    assert (off.encoder_images, off.canvas_width, off.canvas_height) == (1, 364, 364)


def test_idefics3_layout_caps_long_sides_at_4096():
    layout = idefics3_layout(width=9000, height=300, longest_edge=8192, max_image_size=512)
    assert layout.canvas_width == 4096 and layout.cols == 8


def test_idefics3_token_helpers():
    assert idefics3_image_seq_len(image_size=364, patch_size=14, scale_factor=2) == 169
    assert idefics3_image_seq_len(image_size=512, patch_size=16, scale_factor=4) == 64
    split = idefics3_layout(width=1920, height=1080, longest_edge=1456, max_image_size=364)
    # 12 tiles: rows * (cols * (seq + 2) + 1) + "\n" + fake + global + seq + fake
    assert idefics3_prompt_tokens(split, image_seq_len=64) == 3 * (4 * 66 + 1) + 64 + 3
    assert idefics3_prompt_tokens(split, image_seq_len=64, double_newline_tokens=2) == 3 * (4 * 66 + 1) + 64 + 4
    single = idefics3_layout(width=10, height=10, longest_edge=364, max_image_size=364)
    assert idefics3_prompt_tokens(single, image_seq_len=64) == 67
    with pytest.raises(ConfigError):
        idefics3_layout(width=10, height=10, longest_edge=0, max_image_size=364)
    with pytest.raises(ConfigError):
        Idefics3Spec(image_seq_len=0)


# --- LLaVA family ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "tokens"),
    [((1920, 1080), 1948), ((1080, 1920), 1968), ((640, 480), 2340), ((16, 16), 1176), ((336, 336), 1176)],
)
def test_llava_next_default_counts(size, tokens):
    assert anyres_visual_tokens(LlavaNextSpec(), width=size[0], height=size[1]) == tokens


def test_llava_next_thin_image_keeps_only_the_base_view():
    """5000x1: every pinpoint "keeps" 0 px, so the least wasteful (336x672) wins, and
    unpadding removes every feature row: only the base view's 576 (+1 CLS -1) tokens remain."""
    assert anyres_visual_tokens(LlavaNextSpec(), width=5000, height=1) == 576


@pytest.mark.parametrize(
    ("size", "tokens"),
    [((1920, 1080), 7269), ((640, 480), 2929), ((16, 16), 1485), ((5000, 200), 1870), ((384, 384), 1485)],
)
def test_llava_onevision_counts(size, tokens):
    assert anyres_visual_tokens(LlavaOnevisionSpec(), width=size[0], height=size[1]) == tokens


def test_llava_onevision_multi_image_uses_base_view_only():
    spec = LlavaOnevisionSpec()
    assert anyres_visual_tokens(spec, width=1920, height=1080, multi_image=True) == 729 + 1
    # LLaVA-NeXT has no such rule
    next_spec = LlavaNextSpec()
    assert anyres_visual_tokens(next_spec, width=1920, height=1080, multi_image=True) == 1948


def test_llava15_tokens_per_image():
    assert LlavaSpec().tokens_per_image == 576  # CLS dropped by "default"
    assert LlavaSpec(vision_feature_select_strategy="full").tokens_per_image == 577
    assert LlavaSpec(vision_feature_select_strategy="full").vision_feature_select_strategy is SelectStrategy.FULL


def test_llava_specs_validate():
    with pytest.raises(ConfigError, match="default' or 'full"):
        LlavaSpec(vision_feature_select_strategy="cls")
    with pytest.raises(ConfigError, match="multiples"):
        LlavaNextSpec(image_grid_pinpoints=((336, 500),))
    with pytest.raises(ConfigError):
        LlavaNextSpec(image_grid_pinpoints=())
    with pytest.raises(ConfigError):
        LlavaOnevisionSpec(max_num_patches=0)
    assert LlavaNextSpec(image_grid_pinpoints=[[336, 672]]).image_grid_pinpoints == ((336, 672),)
    assert parse_anyres_max("anyres_max_9") == 9
    with pytest.raises(ConfigError):
        parse_anyres_max("anyres")
