"""vlmcli.tiling agrees with transformers' own processors, computed live.

Heavy (imports transformers' image processors, ~5-10 s), hence marked `slow`, and the
import happens in the `hf` fixture so that `-m "not slow"` does not pay for it. Everything
else about tiling is tested without transformers in the other test_tiling_* files.
Processors are built offline with tiny settings (tiles of 28-64 px) so calls are cheap.
"""

from __future__ import annotations

import types

import numpy as np
import pytest
from PIL import Image

from vlmcli.errors import ConfigError, InputError
from vlmcli.tiling import (
    Idefics3Spec,
    LlavaNextSpec,
    LlavaOnevisionSpec,
    LlavaSpec,
    QwenSpec,
    ResolutionPolicy,
    anyres_input_size,
    anyres_pinpoints,
    anyres_visual_tokens,
    choose_grid,
    cut_tiles,
    idefics3_layout,
    idefics3_longest_edge,
    pinpoints_for,
    plan_idefics3,
    plan_llava15,
    plan_llava_next,
    plan_qwen,
    qwen_pixel_bounds,
    qwen_prompt_bounds,
    qwen_visual_tokens,
    select_best_resolution,
    smart_resize,
)

pytestmark = pytest.mark.slow

CHANNELS_LAST = {"input_data_format": "channels_last"}
"""Say so explicitly: transformers guesses channels-first for 1- or 3-px-high arrays."""

# (width, height): squares, tiny, 1:10 and 10:1 panoramas, photos, extreme strips.
SIZES = [
    (1, 1), (2, 3), (16, 16), (1, 10), (10, 1), (10, 100), (100, 10), (64, 64), (65, 64),
    (129, 64), (224, 224), (336, 336), (337, 335), (640, 480), (800, 600), (1920, 1080),
    (1080, 1920), (384, 384), (4000, 3000), (3000, 4000), (5000, 200), (200, 5000),
    (1024, 1), (1, 1024), (300, 7), (333, 1000), (5000, 1),
]  # fmt: skip

PINPOINT_SETS = [
    [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]],  # LLaVA-NeXT v1.6
    [[r * 384, c * 384] for r in range(1, 7) for c in range(1, 7)],  # OneVision
    [list(p) for p in pinpoints_for(4, 336)],
    [list(p) for p in pinpoints_for(9, 64)],
]


@pytest.fixture(scope="module")
def hf() -> types.SimpleNamespace:
    """transformers' processors and reference functions, imported on first use."""
    pytest.importorskip("transformers")
    import transformers
    from transformers.image_processing_utils import select_best_resolution
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

    names = [
        "CLIPImageProcessor", "Idefics3ImageProcessor", "LlavaNextImageProcessor", "LlavaNextImageProcessorPil",
        "LlavaNextProcessor", "LlavaOnevisionImageProcessor", "LlavaOnevisionProcessor",
        "LlavaOnevisionVideoProcessor", "LlavaProcessor", "Qwen2VLImageProcessor",
    ]  # fmt: skip
    classes = {name: getattr(transformers, name) for name in names}
    return types.SimpleNamespace(select_best_resolution=select_best_resolution, smart_resize=smart_resize, **classes)


def _tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({"<unk>": 0, "<image>": 1, "<video>": 2, "hi": 3}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>")
    fast.add_special_tokens({"additional_special_tokens": ["<image>", "<video>"]})
    return fast


@pytest.fixture(scope="module")
def tokenizer(hf):
    return _tokenizer()


def _blank(width: int, height: int) -> np.ndarray:
    return np.zeros((height, width, 3), dtype=np.uint8)  # (H, W, C)


def _fed(spec: LlavaNextSpec, policy: ResolutionPolicy, width: int, height: int) -> np.ndarray:
    """A blank image at the size the LLaVA-NeXT adapter hands the processor (`anyres_input_size`)."""
    return _blank(*anyres_input_size(spec, policy, width=width, height=height))


# --- anyres grid ---------------------------------------------------------------------


@pytest.mark.parametrize("pinpoints", PINPOINT_SETS, ids=["next", "onevision", "4x336", "9x64"])
def test_select_best_resolution_matches_transformers(hf, pinpoints):
    for width, height in SIZES:
        assert select_best_resolution((height, width), pinpoints) == tuple(
            hf.select_best_resolution((height, width), pinpoints)
        ), (width, height)


def test_cut_tiles_match_llava_next_patches_pixel_for_pixel(hf):
    tile = 28
    processor = hf.LlavaNextImageProcessorPil(
        size={"shortest_edge": tile},
        crop_size={"height": tile, "width": tile},
        image_grid_pinpoints=[list(p) for p in pinpoints_for(4, tile)],
    )
    rng = np.random.default_rng(0)
    for width, height in [(100, 10), (10, 100), (50, 37), (77, 77), (300, 200), (1, 10), (5000, 1)]:
        pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)  # (H, W, C)
        expected = processor.get_image_patches(
            pixels.transpose(2, 0, 1).copy(),  # (C, H, W)
            processor.image_grid_pinpoints,
            size=(tile, tile),
            patch_size=tile,
            resample=3,  # bicubic
        )[1:]  # drop the base image
        grid = choose_grid(width=width, height=height, tile_size=tile, max_tiles=4)
        tiles = cut_tiles(Image.fromarray(pixels), grid)
        assert len(tiles) == len(expected), (width, height)
        for ours, theirs in zip(tiles, expected):
            np.testing.assert_array_equal(np.asarray(ours).transpose(2, 0, 1), theirs)


# --- Qwen ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("factor", "min_pixels", "max_pixels"),
    [(28, 56 * 56, 28 * 28 * 1280), (32, 32 * 32 * 4, 32 * 32 * 256), (28, 4 * 28 * 28, 8 * 28 * 28), (28, 1, 10**8)],
)
def test_smart_resize_matches_transformers(hf, factor, min_pixels, max_pixels):
    for width, height in SIZES:
        try:
            expected = hf.smart_resize(height, width, factor=factor, min_pixels=min_pixels, max_pixels=max_pixels)
        except ValueError:
            with pytest.raises(ValueError):
                smart_resize(height=height, width=width, factor=factor, min_pixels=min_pixels, max_pixels=max_pixels)
            with pytest.raises(InputError):
                qwen_visual_tokens(
                    height=height,
                    width=width,
                    patch_size=factor // 2,
                    merge_size=2,
                    min_pixels=min_pixels,
                    max_pixels=max_pixels,
                )
            continue
        ours = smart_resize(height=height, width=width, factor=factor, min_pixels=min_pixels, max_pixels=max_pixels)
        assert ours == expected, (width, height)


def test_qwen_tokens_match_image_processor(hf):
    processor = hf.Qwen2VLImageProcessor(min_pixels=4 * 28 * 28, max_pixels=16 * 28 * 28)
    for width, height in SIZES:
        if max(width, height) / min(width, height) > 200:
            continue
        tokens, grid_thw, _ = qwen_visual_tokens(
            height=height, width=width, patch_size=14, merge_size=2, min_pixels=4 * 28 * 28, max_pixels=16 * 28 * 28
        )
        assert tokens * 4 == processor.get_number_of_image_patches(height, width), (width, height)
        if width * height <= 2_000_000:
            out = processor(images=[_blank(width, height)], **CHANNELS_LAST)
            assert tuple(int(v) for v in out["image_grid_thw"][0]) == grid_thw, (width, height)


# --- Idefics3 / SmolVLM ---------------------------------------------------------------


@pytest.mark.parametrize(("longest_edge", "splitting"), [(256, True), (200, True), (256, False)])
def test_idefics3_layout_matches_image_processor(hf, longest_edge, splitting):
    """200 is not a multiple of the 64 px tile: transformers' own
    `get_number_of_image_patches` then disagrees with its `preprocess` (e.g. 1920x1080 ->
    2x4 vs 3x4); we follow `preprocess`, which decides the prompt."""
    processor = hf.Idefics3ImageProcessor(
        size={"longest_edge": longest_edge}, max_image_size={"longest_edge": 64}, do_image_splitting=splitting
    )
    spec = Idefics3Spec(longest_edge=longest_edge, max_image_size=64, image_seq_len=16, do_image_splitting=splitting)
    sizes = SIZES if splitting else [(w, h) for w, h in SIZES if w * h < 10**6]  # always 1 image: skip big ones
    for width, height in sizes:
        out = processor(
            images=[_blank(width, height)], return_row_col_info=True, return_tensors="pt", **CHANNELS_LAST
        )
        layout = idefics3_layout(
            width=width, height=height, longest_edge=longest_edge, max_image_size=64, do_image_splitting=splitting
        )
        assert (out["rows"][0][0], out["cols"][0][0]) == (layout.rows, layout.cols), (width, height)
        assert out["pixel_values"].shape[1] == layout.encoder_images, (width, height)
        plan = plan_idefics3(spec, ResolutionPolicy(), width=width, height=height)
        assert plan.visual_tokens == 16 * out["pixel_values"].shape[1]


# --- LLaVA family ---------------------------------------------------------------------


def _next_processor(hf, tokenizer, *, tile, patch, pinpoints, strategy, extra):
    image_processor = hf.LlavaNextImageProcessor(
        size={"shortest_edge": tile}, crop_size={"height": tile, "width": tile}, image_grid_pinpoints=pinpoints
    )
    return hf.LlavaNextProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=patch,
        vision_feature_select_strategy=strategy,
        num_additional_image_tokens=extra,
    )


@pytest.mark.parametrize(("strategy", "extra"), [("default", 1), ("full", 0), ("full", 1)])
def test_llava_next_counts_match_processor(hf, tokenizer, strategy, extra):
    pinpoints = PINPOINT_SETS[0]
    processor = _next_processor(hf, tokenizer, tile=336, patch=14, pinpoints=pinpoints, strategy=strategy, extra=extra)
    spec = LlavaNextSpec(
        image_size=336,
        patch_size=14,
        vision_feature_select_strategy=strategy,
        num_additional_image_tokens=extra,
        image_grid_pinpoints=pinpoints,
    )
    counts = processor._get_num_multimodal_tokens(image_sizes=[(h, w) for w, h in SIZES])["num_image_tokens"]
    assert [anyres_visual_tokens(spec, width=w, height=h) for w, h in SIZES] == counts


def test_llava_next_prompt_expansion_matches(hf, tokenizer):
    """End to end: the `<image>` tokens the real processor puts in input_ids."""
    pinpoints = [list(p) for p in pinpoints_for(4, 28)]
    processor = _next_processor(hf, tokenizer, tile=28, patch=7, pinpoints=pinpoints, strategy="default", extra=1)
    spec = LlavaNextSpec(image_size=28, patch_size=7, image_grid_pinpoints=pinpoints)
    for width, height in SIZES[:12] + [(5000, 200), (5000, 1)]:
        out = processor(images=[_blank(width, height)], text="hi <image>", images_kwargs=CHANNELS_LAST)
        assert out["input_ids"][0].count(1) == anyres_visual_tokens(spec, width=width, height=height), (width, height)


def _onevision_processor(hf, tokenizer, *, tile, patch, pinpoints, strategy="full"):
    image_processor = hf.LlavaOnevisionImageProcessor(
        size={"height": tile, "width": tile}, image_grid_pinpoints=pinpoints
    )
    return hf.LlavaOnevisionProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=hf.LlavaOnevisionVideoProcessor(),
        num_image_tokens=(tile // patch) ** 2,
        vision_feature_select_strategy=strategy,
        vision_aspect_ratio="anyres_max_9",
    )


@pytest.mark.parametrize("strategy", ["full", "default"])
def test_llava_onevision_counts_match_processor(hf, tokenizer, strategy):
    processor = _onevision_processor(hf, tokenizer, tile=384, patch=14, pinpoints=PINPOINT_SETS[1], strategy=strategy)
    spec = LlavaOnevisionSpec(vision_feature_select_strategy=strategy)
    counts = processor._get_num_multimodal_tokens(image_sizes=[(h, w) for w, h in SIZES])["num_image_tokens"]
    assert [anyres_visual_tokens(spec, width=w, height=h) for w, h in SIZES] == counts


def test_llava_onevision_prompt_expansion_matches_single_and_multi_image(hf, tokenizer):
    pinpoints = [[r * 28, c * 28] for r in range(1, 7) for c in range(1, 7)]
    processor = _onevision_processor(hf, tokenizer, tile=28, patch=7, pinpoints=pinpoints)
    spec = LlavaOnevisionSpec(image_size=28, patch_size=7, image_grid_pinpoints=pinpoints)
    sizes = SIZES[:12] + [(5000, 200)]
    for width, height in sizes:
        out = processor(images=[_blank(width, height)], text="hi <image>", images_kwargs=CHANNELS_LAST)
        assert out["input_ids"][0].count(1) == anyres_visual_tokens(spec, width=width, height=height), (width, height)
    pair = [_blank(16, 16), _blank(100, 10)]
    out = processor(images=[pair], text="<image> <image>", images_kwargs=CHANNELS_LAST)
    per_image = anyres_visual_tokens(spec, width=16, height=16, multi_image=True)
    assert out["input_ids"][0].count(1) == 2 * per_image


def test_llava15_tokens_per_image_match_processor(hf, tokenizer):
    image_processor = hf.CLIPImageProcessor(size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336})
    for strategy, extra in [("default", 1), ("full", 1), ("full", 0)]:
        processor = hf.LlavaProcessor(
            image_processor=image_processor,
            tokenizer=tokenizer,
            patch_size=14,
            vision_feature_select_strategy=strategy,
            num_additional_image_tokens=extra,
        )
        expected = processor._get_num_multimodal_tokens(image_sizes=[(480, 640)])["num_image_tokens"][0]
        spec = LlavaSpec(vision_feature_select_strategy=strategy, num_additional_image_tokens=extra)
        assert spec.tokens_per_image == expected
        assert plan_llava15(spec, ResolutionPolicy(), width=480, height=640).visual_tokens == expected


# --- the policy, applied through each family's native knobs ---------------------------

POLICIES = [
    ResolutionPolicy(max_tiles=3),
    ResolutionPolicy(max_tiles=2, min_pixels=2 * 64 * 64),
    ResolutionPolicy(max_pixels=6 * 64 * 64),
]


@pytest.mark.parametrize("policy", POLICIES, ids=["tiles3", "tiles2-floor2", "pixels6"])
def test_policy_through_native_knobs(hf, tokenizer, policy):
    """Feed the knobs our mapping picks to the real processors; they must produce exactly
    the plan we predicted, within the policy's caps."""
    sizes = [(16, 16), (10, 100), (100, 10), (640, 480), (1920, 1080), (5000, 200)]
    cap = policy.tile_cap(64)
    # Idefics3: per-image longest_edge
    idefics = hf.Idefics3ImageProcessor(size={"longest_edge": 256}, max_image_size={"longest_edge": 64})
    spec = Idefics3Spec(longest_edge=256, max_image_size=64, image_seq_len=16)
    for width, height in sizes:
        edge = idefics3_longest_edge(spec, policy, width=width, height=height)
        out = idefics(
            images=[_blank(width, height)],
            size={"longest_edge": edge},
            return_row_col_info=True,
            **CHANNELS_LAST,
            return_tensors="pt",
        )
        plan = plan_idefics3(spec, policy, width=width, height=height)
        assert plan.tiles == out["pixel_values"].shape[1] and plan.tiles <= cap + 1, (width, height)
    # LLaVA-NeXT: pinpoints
    next_spec = LlavaNextSpec(image_size=64, patch_size=16, image_grid_pinpoints=[[64, 128], [128, 64], [128, 128]])
    pinpoints = [list(p) for p in anyres_pinpoints(next_spec, policy)]
    processor = _next_processor(hf, tokenizer, tile=64, patch=16, pinpoints=pinpoints, strategy="default", extra=1)
    for width, height in sizes:
        out = processor(images=[_fed(next_spec, policy, width, height)], text="hi <image>", images_kwargs=CHANNELS_LAST)
        plan = plan_llava_next(next_spec, policy, width=width, height=height)
        assert out["input_ids"][0].count(1) == plan.visual_tokens, (width, height)
        assert len(out["pixel_values"][0]) == plan.tiles <= cap + 1, (width, height)
    # Qwen: min/max pixels (a nominal tile is 448 px here, so scale the policy up)
    qwen_policy = ResolutionPolicy(
        max_tiles=policy.max_tiles,
        max_pixels=policy.max_pixels and policy.max_pixels * 49,
        min_pixels=policy.min_pixels and policy.min_pixels * 49,
    )
    min_pixels, max_pixels = qwen_pixel_bounds(QwenSpec(), qwen_policy)
    qwen = hf.Qwen2VLImageProcessor(min_pixels=min_pixels, max_pixels=max_pixels)
    for width, height in sizes[:5]:
        plan = plan_qwen(QwenSpec(), qwen_policy, width=width, height=height)
        assert plan.visual_tokens * 4 == qwen.get_number_of_image_patches(height, width), (width, height)


# --- InternVL: dynamic tiles + thumbnail ----------------------------------------------------


@pytest.mark.parametrize(
    "policy",
    [ResolutionPolicy(), ResolutionPolicy(max_tiles=3), ResolutionPolicy(max_pixels=5 * 64 * 64),
     ResolutionPolicy(min_pixels=4 * 64 * 64), ResolutionPolicy(min_pixels=2 * 64 * 64, max_tiles=3),
     ResolutionPolicy(min_pixels=20 * 64 * 64)],
    ids=["native", "tiles3", "pixels5", "floor4", "floor2-tiles3", "floor20"],
)  # fmt: skip
def test_internvl_plan_matches_image_processor(hf, policy):
    """plan_internvl's grid, tiles and resize equal GotOcr2ImageProcessor's crop (the
    knobs from internvl_patch_bounds passed as the InternVL processor passes them)."""
    from transformers import GotOcr2ImageProcessor
    from transformers.models.got_ocr2.image_processing_got_ocr2 import get_optimal_tiled_canvas

    from vlmcli.tiling.internvl import InternVLSpec, internvl_grid, internvl_patch_bounds, plan_internvl

    spec = InternVLSpec(tile=64, image_seq_length=16, min_patches=1, max_patches=6)
    processor = GotOcr2ImageProcessor(size={"height": 64, "width": 64}, min_patches=1, max_patches=6)
    least, most = internvl_patch_bounds(spec, policy)
    for width, height in SIZES:
        plan = plan_internvl(spec, policy, width=width, height=height)
        out = processor(
            images=[_blank(width, height)], crop_to_patches=True, min_patches=least, max_patches=most,
            return_tensors="pt", **CHANNELS_LAST,
        )  # fmt: skip
        assert plan.tiles == int(out["num_patches"][0]) == out["pixel_values"].shape[0], (width, height)
        assert plan.visual_tokens == plan.tiles * 16
        cols, rows = get_optimal_tiled_canvas((height, width), (64, 64), least, most)
        assert internvl_grid(width=width, height=height, tile=64, min_patches=least, max_patches=most) == (cols, rows)
        assert plan.grid == (rows, cols) and plan.resized == (cols * 64, rows * 64)
        if policy.max_tiles is not None or policy.max_pixels is not None:
            assert rows * cols <= policy.tile_cap(64)
        if policy.min_pixels is not None and policy.max_tiles is None:
            assert rows * cols >= policy.min_tiles(64)


# --- Idefics2 ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "policy",
    [
        ResolutionPolicy(),
        ResolutionPolicy(max_tiles=3),
        ResolutionPolicy(max_pixels=6 * 64 * 64),
        ResolutionPolicy(max_pixels=1500),
        ResolutionPolicy(min_pixels=2 * 64 * 64),
    ],
    ids=["native", "tiles3", "pixels6", "pixels1500", "floor2"],
)
@pytest.mark.parametrize("splitting", [True, False])
def test_idefics2_views_match_image_processor(hf, policy, splitting):
    """Every view's real (masked) size and the view count equal `plan_idefics2`'s, with the
    knobs `idefics2_settings` picks fed to the real processor."""
    from transformers import Idefics2ImageProcessor

    from vlmcli.tiling.idefics2 import Idefics2Spec, idefics2_settings, idefics2_views, plan_idefics2

    spec = Idefics2Spec(longest_edge=64, shortest_edge=24, image_seq_len=8, do_image_splitting=splitting, patch_size=8)
    processor = Idefics2ImageProcessor(size={"shortest_edge": 24, "longest_edge": 64}, do_image_splitting=splitting)
    for width, height in [(w, h) for w, h in SIZES if min(w, h) >= 2]:
        settings = idefics2_settings(spec, policy, [(width, height)])
        out = processor(
            images=[_blank(width, height)],
            size=settings.size(),
            do_image_splitting=settings.do_image_splitting,
            return_tensors="pt",
            **CHANNELS_LAST,
        )
        mask = out["pixel_attention_mask"][0].bool()  # (views, H, W)
        fed = [(int(m[0].sum()), int(m[:, 0].sum())) for m in mask]
        expected = idefics2_views(
            width=width,
            height=height,
            split=settings.do_image_splitting,
            shortest_edge=settings.shortest_edge,
            longest_edge=settings.longest_edge,
        )
        assert fed == expected, (width, height, policy)
        plan = plan_idefics2(spec, policy, width=width, height=height)
        assert plan.tiles == len(fed) and plan.visual_tokens == 8 * len(fed), (width, height, policy)
        if policy.max_pixels is not None:
            crops = fed[:4] if settings.do_image_splitting else fed
            assert sum(w * h for w, h in crops) <= max(policy.max_pixels, 4 * 8 * 8), (width, height, policy)


# --- LLaVA-NeXT-Video ----------------------------------------------------------------


@pytest.mark.parametrize(
    "policy",
    [ResolutionPolicy(), ResolutionPolicy(max_tiles=2), ResolutionPolicy(max_pixels=3 * 28 * 28),
     ResolutionPolicy(min_pixels=6 * 28 * 28)],
    ids=["native", "tiles2", "pixels3", "floor6"],
)
def test_llava_next_video_images_and_frames_match_processor(hf, tokenizer, policy):
    """`<image>` tokens under the policy's pinpoints and `<video>` tokens per frame, as the real
    LlavaNextVideoProcessor writes them."""
    from transformers import LlavaNextVideoProcessor, LlavaNextVideoVideoProcessor

    from vlmcli.tiling.llava_next_video import (
        LlavaNextVideoSpec,
        llava_next_video_frame_tokens,
        plan_llava_next_video,
    )

    tile, patch = 28, 7
    spec = LlavaNextVideoSpec(image_size=tile, patch_size=patch, image_grid_pinpoints=pinpoints_for(4, tile),
                              frame_size=(tile, tile))
    pinpoints = [list(p) for p in anyres_pinpoints(spec, policy)]
    crop = {"height": tile, "width": tile}
    processor = LlavaNextVideoProcessor(
        image_processor=hf.LlavaNextImageProcessor(size={"shortest_edge": tile}, crop_size=crop,
                                                   image_grid_pinpoints=pinpoints),
        video_processor=LlavaNextVideoVideoProcessor(size={"shortest_edge": tile}, crop_size=crop),
        tokenizer=tokenizer, patch_size=patch, vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
    )
    for width, height in SIZES[:12] + [(5000, 200), (5000, 1)]:
        out = processor(images=[_fed(spec, policy, width, height)], text="hi <image>", images_kwargs=CHANNELS_LAST)
        plan = plan_llava_next_video(spec, policy, width=width, height=height)
        assert int((out["input_ids"][0] == 1).sum()) == plan.visual_tokens, (width, height, policy)
    frames = np.zeros((3, 40, 64, 3), dtype=np.uint8)  # (T, H, W, C)
    out = processor(videos=[frames], text="hi <video>", return_tensors="np")
    assert (out["input_ids"][0] == 2).sum() == 3 * llava_next_video_frame_tokens(spec) == 3 * 4
    assert out["pixel_values_videos"].shape[-2:] == spec.frame_size


# --- Mistral 3: Pixtral variable resolution -------------------------------------------------


@pytest.mark.parametrize(
    "policy",
    [ResolutionPolicy(), ResolutionPolicy(max_tiles=1), ResolutionPolicy(max_pixels=5000),
     ResolutionPolicy(max_pixels=800), ResolutionPolicy(min_pixels=20_000),
     ResolutionPolicy(min_pixels=8000, max_pixels=30_000), ResolutionPolicy(min_pixels=40_000, max_tiles=1)],
    ids=["native", "tiles1", "pixels5000", "pixels800", "floor20000", "floor8000-pixels30000", "floor40000-tiles1"],
)  # fmt: skip
def test_mistral3_plan_matches_image_processor(hf, policy):
    """plan_mistral3's canvas and tokens equal PixtralImageProcessor's `image_sizes` with the
    planned `longest_edge` (as the Pixtral processor calls it: patch = patch x merge); where a
    floor upscales, the processor is given the image vlmcli upscales first."""
    from transformers import PixtralImageProcessor

    from vlmcli.errors import ConfigError
    from vlmcli.tiling.mistral3 import Mistral3Spec, mistral3_edge, pixtral_content_size, plan_mistral3

    spec = Mistral3Spec(longest_edge=112, patch_size=7, spatial_merge_size=2, max_edge=224)  # 14-px cells
    processor = PixtralImageProcessor(size={"longest_edge": 112}, patch_size={"height": 14, "width": 14})
    checked = 0
    for width, height in SIZES:
        try:
            plan = plan_mistral3(spec, policy, width=width, height=height)
        except (ConfigError, InputError) as error:  # the image's (InputError) or the settings' fault
            assert any(w in str(error) for w in ("too thin", "below one", "single")), (width, height)
            continue
        edge = mistral3_edge(spec, policy, width=width, height=height)
        image = _blank(width, height)
        if edge > max(width, height):  # a floor's upscale (vlmcli's own, before the processor)
            w, h = pixtral_content_size(width=width, height=height, edge=edge)
            image = np.array(Image.fromarray(image).resize((w, h)))
        out = processor(images=[image], size={"longest_edge": edge}, return_tensors="pt", **CHANNELS_LAST)
        canvas_h, canvas_w = (int(v) for v in out["image_sizes"][0])
        assert plan.resized == (canvas_w, canvas_h), (width, height, edge)
        assert plan.visual_tokens == (canvas_h // 14) * (canvas_w // 14)
        if policy.min_pixels is None:  # (a floor can lift an image natively one token, refused, into several)
            native = plan_mistral3(spec, ResolutionPolicy(), width=width, height=height)
            assert plan.visual_tokens <= native.visual_tokens  # caps never raise the cost
        if policy.max_tiles is not None:
            assert canvas_w * canvas_h <= policy.max_tiles * 224 * 224, (width, height)
        if policy.max_pixels is not None:
            assert canvas_w * canvas_h <= policy.max_pixels, (width, height)
        if policy.min_pixels is not None and canvas_w * canvas_h < policy.min_pixels:
            assert edge >= 224 or policy.max_pixels or policy.max_tiles, (width, height)  # the tower or a cap stops it
        checked += 1
    assert checked >= 20


# --- Qwen3.5 ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "policy",
    [ResolutionPolicy(), ResolutionPolicy(max_tiles=1), ResolutionPolicy(max_pixels=20_000),
     ResolutionPolicy(min_pixels=100_000), ResolutionPolicy(min_pixels=20_000, max_pixels=50_000)],
    ids=["native", "tiles1", "pixels20000", "floor100000", "floor20000-pixels50000"],
)  # fmt: skip
def test_qwen3_5_plan_matches_image_processor(hf, policy):
    """plan_qwen3_5's size and tokens equal the image processor Qwen3.5 checkpoints load
    (Qwen3VLProcessor's Qwen2VLImageProcessor, 16-px patches) given the planned bounds."""
    from vlmcli.tiling.qwen3_5 import Qwen3_5Spec, plan_qwen3_5

    spec = Qwen3_5Spec(patch_size=16, merge_size=2, min_pixels=4 * 32 * 32, max_pixels=32 * 32 * 32)
    checked = 0
    for width, height in SIZES:
        try:
            plan = plan_qwen3_5(spec, policy, width=width, height=height)
        except InputError:  # too elongated: the processor refuses it too
            assert max(width, height) / min(width, height) > 200, (width, height)
            continue
        low, high, resize = qwen_prompt_bounds(spec, policy, [(width, height)])  # as the adapter calls it
        processor = hf.Qwen2VLImageProcessor(
            size={"shortest_edge": low, "longest_edge": high}, patch_size=16, temporal_patch_size=2, merge_size=2
        )
        if resize:  # the adapter hands the processor the image already at the planned size
            width, height = plan.resized
        assert plan.visual_tokens * 4 == processor.get_number_of_image_patches(height, width), (width, height)
        if width * height <= 2_000_000:
            out = processor(images=[_blank(width, height)], **CHANNELS_LAST)
            t, h, w = (int(v) for v in out["image_grid_thw"][0])
            assert plan.resized == (w * 16, h * 16) and plan.visual_tokens == t * h * w // 4, (width, height)
        native = plan_qwen3_5(spec, ResolutionPolicy(), width=width, height=height)
        if policy.min_pixels is None:
            assert plan.visual_tokens <= native.visual_tokens  # caps never raise the cost
        checked += 1
    assert checked >= 10


# --- LFM2-VL: single view or tiles + thumbnail ----------------------------------------------


@pytest.mark.parametrize(
    "policy",
    [ResolutionPolicy(), ResolutionPolicy(max_tiles=1), ResolutionPolicy(max_tiles=2),
     ResolutionPolicy(max_pixels=10_000), ResolutionPolicy(max_pixels=5000), ResolutionPolicy(max_pixels=2000),
     ResolutionPolicy(min_pixels=1500), ResolutionPolicy(min_pixels=20_000),
     ResolutionPolicy(min_pixels=20_000, max_tiles=2)],
    ids=["native", "tiles1", "tiles2", "pixels10000", "pixels5000", "pixels2000", "floor1500", "floor20000",
         "floor20000-tiles2"],
)  # fmt: skip
def test_lfm2_vl_plan_matches_image_processor(hf, policy):
    """plan_lfm2_vl's grid, views and tokens equal Lfm2VlImageProcessor's output (rows of
    `spatial_shapes`, `image_rows`/`image_cols`) given the knobs `lfm2_vl_settings` picks."""
    from transformers import Lfm2VlImageProcessor

    from vlmcli.tiling.lfm2_vl import Lfm2VlSpec, lfm2_vl_settings, plan_lfm2_vl

    spec = Lfm2VlSpec(encoder_patch_size=8, downsample_factor=2, tile_size=64, min_tiles=2, max_tiles=4,
                      min_image_tokens=4, max_image_tokens=16)  # fmt: skip
    processor = Lfm2VlImageProcessor(encoder_patch_size=8, downsample_factor=2, tile_size=64, min_tiles=2,
                                     max_tiles=4, min_image_tokens=4, max_image_tokens=16)  # fmt: skip
    knobs = lfm2_vl_settings(spec, policy)
    kwargs = {name: getattr(knobs, name) for name in ("do_image_splitting", "min_tiles", "max_tiles",
              "min_image_tokens", "max_image_tokens", "max_pixels_tolerance")}  # fmt: skip
    checked = 0
    for width, height in SIZES:
        try:
            plan = plan_lfm2_vl(spec, policy, width=width, height=height)
        except InputError as error:  # an image the processor cannot take at these settings
            assert "too thin" in str(error) or "thumbnail" in str(error), (width, height)
            continue
        out = processor(images=[_blank(width, height)], return_row_col_info=True, return_tensors="pt",
                        **kwargs, **CHANNELS_LAST)  # fmt: skip
        shapes = out["spatial_shapes"].tolist()
        tokens = sum((h // 2) * (w // 2) for h, w in shapes)
        assert plan.visual_tokens == tokens, (width, height, shapes)
        assert plan.tiles == len(shapes) and plan.grid == (out["image_rows"][0], out["image_cols"][0]), (width, height)
        if plan.tiles == 1:
            assert plan.resized == (shapes[0][1] * 8, shapes[0][0] * 8)
        try:
            native = plan_lfm2_vl(spec, ResolutionPolicy(), width=width, height=height)
        except InputError:  # a thumbnail the processor cannot pad, which a single view avoids
            native = None
        if policy.min_pixels is None and native is not None:
            assert plan.visual_tokens <= native.visual_tokens  # caps never raise the cost
        rows, cols = plan.grid
        canvas = plan.resized[0] * plan.resized[1]
        if policy.max_tiles is not None:
            assert rows * cols <= policy.max_tiles
        if policy.max_pixels is not None and rows * cols == 1:
            assert canvas <= policy.max_pixels or min(plan.resized) == 16, (width, height, plan.resized)
        if policy.min_pixels is not None and policy.max_tiles is None:
            assert canvas >= policy.min_pixels or plan.visual_tokens * 256 >= policy.min_pixels, (width, height)
        checked += 1
    assert checked >= 20


# --- GLM-4.1V / 4.5V: Qwen-like patches, GLM's smart_resize over 2 frames ------------------


@pytest.mark.parametrize(
    "policy",
    [ResolutionPolicy(), ResolutionPolicy(max_tiles=1), ResolutionPolicy(max_pixels=20_000),
     ResolutionPolicy(min_pixels=100_000), ResolutionPolicy(min_pixels=20_000, max_pixels=50_000)],
    ids=["native", "tiles1", "pixels20000", "floor100000", "floor20000-pixels50000"],
)  # fmt: skip
def test_glm4v_plan_matches_image_processor(hf, policy):
    """plan_glm4v's size and tokens equal Glm4vImageProcessor's given the planned `size` bounds
    (which count both frames of an image), tiny sides scaled up to one cell included; under a
    floor, as the adapter calls it (`glm4v_prompt_bounds`: the image already at its lifted size)."""
    from transformers import Glm4vImageProcessor

    from vlmcli.tiling.glm4v import Glm4vSpec, glm4v_prompt_bounds, plan_glm4v

    spec = Glm4vSpec(patch_size=14, merge_size=2, temporal_patch_size=2,
                     shortest_edge=2 * 4 * 28 * 28, longest_edge=2 * 32 * 28 * 28)  # fmt: skip
    checked = 0
    for width, height in SIZES:
        try:
            plan = plan_glm4v(spec, policy, width=width, height=height)
        except InputError:  # too elongated: the processor refuses it too
            with pytest.raises(ValueError):
                Glm4vImageProcessor(patch_size=14, temporal_patch_size=2, merge_size=2).get_number_of_image_patches(
                    height, width, {}
                )
            continue
        low, high, resize = glm4v_prompt_bounds(spec, policy, [(width, height)])
        processor = Glm4vImageProcessor(
            size={"shortest_edge": low, "longest_edge": high}, patch_size=14, temporal_patch_size=2, merge_size=2
        )
        if resize:  # the adapter hands the processor the image already at the planned size
            width, height = plan.resized
        assert plan.visual_tokens * 4 == processor.get_number_of_image_patches(height, width, {}), (width, height)
        if width * height <= 2_000_000:
            out = processor(images=[_blank(width, height)], **CHANNELS_LAST)
            t, h, w = (int(v) for v in out["image_grid_thw"][0])
            assert plan.resized == (w * 14, h * 14) and plan.visual_tokens == t * h * w // 4, (width, height)
        native = plan_glm4v(spec, ResolutionPolicy(), width=width, height=height)
        if policy.min_pixels is None:
            assert plan.visual_tokens <= native.visual_tokens  # caps never raise the cost
        if policy.max_pixels is not None and policy.min_pixels is None:
            assert plan.resized[0] * plan.resized[1] <= max(policy.max_pixels, 28 * 28) or min(plan.resized) == 28
        checked += 1
    assert checked >= 10


@pytest.mark.parametrize("pan_and_scan", [False, True], ids=["default", "pan-and-scan"])
@pytest.mark.parametrize(
    "policy",
    [ResolutionPolicy(), ResolutionPolicy(max_tiles=1), ResolutionPolicy(max_tiles=2), ResolutionPolicy(max_pixels=3 * 32 * 32),
     ResolutionPolicy(min_pixels=5 * 32 * 32), ResolutionPolicy(min_pixels=5 * 32 * 32, max_tiles=3)],
    ids=["native", "tiles1", "tiles2", "pixels3views", "floor5views", "floor5views-tiles3"],
)  # fmt: skip
def test_gemma3_plan_matches_image_processor(hf, policy, pan_and_scan):
    """plan_gemma3's views and tokens equal Gemma3ImageProcessor's rows of `pixel_values` and
    `num_crops` given the planned pan-and-scan knobs (32-px views, 16-px minimum crops)."""
    import transformers

    from vlmcli.tiling.gemma3 import Gemma3Spec, gemma3_pan_and_scan, plan_gemma3

    spec = Gemma3Spec(image_size=32, image_seq_length=4, do_pan_and_scan=pan_and_scan, min_crop_size=16, max_num_crops=4)
    processor = transformers.Gemma3ImageProcessor(size={"height": 32, "width": 32})
    knobs = gemma3_pan_and_scan(spec, policy)
    kwargs = {
        "do_pan_and_scan": knobs.enabled, "pan_and_scan_min_crop_size": spec.min_crop_size,
        "pan_and_scan_max_num_crops": knobs.max_num_crops,
        "pan_and_scan_min_ratio_to_activate": knobs.min_ratio_to_activate,
    }  # fmt: skip
    cropped = 0
    for width, height in SIZES:
        plan = plan_gemma3(spec, policy, width=width, height=height)
        out = processor(images=[_blank(width, height)], return_tensors="pt", **kwargs, **CHANNELS_LAST)
        crops = int(out["num_crops"][0]) if knobs.enabled else 0
        assert plan.tiles == 1 + crops == out["pixel_values"].shape[0], (width, height)
        assert plan.visual_tokens == plan.tiles * 4 and plan.resized == (32, 32)
        assert plan.grid[0] * plan.grid[1] == max(crops, 1)
        native = plan_gemma3(spec, ResolutionPolicy(), width=width, height=height)
        if policy.min_pixels is None:
            assert plan.visual_tokens <= native.visual_tokens  # caps never raise the cost
        if policy.max_tiles is not None:
            assert crops <= policy.max_tiles
        cropped += crops > 0
    assert cropped > 0 or not knobs.enabled


@pytest.mark.parametrize(
    "policy",
    [ResolutionPolicy(), ResolutionPolicy(max_tiles=1), ResolutionPolicy(max_pixels=100),
     ResolutionPolicy(min_pixels=10**6), ResolutionPolicy(min_pixels=10**6, max_tiles=2),
     ResolutionPolicy(max_pixels=1024), ResolutionPolicy(min_pixels=1000, max_tiles=2)],
    ids=["native", "tiles1", "pixels100", "floor1M", "floor1M-tiles2", "pixels1024", "floor1000-tiles2"],
)  # fmt: skip
def test_paligemma_plan_matches_processor(hf, policy):
    """plan_paligemma's size and tokens equal PaliGemmaProcessor's (SigLIP at a fixed 32-px
    square, 16 `<image>` tokens) for every size and policy: no knob, one fixed view."""
    import transformers

    from vlmcli.testing.paligemma import SPEC
    from vlmcli.testing.tokenizer import train_tokenizer
    from vlmcli.tiling.paligemma import PaliGemmaSpec, plan_paligemma

    image_processor = transformers.SiglipImageProcessor(size={"height": 32, "width": 32})
    image_processor.image_seq_length = 16
    processor = transformers.PaliGemmaProcessor(image_processor=image_processor, tokenizer=train_tokenizer(spec=SPEC))
    spec = PaliGemmaSpec(image_size=32, image_seq_length=16)
    if (policy.max_pixels or 32 * 32) < 32 * 32 or (policy.min_pixels or 0) > 32 * 32:
        with pytest.raises(ConfigError):  # a cap below the one view, a floor above it: refused (exit 2)
            plan_paligemma(spec, policy, width=64, height=48)
        return
    for width, height in SIZES:
        plan = plan_paligemma(spec, policy, width=width, height=height)
        out = processor(text=["<image>q"], images=[[_blank(width, height)]], return_tensors="pt", **CHANNELS_LAST)
        assert out["pixel_values"].shape[0] == plan.tiles == 1
        assert tuple(out["pixel_values"].shape[-2:]) == plan.resized[::-1] == (32, 32)
        assert int((out["input_ids"] == processor.image_token_id).sum()) == plan.visual_tokens == 16
        assert plan == plan_paligemma(spec, ResolutionPolicy(), width=width, height=height)  # caps change nothing
