"""Qwen3.5 (`qwen3_5`, and `qwen3_5_moe` with sparse-expert MLPs): Qwen3-VL's vision side and
MRoPE in front of a hybrid decoder whose Gated DeltaNet (linear-attention) layers cache a
convolution state and a recurrent state, not keys and values. Checks that the engine's cache
carries both kinds of layer state over a longer decode, alone and left-padded in a batch,
under resolution policies and for native video; the chat template's thinking prompt; caps
and the floor; `vlm ask` end to end.

Parity alone and batched at the default resolution, dry-run token counts and planner
agreement are in the registry-parametrised tests (test_engine_parity,
test_engine_token_budget, test_tiling_caps, test_tiling_agreement).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import skimage.data
from PIL import Image
from typer.testing import CliRunner

from vlmcli.testing.fakes import isolate_env
from vlmcli.cli import app
from vlmcli.engine import Engine, EngineConfig, GenerationConfig, ImageInput, Request
from vlmcli.engine.kvcache import growing_cache
from vlmcli.engine.loader import load_planner
from vlmcli.engine.video_input import VideoInput
from vlmcli.testing import sample_photos
from vlmcli.testing.costs import prompt_visual_tokens
from vlmcli.testing.reference import hf_greedy, new_tokens_until_eos
from vlmcli.tiling import ResolutionPolicy
from vlmcli.tiling.qwen3_5 import Qwen3_5Spec, plan_qwen3_5

MODEL_TYPES = ("qwen3_5", "qwen3_5_moe")  # the MoE variant: same model, sparse-expert MLPs
PIXELS_PER_TOKEN = 32 * 32  # 16-px patches merged 2x2
CHELSEA = Image.fromarray(skimage.data.chelsea())  # 451x300


@pytest.fixture(params=MODEL_TYPES)
def folder(request, tiny_checkpoint) -> str:
    """The tiny checkpoint of each model type (built once per session)."""
    return str(tiny_checkpoint(request.param))


def engine_for(folder: str, policy: ResolutionPolicy | None = None) -> Engine:
    config = EngineConfig(
        model=folder,
        device="cpu",
        dtype="float32",
        resolution=policy or ResolutionPolicy(),
    )
    return Engine.load(config)


cost = prompt_visual_tokens  # (folder, policy, request) -> visual tokens, checked against adapter and planner


@pytest.fixture(scope="module")
def photos():
    return [ImageInput(p, source=f"photo{i}") for i, p in enumerate(sample_photos())]


def test_the_cache_keeps_linear_attention_layers_and_grows_the_full_ones(
    folder,
):
    from transformers.cache_utils import DynamicLayer, LinearAttentionLayer

    engine = engine_for(folder)
    text = engine.adapter.model.config.get_text_config(decoder=True)
    assert text.layer_types == ["linear_attention"] * 3 + ["full_attention"]
    cache = growing_cache(text, reserve=8)
    kinds = [type(layer) for layer in cache.layers]
    assert kinds[:3] == [LinearAttentionLayer] * 3
    assert (
        issubclass(kinds[3], DynamicLayer) and kinds[3] is not DynamicLayer
    )  # the in-place growing layer


def test_the_moe_variant_routes_every_mlp_through_experts(tiny_checkpoint):
    engine = engine_for(str(tiny_checkpoint("qwen3_5_moe")))
    model = engine.adapter.model
    assert type(model).__name__ == "Qwen3_5MoeForConditionalGeneration"
    text = model.config.get_text_config(decoder=True)
    assert (text.num_experts, text.num_experts_per_tok) == (4, 2)
    layers = model.model.language_model.layers
    assert all(type(layer.mlp).__name__ == "Qwen3_5MoeSparseMoeBlock" for layer in layers)


def test_long_greedy_decode_matches_generate_alone_and_batched(folder, photos):
    """32 tokens: the recurrent state is carried step after step; the left-padded row's
    padding never leaks into it (the model masks it at prefill, as in generate)."""
    engine = engine_for(folder)
    one = Request(prompt="What is in this picture?", images=(photos[0],))
    two = Request(
        prompt="Which of these two photos is brighter, and why? Answer at length.",
        images=(photos[1], photos[3]),
    )
    text_only = Request(prompt="Hello.")
    gen = GenerationConfig(max_tokens=32, ignore_eos=True)
    for batch in ([one], [one, two], [two, text_only, one]):
        expected = _generate_ignoring_eos(engine, batch, new_tokens=32)
        assert [r.token_ids for r in engine.generate(batch, gen)] == expected


def _generate_ignoring_eos(
    engine: Engine, requests: list[Request], *, new_tokens: int
) -> list[list[int]]:
    import torch

    processor = engine.loaded.processor
    processor.tokenizer.padding_side = "left"
    texts = [engine.adapter.prompt_text(r) for r in requests]
    images = [[im.image for im in r.images] for r in requests]
    kwargs = {"images": images} if any(images) else {}
    inputs = processor(text=texts, return_tensors="pt", padding=True, **kwargs)
    with torch.inference_mode():
        out = engine.adapter.model.generate(
            **inputs,
            do_sample=False,
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
        )
    return new_tokens_until_eos(out, prompt_length=inputs["input_ids"].shape[1], eos=())


@pytest.mark.parametrize(
    "policy",
    [
        ResolutionPolicy(min_pixels=60_000),
        ResolutionPolicy(max_pixels=8_000),
        ResolutionPolicy(max_tiles=1),
    ],
    ids=["floor-upscales", "pixels-cap", "tiles-cap"],
)
def test_greedy_matches_generate_under_a_policy_alone_and_batched(
    folder, photos, policy
):
    engine = engine_for(folder, policy)
    one = Request(prompt="What is in this picture?", images=(photos[0],))
    two = Request(
        prompt="Which of these two photos is brighter, and why?",
        images=(photos[1], photos[3]),
    )
    gen = GenerationConfig(max_tokens=8)
    with engine.adapter.resolution_applied():
        kwargs = engine.adapter.processor_kwargs(
            [(p.image.width, p.image.height) for p in photos]
        )
        assert (kwargs == {}) == policy.is_native
        expected_one = _hf_greedy_with(engine, [one], kwargs)
        expected_batch = _hf_greedy_with(engine, [one, two], kwargs)
    assert [r.token_ids for r in engine.generate([one], gen)] == expected_one
    assert [r.token_ids for r in engine.generate([one, two], gen)] == expected_batch


def _hf_greedy_with(
    engine: Engine, requests: list[Request], kwargs: dict
) -> list[list[int]]:
    """`hf_greedy` with the adapter's native knobs (the processor's call kwargs) passed along."""
    import torch

    if not kwargs:
        return hf_greedy(engine, requests, new_tokens=8)
    processor = engine.loaded.processor
    processor.tokenizer.padding_side = "left"
    texts = [engine.adapter.prompt_text(r) for r in requests]
    # under a floor smart_resize alone would miss, the engine feeds pre-resized images and
    # bounds that keep them: the processor's own resize is the reference for the rest
    images = [engine.adapter.processor_images(list(r.images)) for r in requests]
    fed = [(im.width, im.height) for row in images for im in row]
    kwargs = engine.adapter.processor_kwargs(fed) if kwargs else kwargs
    inputs = processor(
        text=texts, images=images, return_tensors="pt", padding=True, **kwargs
    )
    with torch.inference_mode():
        out = engine.adapter.model.generate(**inputs, do_sample=False, max_new_tokens=8)
    return new_tokens_until_eos(
        out, prompt_length=inputs["input_ids"].shape[1], eos=engine.token_ids.eos
    )


def test_chat_template_opens_a_thinking_block_by_default(folder):
    engine = engine_for(folder)
    messages = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Hi"}]}
    ]
    processor = engine.loaded.processor
    default = processor.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=False
    )
    assert default.endswith("<|im_end|>\n<|im_start|>assistant\n<think>\n")
    off = processor.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=False, enable_thinking=False
    )
    assert off.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    tokenizer = processor.tokenizer
    assert len(tokenizer.encode("<think></think>", add_special_tokens=False)) == 2


def test_caps_never_cost_more_and_the_floor_upscales(folder):
    request = Request(prompt="Describe.", images=(ImageInput(CHELSEA),))
    native = cost(folder, ResolutionPolicy(), request)
    assert (
        native * PIXELS_PER_TOKEN <= 32 * PIXELS_PER_TOKEN
    )  # the checkpoint's max_pixels
    for cap in [{"max_tiles": t} for t in (1, 2, 4)] + [
        {"max_pixels": p} for p in (5_000, 20_000, 10**6, 10**8)
    ]:
        assert cost(folder, ResolutionPolicy(**cap), request) <= native, cap
    assert cost(folder, ResolutionPolicy(max_pixels=5_000), request) < native
    raised = cost(folder, ResolutionPolicy(min_pixels=100_000), request)
    assert (
        raised * PIXELS_PER_TOKEN >= 0.9 * 100_000 > native * PIXELS_PER_TOKEN
    )  # to whole 32-px cells, as Qwen-VL
    spec = Qwen3_5Spec(
        patch_size=16,
        merge_size=2,
        min_pixels=4 * PIXELS_PER_TOKEN,
        max_pixels=32 * PIXELS_PER_TOKEN,
    )
    assert load_planner(EngineConfig(model=folder)).adapter._spec() == spec
    assert (
        plan_qwen3_5(spec, ResolutionPolicy(), width=451, height=300).visual_tokens
        == native
    )


def clip(frames: int = 6) -> VideoInput:
    pixels = np.zeros((frames, 48, 64, 3), np.uint8)
    for i in range(frames):
        pixels[i, :, :, i % 3] = 200
        pixels[i, 8 + 2 * i : 20 + 2 * i, 10:30] = 255
    return VideoInput(
        frames=pixels,
        timestamps=[0.5 * i for i in range(frames)],
        fps=10.0,
        source="clip",
    )


def _video_reference(engine: Engine, request: Request, new_tokens: int) -> list[int]:
    import torch
    from transformers.video_utils import VideoMetadata

    (video,) = request.videos
    inputs = engine.loaded.processor(
        text=[engine.adapter.prompt_text(request)],
        videos=[video.frames],
        video_metadata=[VideoMetadata(**video.metadata())],
        do_sample_frames=False,
        return_tensors="pt",
    )
    with torch.inference_mode():
        out = engine.adapter.model.generate(
            **inputs, do_sample=False, max_new_tokens=new_tokens
        )
    return new_tokens_until_eos(
        out, prompt_length=inputs["input_ids"].shape[1], eos=engine.token_ids.eos
    )[0]


def test_native_video_matches_generate_with_timestamped_blocks(folder):
    engine = engine_for(folder)
    request = Request(prompt="What happens in this video?", videos=(clip(6),))
    (result,) = engine.generate([request], GenerationConfig(max_tokens=8))
    assert result.token_ids == _video_reference(engine, request, 8)
    (usage,) = result.videos
    assert (
        usage.frames == 6
        and usage.visual_tokens == result.visual_tokens > 0
        and result.images == []
    )
    prepared = engine.adapter.prepare(request)
    text = engine.loaded.processor.tokenizer.decode(prepared.input_ids)
    assert (
        text.count("seconds><|vision_start|>") == 3
    )  # one block per temporal patch of 2 frames


def test_video_caps_never_raise_frame_tokens(folder):
    big = VideoInput(
        frames=np.full((4, 240, 320, 3), 90, np.uint8),
        timestamps=[0.5 * i for i in range(4)],
        fps=2.0,
        source="v",
    )
    request = Request(prompt="What happens?", videos=(big,))
    native = cost(folder, ResolutionPolicy(), request)
    for cap in ({"max_tiles": 1}, {"max_pixels": 5_000}, {"max_pixels": 10**7}):
        assert cost(folder, ResolutionPolicy(**cap), request) <= native, cap


def test_vlm_ask_end_to_end_and_dry_run(folder, tmp_path, monkeypatch):
    isolate_env(monkeypatch, tmp_path)
    path = tmp_path / "photo.png"
    CHELSEA.save(path)
    runner = CliRunner()
    result = runner.invoke(
        app, ["ask", "--model", folder, str(path), "What is this?", "--max-tokens", "4"]
    )
    assert result.exit_code == 0, result.output
    base = ["ask", "--model", folder, str(path), "q", "--dry-run", "--json"]
    plain = json.loads(runner.invoke(app, base).stdout)
    native = plain["images"][0]["visual_tokens"]
    w, h = plain["images"][0]["resized"]
    assert native == w * h // PIXELS_PER_TOKEN and w * h <= 32 * PIXELS_PER_TOKEN
    capped = json.loads(runner.invoke(app, [*base, "--max-pixels", "8000"]).stdout)
    w, h = capped["images"][0]["resized"]
    assert w * h <= 8000 and capped["images"][0]["visual_tokens"] < native
    raised = json.loads(runner.invoke(app, [*base, "--min-pixels", "60000"]).stdout)
    w, h = raised["images"][0]["resized"]
    assert (
        w * h >= 0.9 * 60_000
        and raised["images"][0]["visual_tokens"] == w * h // PIXELS_PER_TOKEN
    )


def test_a_cpu_run_prints_no_kernel_fallback_notices(folder, tmp_path):
    """transformers' "falling back to its reference PyTorch implementation" notices (CUDA-only
    kernels) are not advice on a CPU: a fresh process prints only the answer; --debug keeps them."""
    path = tmp_path / "photo.png"
    CHELSEA.save(path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VLM_")}
    env.update(XDG_CONFIG_HOME=str(tmp_path / "xdg"), HF_HUB_OFFLINE="1")
    argv = [sys.executable, "-m", "vlmcli", "ask", "--model", folder, str(path), "hi", "--max-tokens", "3"]
    plain = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.strip() and plain.stderr == ""
    debug = subprocess.run([*argv, "--debug"], capture_output=True, text=True, env=env, timeout=300)
    assert "[debug] transformers: `causal_conv1d_fn` is falling back" in debug.stderr
