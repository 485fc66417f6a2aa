"""Token accounting before running equals what the engine feeds the model, for every family.

`adapter.plan_images` is pure arithmetic (vlmcli.tiling); the processor really expands the
prompt. Across sizes and aspect ratios (tiny squares, 1x10 and 10x1 panoramas, 4000x3000
photos) and several resolution policies the two must agree exactly.
"""

from __future__ import annotations

import pytest
from PIL import Image

from vlmcli.engine import EngineConfig, ImageInput, Request
from vlmcli.engine.loader import load_planner
from vlmcli.errors import ConfigError, InputError
from vlmcli.testing import MODEL_TYPES
from vlmcli.tiling import ResolutionPolicy

SIZES = [
    (16, 16), (10, 100), (100, 10), (40, 400), (400, 40), (224, 224), (336, 336), (640, 480),
    (480, 640), (1920, 1080), (1080, 1920), (4000, 3000), (3000, 4000), (5000, 500), (500, 5000),
    (1000, 1000), (300, 200), (200, 300), (800, 100), (100, 800), (123, 457), (2048, 2048),
]
POLICIES = [
    ResolutionPolicy(),
    ResolutionPolicy(max_tiles=2),
    ResolutionPolicy(max_tiles=6),
    ResolutionPolicy(max_pixels=150_000),
    ResolutionPolicy(min_pixels=20_000, max_pixels=400_000),
]


def fed_tokens(adapter, request: Request) -> tuple[list[int], int]:
    prepared = adapter.prepare(request)
    in_prompt = int((prepared.input_ids == adapter.image_token_id).sum())
    return [im.visual_tokens for im in prepared.images], in_prompt


@pytest.mark.parametrize("family", MODEL_TYPES)
def test_planned_tokens_equal_fed_tokens(family, tiny_checkpoint):
    folder = str(tiny_checkpoint(family))
    checked = 0
    for policy in POLICIES:
        adapter = load_planner(EngineConfig(model=folder, resolution=policy)).adapter  # every family takes one
        if family == "paligemma" and policy.min_pixels:  # a floor above its one (tiny: 32x32) view: refused
            with pytest.raises(ConfigError, match="above this model's one fixed"):
                adapter.plan_images([(640, 480)])
            continue
        for width, height in SIZES:
            image = ImageInput(Image.new("RGB", (width, height), (120, 60, 30)))
            try:
                plan = adapter.plan_images([(width, height)])[0]
            except ConfigError:
                assert family.startswith("qwen") and max(width, height) / min(width, height) > 200
                continue
            except InputError as refused:  # an image the family cannot take (tests/test_extreme_images.py)
                assert family == "mistral3" and "single" in str(refused) and (width, height) == (16, 16)
                continue
            per_image, in_prompt = fed_tokens(adapter, Request(prompt="Describe.", images=(image,)))
            assert per_image == [plan.visual_tokens] == [in_prompt], (family, policy, width, height)
            checked += 1
        pair = [(640, 480), (100, 800)]
        images = tuple(ImageInput(Image.new("RGB", s, (9, 9, 9))) for s in pair)
        plans = adapter.plan_images(pair)
        per_image, in_prompt = fed_tokens(adapter, Request(prompt="Compare.", images=images))
        assert per_image == [p.visual_tokens for p in plans] and sum(per_image) == in_prompt
    assert checked >= 20
