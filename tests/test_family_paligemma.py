"""PaliGemma (`paligemma`): one fixed view per image (caps and a floor within it change
nothing; a --max-pixels below it or a --min-pixels above it is refused, exit 2),
the prefix-LM attention (bidirectional over the whole prompt) and 1-based positions in the
engine's own prefill, the prompt without a hub chat template, videos as frames, and
`vlm ask` end to end on the tiny checkpoint.

Parity alone and batched, dry-run token counts and planner agreement are in the
registry-parametrised tests (test_engine_parity, test_engine_token_budget, test_tiling_caps,
test_tiling_agreement); this file covers what is PaliGemma's own.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image
from typer.testing import CliRunner

from vlmcli.testing.fakes import isolate_env
from vlmcli.cli import app
from vlmcli.engine import Engine, EngineConfig, GenerationConfig, ImageInput, Request
from vlmcli.engine.loader import load_planner
from vlmcli.engine.video_input import VideoInput
from vlmcli.errors import ConfigError
from vlmcli.testing.paligemma import IMAGE_SIZE, TOKENS_PER_IMAGE
from vlmcli.testing.reference import hf_greedy
from vlmcli.tiling import ResolutionPolicy
from vlmcli.tiling.paligemma import PaliGemmaSpec, plan_paligemma

FAMILY = "paligemma"
CHELSEA = Image.fromarray(skimage.data.chelsea())  # 451x300
SIZES = [(224, 224), (451, 300), (1920, 1080), (6000, 500), (10, 1000)]
POLICIES = [
    ResolutionPolicy(max_tiles=1), ResolutionPolicy(max_tiles=9), ResolutionPolicy(max_pixels=224 * 224),
    ResolutionPolicy(max_pixels=10**8), ResolutionPolicy(min_pixels=1000),
    ResolutionPolicy(min_pixels=1000, max_tiles=2),
]  # fmt: skip
REFUSED = [  # outside the one view: a cap below it, a floor above it (fixF3)
    ResolutionPolicy(max_pixels=1000), ResolutionPolicy(min_pixels=4 * 224 * 224),
    ResolutionPolicy(min_pixels=4 * 224 * 224, max_tiles=2),
]  # fmt: skip


def test_one_fixed_view_whatever_the_policy():
    spec = PaliGemmaSpec()
    for width, height in SIZES:
        plan = plan_paligemma(spec, ResolutionPolicy(), width=width, height=height)
        assert plan.visual_tokens == 256 and plan.tiles == 1 and plan.resized == (224, 224)
        for policy in POLICIES:
            assert plan_paligemma(spec, policy, width=width, height=height) == plan
        for policy in REFUSED:
            with pytest.raises(ConfigError, match="below one 224x224 view|above this model's one fixed 224x224"):
                plan_paligemma(spec, policy, width=width, height=height)


def test_adapter_reads_the_processor(tiny_checkpoint):
    adapter = load_planner(EngineConfig(model=str(tiny_checkpoint(FAMILY)))).adapter
    assert adapter._spec() == PaliGemmaSpec(image_size=IMAGE_SIZE, image_seq_length=TOKENS_PER_IMAGE)
    for policy in POLICIES:
        planner = load_planner(EngineConfig(model=str(tiny_checkpoint(FAMILY)), resolution=policy)).adapter
        prepared = planner.prepare(Request(prompt="Describe.", images=(ImageInput(CHELSEA),)))
        assert prepared.visual_tokens == TOKENS_PER_IMAGE == int((prepared.input_ids == planner.image_token_id).sum())


def test_prefix_attends_bidirectionally_and_the_engine_does_too(tiny_checkpoint):
    """transformers' forward differs with and without `token_type_ids` (so parity tests the
    prefix-LM mask), and the engine's prefill logits (1-based positions) equal it."""
    engine = Engine.load(EngineConfig(model=str(tiny_checkpoint(FAMILY)), device="cpu", dtype="float32"))
    adapter = engine.adapter
    request = Request(prompt="What is in this picture?", images=(ImageInput(CHELSEA),))
    processor = engine.loaded.processor
    inputs = processor(text=[adapter.prompt_text(request)], images=[[CHELSEA]], return_tensors="pt")
    inputs.pop("labels")
    assert int(inputs["token_type_ids"].sum()) == 0  # the whole prompt is the prefix
    with torch.inference_mode():
        full = adapter.model(**inputs).logits[:, -1]
        causal = adapter.model(**{k: v for k, v in inputs.items() if k != "token_type_ids"}).logits[:, -1]
        assert not torch.allclose(full, causal)
        prepared = adapter.prepare(request)
        assert torch.equal(prepared.input_ids, inputs["input_ids"][0])
        ids = prepared.input_ids[None]
        merged = adapter.merge(ids, adapter.embed(ids), adapter.encode(prepared.images))
        mask = torch.ones_like(ids)
        positions = adapter.prefill_positions(ids, mask, extras={}, requests=[prepared])
        assert int(positions[0, 0]) == 1
        out = adapter.decoder(
            inputs_embeds=merged.embeds, attention_mask=mask, position_ids=positions, **merged.decoder_kwargs
        )
        ours = adapter.lm_head(out.last_hidden_state[:, -1])
    torch.testing.assert_close(ours, full)


def test_prompt_without_a_chat_template(tiny_checkpoint):
    """The hub checkpoints ship none: the images, then (system and "\\n") the question."""
    engine = Engine.load(EngineConfig(model=str(tiny_checkpoint(FAMILY)), device="cpu", dtype="float32"))
    adapter, processor = engine.adapter, engine.loaded.processor
    requests = [
        Request(prompt="caption en", images=(ImageInput(CHELSEA), ImageInput(CHELSEA))),
        Request(prompt="What is this?", images=(ImageInput(CHELSEA),), system="Be brief."),
    ]
    templated = [adapter.prompt_text(r) for r in requests]
    assert templated == ["<image><image>caption en", "<image>Be brief.\nWhat is this?"]
    template, processor.chat_template = processor.chat_template, None
    try:
        assert [adapter.prompt_text(r) for r in requests] == templated
        assert [r.token_ids for r in engine.generate(requests, GenerationConfig(max_tokens=6))] == hf_greedy(
            engine, requests, new_tokens=6
        )
    finally:
        processor.chat_template = template


def clip(frames: int = 3) -> VideoInput:
    pixels = np.stack([np.asarray(CHELSEA.crop((8 * i, 0, 8 * i + 320, 240))) for i in range(frames)])
    return VideoInput(frames=pixels, timestamps=tuple(i * 0.5 for i in range(frames)), fps=2.0, source="clip")


def test_video_frames_as_images(tiny_checkpoint):
    engine = Engine.load(EngineConfig(model=str(tiny_checkpoint(FAMILY)), device="cpu", dtype="float32"))
    request = Request(prompt="What happens in this video?", videos=(clip(),))
    (result,) = engine.generate([request], GenerationConfig(max_tokens=4))
    assert result.videos[0].units == 3 and result.images == [] and result.completion_tokens >= 1
    assert engine.adapter.prepare(request).visual_tokens == 3 * TOKENS_PER_IMAGE


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
    view = str(IMAGE_SIZE * IMAGE_SIZE)
    for flags in ([], ["--max-tiles", "1"], ["--max-pixels", view], ["--min-pixels", view]):
        out = runner.invoke(app, [*base, *flags])
        assert out.exit_code == 0, out.output
        image = json.loads(out.stdout)["images"][0]
        assert image["visual_tokens"] == TOKENS_PER_IMAGE and image["resized"] == [IMAGE_SIZE, IMAGE_SIZE]
    for flags in (["--max-pixels", "100"], ["--min-pixels", str(10**6)]):  # outside the one view: refused
        out = runner.invoke(app, [*base, *flags])
        assert out.exit_code == 2 and not out.stdout and f"{IMAGE_SIZE}x{IMAGE_SIZE} view" in out.stderr, out.output
