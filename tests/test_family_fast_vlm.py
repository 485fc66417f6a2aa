"""FastVLM (`fast_vlm`): one square view whose side the caps and the floor move in 64-px
steps (the processor's `size` / `crop_size`), the planner against the real
`LlavaProcessor` + `CLIPImageProcessor`, greedy parity at other sides, `--compress pool`,
videos as frames, the timm requirement (a clear error without it, no download with it),
and `vlm ask` end to end on the tiny checkpoint.

Parity alone and batched at the default resolution, dry-run token counts and the caps are
in the registry-parametrised tests (test_engine_parity, test_engine_token_budget,
test_tiling_caps); this file covers what is FastVLM's own.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager

import numpy as np
import pytest
import skimage.data
from PIL import Image
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.engine import Engine, EngineConfig, GenerationConfig, ImageInput, Request
from vlmcli.engine.loader import load_planner
from vlmcli.engine.video_input import VideoInput
from vlmcli.errors import BackendUnavailableError, ConfigError
from vlmcli.testing import sample_photos
from vlmcli.testing.costs import prompt_visual_tokens
from vlmcli.testing.fakes import isolate_env
from vlmcli.testing.fast_vlm import IMAGE_SIZE, PATCH, TOKENS_PER_IMAGE
from vlmcli.testing.reference import hf_greedy
from vlmcli.tiling import ResolutionPolicy
from vlmcli.tiling.fast_vlm import MAX_SIDE, FastVlmSpec, fast_vlm_processor_kwargs, fast_vlm_side, plan_fast_vlm

FAMILY = "fast_vlm"
CHELSEA = Image.fromarray(skimage.data.chelsea())  # 451x300
SIZES = [(1024, 1024), (451, 300), (1920, 1080), (1080, 1920), (4000, 3000), (6000, 500), (100, 100), (10, 1000),
         (64, 64), (65, 63), (1, 1), (3, 2)]  # fmt: skip
CAPS = [{"max_tiles": t} for t in (1, 2, 4, 9)] + [
    {"max_pixels": p} for p in (4096, 20_000, 300_000, 10**6, 4 * 10**6, 10**8)
]

cost = prompt_visual_tokens  # (folder, policy, request) -> visual tokens, checked against adapter and planner


# --- the pure mapping at the hub's defaults (1024-px view, 64-px cells) ------------------------


def test_default_plan_is_the_hub_models():
    spec = FastVlmSpec()
    for width, height in SIZES:
        plan = plan_fast_vlm(spec, ResolutionPolicy(), width=width, height=height)
        assert plan.resized == (1024, 1024) and plan.visual_tokens == 256 == spec.native_tokens
        assert plan.grid == (1, 1) and plan.tiles == 1
    assert fast_vlm_processor_kwargs(spec, ResolutionPolicy()) == {}


def test_caps_never_raise_the_cost_and_map_onto_the_side():
    spec = FastVlmSpec()
    for cap in CAPS:
        side = fast_vlm_side(spec, ResolutionPolicy(**cap))
        assert side <= 1024 and side % 64 == 0
        if "max_pixels" in cap:
            assert side * side <= cap["max_pixels"] < (side + 64) ** 2 or side == 1024
        plan = plan_fast_vlm(spec, ResolutionPolicy(**cap), width=1920, height=1080)
        assert plan.visual_tokens == (side // 64) ** 2 <= 256
    assert fast_vlm_side(spec, ResolutionPolicy(max_tiles=1)) == 1024  # one view: nothing to cap
    assert fast_vlm_side(spec, ResolutionPolicy(max_pixels=300_000)) == 512  # isqrt 547 -> 8 cells
    knobs = fast_vlm_processor_kwargs(spec, ResolutionPolicy(max_pixels=300_000))
    assert knobs == {"size": {"shortest_edge": 512}, "crop_size": {"height": 512, "width": 512}}


def test_min_pixels_raises_the_side_and_caps_win():
    spec = FastVlmSpec()
    assert fast_vlm_side(spec, ResolutionPolicy(min_pixels=10**6)) == 1024  # already met
    assert fast_vlm_side(spec, ResolutionPolicy(min_pixels=1024 * 1024 + 1)) == 1088
    assert fast_vlm_side(spec, ResolutionPolicy(min_pixels=2 * 10**6)) == 1472  # isqrt 1415 -> 23 cells
    assert fast_vlm_side(spec, ResolutionPolicy(min_pixels=10**9)) == MAX_SIDE
    assert fast_vlm_side(spec, ResolutionPolicy(min_pixels=2 * 10**6, max_pixels=3 * 10**6)) == 1472
    assert fast_vlm_side(spec, ResolutionPolicy(min_pixels=2 * 10**6, max_pixels=2_100_000)) == 1408  # caps win
    plan = plan_fast_vlm(spec, ResolutionPolicy(min_pixels=2 * 10**6), width=451, height=300)
    assert plan.resized == (1472, 1472) and plan.visual_tokens == 23 * 23


def test_max_pixels_below_one_cell_is_refused():
    with pytest.raises(ConfigError, match="below one 64x64 cell"):
        plan_fast_vlm(FastVlmSpec(), ResolutionPolicy(max_pixels=4095), width=640, height=480)


def test_bad_specs_are_refused():
    with pytest.raises(ConfigError):
        FastVlmSpec(image_size=0)
    with pytest.raises(ConfigError, match="below one"):
        FastVlmSpec(image_size=32, shortest_edge=32)


# --- the planner against transformers' processor ------------------------------------------------


@pytest.fixture(scope="module")
def processor():
    """The hub's processor classes and knobs (mean 0 / std 1, `patch_size` 64) at a 256-px
    view, with the tiny checkpoint's tokenizer: cheap to run, the same arithmetic."""
    from transformers import CLIPImageProcessor, LlavaProcessor

    from vlmcli.testing.fast_vlm import SPEC, TEMPLATE
    from vlmcli.testing.tokenizer import train_tokenizer

    image_processor = CLIPImageProcessor(
        size={"shortest_edge": 256}, crop_size={"height": 256, "width": 256},
        image_mean=[0.0, 0.0, 0.0], image_std=[1.0, 1.0, 1.0],
    )  # fmt: skip
    tokenizer = train_tokenizer(spec=SPEC, chat_template=TEMPLATE)
    return LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=64, chat_template=TEMPLATE)


AGREEMENT_SIZES = [(1, 1), (2, 3), (16, 16), (10, 100), (100, 10), (64, 64), (65, 64), (129, 64), (256, 256),
                   (337, 335), (640, 480), (480, 640), (1920, 1080), (1080, 1920), (1000, 40), (40, 1000)]  # fmt: skip


@pytest.mark.parametrize(
    "policy",
    [ResolutionPolicy(), ResolutionPolicy(max_tiles=1), ResolutionPolicy(max_pixels=20_000),
     ResolutionPolicy(max_pixels=100_000), ResolutionPolicy(min_pixels=200_000),
     ResolutionPolicy(min_pixels=200_000, max_pixels=250_000), ResolutionPolicy(min_pixels=10_000)],
    ids=["native", "tiles1", "pixels20k", "pixels100k", "floor200k", "floor200k-cap250k", "floor10k"],
)  # fmt: skip
def test_plan_matches_the_processor(processor, policy):
    """plan_fast_vlm's view and tokens equal what LlavaProcessor + CLIPImageProcessor write
    with the knobs the adapter passes, for squares, panoramas, tiny and large images."""
    spec = FastVlmSpec(image_size=256, shortest_edge=256, patch_size=64)
    knobs = fast_vlm_processor_kwargs(spec, policy)
    for width, height in AGREEMENT_SIZES:
        plan = plan_fast_vlm(spec, policy, width=width, height=height)
        image = np.zeros((height, width, 3), dtype=np.uint8)  # (H, W, C)
        out = processor(
            text=["<image>hi"], images=[[image]], return_tensors="pt",
            images_kwargs={**knobs, "input_data_format": "channels_last"},
        )  # fmt: skip
        assert out["pixel_values"].shape[0] == plan.tiles == 1
        assert tuple(out["pixel_values"].shape[-2:]) == plan.resized[::-1], (policy, width, height)
        assert int((out["input_ids"] == processor.image_token_id).sum()) == plan.visual_tokens, (policy, width, height)
        if policy.min_pixels is None:
            assert plan.visual_tokens <= 16  # caps never raise the cost


# --- the tiny checkpoint ----------------------------------------------------------------------


def test_adapter_reads_the_processor(tiny_checkpoint):
    adapter = load_planner(EngineConfig(model=str(tiny_checkpoint(FAMILY)))).adapter
    assert adapter._spec() == FastVlmSpec(image_size=IMAGE_SIZE, shortest_edge=IMAGE_SIZE, patch_size=PATCH)


def test_min_pixels_above_the_default_is_applied_and_caps_lower(tiny_checkpoint):
    folder = str(tiny_checkpoint(FAMILY))
    request = Request(prompt="Describe.", images=(ImageInput(CHELSEA),))
    assert cost(folder, ResolutionPolicy(), request) == TOKENS_PER_IMAGE == 16
    assert cost(folder, ResolutionPolicy(min_pixels=200_000), request) == 49  # 448 px: 7 x 7 cells
    assert cost(folder, ResolutionPolicy(min_pixels=200_000, max_pixels=200_500), request) == 36  # caps win: 384 px
    for cap in CAPS:
        assert cost(folder, ResolutionPolicy(**cap), request) <= TOKENS_PER_IMAGE
    assert cost(folder, ResolutionPolicy(max_pixels=20_000), request) == 4  # 128 px: 2 x 2 cells


@contextmanager
def knobs_on_the_processor(engine: Engine):
    """The policy's side set on the image processor itself, so that `model.generate`'s inputs
    (built by the plain processor call in `hf_greedy`) are the engine's."""
    image_processor = engine.adapter.processor.image_processor
    knobs = fast_vlm_processor_kwargs(engine.adapter._spec(), engine.adapter.policy)
    saved = {name: getattr(image_processor, name) for name in knobs}
    for name, value in knobs.items():
        setattr(image_processor, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(image_processor, name, value)


@pytest.mark.parametrize(
    "policy", [ResolutionPolicy(min_pixels=200_000), ResolutionPolicy(max_pixels=20_000)], ids=["floor", "cap"]
)
def test_greedy_matches_generate_at_other_sides(tiny_checkpoint, policy):
    """The tower at 448 and 128 px (49 and 4 tokens): the engine's answers are generate's,
    alone and batched with a two-image prompt and a text-only row."""
    engine = Engine.load(
        EngineConfig(model=str(tiny_checkpoint(FAMILY)), device="cpu", dtype="float32", resolution=policy)
    )
    photos = [ImageInput(p, source=f"photo{i}") for i, p in enumerate(sample_photos())]
    one = Request(prompt="What is in this picture?", images=(photos[0],))
    two = Request(prompt="Which of these two photos is brighter, and why?", images=(photos[1], photos[5]))
    text = Request(prompt="Say hello.")
    gen = GenerationConfig(max_tokens=8)
    with knobs_on_the_processor(engine):
        expected_one = hf_greedy(engine, [one], new_tokens=8)
        expected = hf_greedy(engine, [one, two, text], new_tokens=8)
    assert [r.token_ids for r in engine.generate([one], gen)] == expected_one
    assert [r.token_ids for r in engine.generate([one, two, text], gen)] == expected


def test_compress_pool_shrinks_the_grid(tiny_checkpoint):
    from vlmcli.reduction.compress import parse_compress
    from vlmcli.reduction.reducer import TokenReduction

    engine = Engine.load(EngineConfig(model=str(tiny_checkpoint(FAMILY)), device="cpu", dtype="float32"))
    request = Request(prompt="Describe.", images=(ImageInput(CHELSEA),))
    assert engine.adapter.prepare(request).images[0].layout.grid == (4, 4)
    pooled = engine.adapter.__class__(
        model=engine.adapter.model, processor=engine.adapter.processor, model_type=FAMILY,
        reduction=TokenReduction(compress=parse_compress("pool:2")),
    )  # fmt: skip
    prepared = pooled.prepare(request)
    assert prepared.visual_tokens == 4 == int((prepared.input_ids == pooled.image_token_id).sum())
    engine.adapter = pooled
    (result,) = engine.generate([request], GenerationConfig(max_tokens=4))
    assert result.completion_tokens >= 1


def clip(frames: int = 3) -> VideoInput:
    pixels = np.stack([np.asarray(CHELSEA.crop((8 * i, 0, 8 * i + 320, 240))) for i in range(frames)])
    return VideoInput(frames=pixels, timestamps=tuple(i * 0.5 for i in range(frames)), fps=2.0, source="clip")


def test_video_frames_as_images(tiny_checkpoint):
    folder = str(tiny_checkpoint(FAMILY))
    engine = Engine.load(EngineConfig(model=folder, device="cpu", dtype="float32"))
    request = Request(prompt="What happens in this video?", videos=(clip(),))
    (result,) = engine.generate([request], GenerationConfig(max_tokens=4))
    assert result.videos[0].units == 3 and result.images == [] and result.completion_tokens >= 1
    assert cost(folder, ResolutionPolicy(), request) == 3 * TOKENS_PER_IMAGE
    assert cost(folder, ResolutionPolicy(max_pixels=20_000), request) == 3 * 4


# --- timm ---------------------------------------------------------------------------------------


def test_the_builder_downloads_nothing(tmp_path, monkeypatch):
    """timm is asked for no pretrained weights: with every download path broken, it builds."""
    import huggingface_hub
    import timm.models._builder as timm_builder

    from vlmcli.testing.fast_vlm import build_fast_vlm

    def refuse(*args, **kwargs):
        raise AssertionError("the tiny FastVLM tried to download weights")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(timm_builder, "load_pretrained", refuse)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", refuse)
    folder = build_fast_vlm(tmp_path / "fastvlm", seed=3)
    assert (folder / "model.safetensors").exists()


def test_without_timm_loading_says_how_to_install_it(tiny_checkpoint, tmp_path, monkeypatch):
    isolate_env(monkeypatch, tmp_path)
    folder = str(tiny_checkpoint(FAMILY))
    monkeypatch.setitem(sys.modules, "timm", None)  # `import timm` raises ImportError
    with pytest.raises(BackendUnavailableError, match=r'pip install "vlmcli\[fastvlm\]"'):
        Engine.load(EngineConfig(model=folder, device="cpu", dtype="float32"))
    path = tmp_path / "photo.png"
    CHELSEA.save(path)
    runner = CliRunner()
    result = runner.invoke(app, ["ask", "--model", folder, str(path), "What is this?", "--max-tokens", "4"])
    assert result.exit_code == BackendUnavailableError.exit_code == 7, result.output
    assert 'pip install "vlmcli[fastvlm]"' in result.output and "Traceback" not in result.output
    # planning needs no weights, so no timm: --dry-run still counts exactly
    dry = runner.invoke(app, ["ask", "--model", folder, str(path), "q", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["images"][0]["visual_tokens"] == TOKENS_PER_IMAGE


def test_a_timm_without_fastvithd_says_to_upgrade(tiny_checkpoint, monkeypatch):
    import timm

    monkeypatch.setattr(timm, "is_model", lambda name: False)
    with pytest.raises(BackendUnavailableError, match=r"no fastvit_mci3 .*pip install -U"):
        Engine.load(EngineConfig(model=str(tiny_checkpoint(FAMILY)), device="cpu", dtype="float32"))


def test_vlm_ask_end_to_end_and_dry_run(tiny_checkpoint, tmp_path, monkeypatch):
    isolate_env(monkeypatch, tmp_path)
    folder = str(tiny_checkpoint(FAMILY))
    path = tmp_path / "photo.png"
    CHELSEA.save(path)
    runner = CliRunner()
    result = runner.invoke(app, ["ask", "--model", folder, str(path), "What is this?", "--max-tokens", "4"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() and result.stderr == ""  # no warnings from transformers or timm
    base = ["ask", "--model", folder, str(path), "q", "--dry-run", "--json"]
    expected = {(): (16, 256), ("--max-tiles", "1"): (16, 256), ("--max-pixels", "20000"): (4, 128),
                ("--min-pixels", "200000"): (49, 448)}  # fmt: skip
    for flags, (tokens, side) in expected.items():
        out = runner.invoke(app, [*base, *flags])
        assert out.exit_code == 0, out.output
        image = json.loads(out.stdout)["images"][0]
        assert image["visual_tokens"] == tokens and image["resized"] == [side, side], flags
    refused = runner.invoke(app, [*base, "--max-pixels", "1000"])
    assert refused.exit_code == ConfigError.exit_code and "below one 64x64 cell" in refused.output
