"""--min-pixels / --max-pixels where a family cannot simply upscale (walk6c, items 1-3).

1. PaliGemma has one fixed view: a cap below it or a floor above it is refused (exit 2,
   naming the view), as every family refuses a cap below its least; never ignored.
2. Qwen-VL / GLM-4V: a floor and a cap in a narrow window get a size of whole cells within
   [floor, cap] whenever one exists (smart_resize's downscale fell below the floor, its
   upscale past the cap), an error when none does, and a size under the cap when the caps
   lowered the floor to them (caps win).
3. LFM2-VL: a floor that asks for tiles leaves grids of the image's own shape among the
   choices (a square photo gets a square grid, not a 4 x 2 or 5 x 2 strip).

The engine's prepared prompt (the real processor) is the judge of every token count.
"""

from __future__ import annotations

import json

import pytest
import skimage.data
from PIL import Image
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.engine import EngineConfig, ImageInput, Request
from vlmcli.engine.loader import load_planner
from vlmcli.errors import ConfigError
from vlmcli.testing.fakes import isolate_env
from vlmcli.tiling import QwenSpec, ResolutionPolicy, plan_qwen
from vlmcli.tiling.glm4v import Glm4vSpec, plan_glm4v
from vlmcli.tiling.lfm2_vl import Lfm2VlSpec, plan_lfm2_vl
from vlmcli.tiling.paligemma import PaliGemmaSpec, plan_paligemma

ASTRONAUT = Image.fromarray(skimage.data.astronaut())  # 512x512
CHELSEA = Image.fromarray(skimage.data.chelsea())  # 451x300
SIZES = [(512, 512), (451, 300), (20, 20), (6000, 500), (10, 1000), (300, 2000)]


def _engine_fed(folder: str, policy: ResolutionPolicy, photo: Image.Image):
    """(plan, visual tokens really in the prepared prompt) for `photo`."""
    adapter = load_planner(EngineConfig(model=folder, resolution=policy)).adapter
    (plan,) = adapter.plan_images([photo.size])
    prepared = adapter.prepare(Request(prompt="Describe.", images=(ImageInput(photo),)))
    assert plan.visual_tokens == prepared.visual_tokens
    return plan, int(adapter.visual_mask(prepared.input_ids[None]).sum())


# --- 1. PaliGemma ---------------------------------------------------------------------------


def test_paligemma_refuses_a_cap_below_and_a_floor_above_its_one_view():
    spec = PaliGemmaSpec()  # 224 x 224 = 50176 px
    with pytest.raises(ConfigError, match=r"--max-pixels 1 is below one 224x224 view \(50176 px\)"):
        plan_paligemma(spec, ResolutionPolicy(max_pixels=1), width=512, height=512)
    with pytest.raises(ConfigError, match=r"--min-pixels 1000000 is above .* 224x224 view \(50176 px\).*at most 50176"):
        plan_paligemma(spec, ResolutionPolicy(min_pixels=10**6), width=512, height=512)
    for policy in (ResolutionPolicy(max_pixels=50176), ResolutionPolicy(min_pixels=50176), ResolutionPolicy(max_tiles=1)):
        assert plan_paligemma(spec, policy, width=512, height=512).visual_tokens == 256  # within the view: as ever


def test_paligemma_dry_run_exits_2_naming_the_view(tiny_checkpoint, tmp_path, monkeypatch):
    isolate_env(monkeypatch, tmp_path)
    path = tmp_path / "astronaut.png"
    ASTRONAUT.save(path)
    base = ["ask", "--model", str(tiny_checkpoint("paligemma")), str(path), "Q", "--dry-run", "--json"]
    runner = CliRunner()
    for flags, words in ((["--max-pixels", "1"], "below one 32x32 view (1024 px)"),
                         (["--min-pixels", "1000000"], "one fixed 32x32 view (1024 px)")):  # fmt: skip
        out = runner.invoke(app, [*base, *flags])
        assert out.exit_code == 2 and not out.stdout and words in out.stderr, out.output
    out = runner.invoke(app, [*base, "--min-pixels", "1024"])
    assert out.exit_code == 0 and json.loads(out.stdout)["images"][0]["visual_tokens"] == 16


# --- 2. Qwen-VL and GLM-4V: the window between floor and cap ---------------------------------


def test_window_size_picks_whole_cells_nearest_the_aspect():
    from vlmcli.tiling.qwen import window_size

    assert window_size(height=512, width=512, factor=28, low=4000, high=5000) == (56, 84)  # 4704 px
    assert window_size(height=300, width=451, factor=28, low=4000, high=5000) == (56, 84)
    assert window_size(height=512, width=512, factor=28, low=4000, high=4100) is None  # 3920 | 4704
    assert window_size(height=10, width=2000, factor=28, low=1, high=784) == (28, 28)


@pytest.mark.parametrize("width, height", SIZES)
def test_qwen_floor_in_a_narrow_window_lands_in_it(width, height):
    spec = QwenSpec()
    plan = plan_qwen(spec, ResolutionPolicy(min_pixels=4000, max_pixels=5000), width=width, height=height)
    w, h = plan.resized
    assert 4000 <= w * h <= 5000 and w % 28 == 0 and h % 28 == 0, plan  # before: 56x56 = 3136 for a square
    assert plan.visual_tokens == w * h // 784
    glm = plan_glm4v(Glm4vSpec(shortest_edge=2 * 3136), ResolutionPolicy(min_pixels=4000, max_pixels=5000),
                     width=width, height=height)  # fmt: skip
    assert 4000 <= glm.resized[0] * glm.resized[1] <= 5000, glm


def test_qwen_window_without_a_size_is_refused_and_caps_win_over_a_lowered_floor():
    spec = QwenSpec()
    with pytest.raises(ConfigError, match=r"no size .* between 4000 and 4100 px .*nearest: 3920 and 4704"):
        plan_qwen(spec, ResolutionPolicy(min_pixels=4000, max_pixels=4000 + 100), width=512, height=512)
    # floor == cap (as --truncate lowers them): smart_resize's own size at those bounds, as before
    plan = plan_qwen(spec, ResolutionPolicy(min_pixels=4000, max_pixels=4000), width=512, height=512)
    assert plan.resized == (56, 56)
    # a floor above --max-tiles' nominal tiles: the cap wins, as before
    capped = plan_qwen(spec, ResolutionPolicy(min_pixels=300_000, max_tiles=1), width=512, height=512)
    assert capped.resized == (448, 448)


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen3_vl", "glm4v"])
def test_engine_feeds_the_window_size(family, tiny_checkpoint):
    """The real processor (handed the image at the planned size) gives the planned tokens."""
    folder = str(tiny_checkpoint(family))
    for photo in (ASTRONAUT, CHELSEA):
        plan, fed = _engine_fed(folder, ResolutionPolicy(min_pixels=4000, max_pixels=5000), photo)
        w, h = plan.resized
        assert 4000 <= w * h <= 5000 and plan.visual_tokens == fed, (family, plan)


# --- 3. LFM2-VL: a floor's grid keeps the image's shape ---------------------------------------


TINY_LFM2 = Lfm2VlSpec(encoder_patch_size=8, tile_size=64, min_image_tokens=4, max_image_tokens=16, max_tiles=4)


@pytest.mark.parametrize("floor", [20_000, 30_000, 40_000, 10**6])
def test_lfm2_floor_gives_a_square_photo_a_square_grid(floor):
    plan = plan_lfm2_vl(TINY_LFM2, ResolutionPolicy(min_pixels=floor), width=512, height=512)
    assert plan.grid == (3, 3) and plan.resized == (192, 192), plan  # before: 4x2 (30000), 5x2 (10^6)
    hub = plan_lfm2_vl(Lfm2VlSpec(), ResolutionPolicy(min_pixels=10 * 512 * 512), width=2048, height=2048)
    assert hub.grid == (3, 3), hub  # before: 5 x 2 (only 10-tile grids)


def test_lfm2_small_floor_keeps_the_checkpoint_range():
    plan = plan_lfm2_vl(TINY_LFM2, ResolutionPolicy(min_pixels=13_000), width=512, height=512)  # 4 tiles
    assert plan.grid == (2, 2)
    wide = plan_lfm2_vl(TINY_LFM2, ResolutionPolicy(min_pixels=10**6), width=2000, height=1000)
    assert wide.grid == (2, 4)  # 2:1 photo, a 2:1 grid (before: 2 x 5, only 10-tile grids)


def test_lfm2_engine_feeds_the_floor_grid(tiny_checkpoint):
    folder = str(tiny_checkpoint("lfm2_vl"))
    for floor in (30_000, 10**6):
        plan, fed = _engine_fed(folder, ResolutionPolicy(min_pixels=floor), ASTRONAUT)
        assert plan.grid == (3, 3) and plan.visual_tokens == fed, plan
