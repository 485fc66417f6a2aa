"""Streaming, the vision-feature cache, sampling, stopping and finish reasons."""

from __future__ import annotations

import pytest

from vlmcli.engine import Engine, EngineConfig, FinishEvent, GenerationConfig, ImageInput, Request, TokenEvent
from vlmcli.engine.events import FinishReason
from vlmcli.testing import sample_photos
from vlmcli.tiling import ResolutionPolicy


@pytest.fixture(scope="module")
def engine(tiny_checkpoint):
    return Engine.load(EngineConfig(model=str(tiny_checkpoint("qwen2_vl")), device="cpu", dtype="float32"))


@pytest.fixture(scope="module")
def photo():
    return ImageInput(sample_photos()[1], source="coffee.jpg")


def count_encoder_calls(engine: Engine, monkeypatch) -> list[int]:
    calls = [0]
    original = engine.adapter.model.model.get_image_features

    def counting(*args, **kwargs):
        calls[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(engine.adapter.model.model, "get_image_features", counting)
    return calls


def test_streaming_yields_tokens_before_generation_ends(engine, photo, monkeypatch):
    steps = [0]
    head = engine.adapter.model.lm_head
    handle = head.register_forward_hook(lambda *a: steps.__setitem__(0, steps[0] + 1))
    try:
        gen = GenerationConfig(max_tokens=12, ignore_eos=True)
        events = engine.stream([Request(prompt="Describe.", images=(photo,))], gen)
        first = next(e for e in events if isinstance(e, TokenEvent) and e.text)
        steps_at_first = steps[0]
        rest = list(events)
    finally:
        handle.remove()
    assert steps_at_first < 12, "the first token must arrive before the last forward pass"
    finish = [e for e in rest if isinstance(e, FinishEvent)]
    assert len(finish) == 1 and finish[0].result.completion_tokens == 12
    streamed = first.text + "".join(e.text for e in rest if isinstance(e, TokenEvent))
    assert streamed == finish[0].result.text


def test_second_question_reuses_vision_features(engine, monkeypatch):
    image = ImageInput(sample_photos()[2], source="chelsea.jpg")
    calls = count_encoder_calls(engine, monkeypatch)
    gen = GenerationConfig(max_tokens=3)
    first = engine.generate([Request(prompt="What animal is this?", images=(image,))], gen)[0]
    second = engine.generate([Request(prompt="What colour is it?", images=(image,))], gen)[0]
    assert calls[0] == 1
    assert (first.vision_cache_hits, second.vision_cache_hits) == (0, 1)


def test_same_image_twice_in_a_batch_is_encoded_once(engine, monkeypatch):
    image = ImageInput(sample_photos()[4], source="crop.jpg")
    calls = count_encoder_calls(engine, monkeypatch)
    requests = [Request(prompt="Question one?", images=(image,)), Request(prompt="Two?", images=(image,))]
    engine.generate(requests, GenerationConfig(max_tokens=2))
    assert calls[0] == 1


def test_disk_feature_cache_survives_a_new_engine(tiny_checkpoint, tmp_path, monkeypatch):
    config = EngineConfig(
        model=str(tiny_checkpoint("qwen2_vl")), device="cpu", dtype="float32", feature_cache_dir=tmp_path
    )
    image = ImageInput(sample_photos()[0], source="astronaut.png")
    request = Request(prompt="Who is this?", images=(image,))
    gen = GenerationConfig(max_tokens=4)
    first = Engine.load(config).generate([request], gen)[0]
    fresh = Engine.load(config)
    calls = count_encoder_calls(fresh, monkeypatch)
    again = fresh.generate([request], gen)[0]
    assert calls[0] == 0 and again.vision_cache_hits == 1
    assert again.token_ids == first.token_ids


def test_sampling_with_a_seed_is_reproducible(engine, photo):
    request = Request(prompt="Tell a story about this.", images=(photo,))
    gen = GenerationConfig(max_tokens=10, temperature=1.0, top_p=0.95, top_k=50, seed=7, ignore_eos=True)
    a = engine.generate([request], gen)[0].token_ids
    b = engine.generate([request], gen)[0].token_ids
    in_batch = engine.generate([request, Request(prompt="Other", images=(photo,))], gen)[0].token_ids
    other_seed = engine.generate([request], GenerationConfig(**{**vars(gen), "seed": 8}))[0].token_ids
    greedy = engine.generate([request], GenerationConfig(max_tokens=10, ignore_eos=True))[0].token_ids
    assert a == b == in_batch
    assert a != other_seed or a != greedy


def test_max_tokens_and_stop_strings(engine, photo):
    request = Request(prompt="Describe.", images=(photo,))
    long = engine.generate([request], GenerationConfig(max_tokens=6, ignore_eos=True))[0]
    assert long.finish_reason is FinishReason.LENGTH and long.completion_tokens == 6
    assert len(long.text) > 2
    stop = long.text[2:4]
    cut = engine.generate([request], GenerationConfig(max_tokens=6, ignore_eos=True, stop=(stop,)))[0]
    assert cut.finish_reason is FinishReason.STOP_STRING
    assert stop not in cut.text and long.text.startswith(cut.text)
    streamed = "".join(
        e.text
        for e in engine.stream([request], GenerationConfig(max_tokens=6, ignore_eos=True, stop=(stop,)))
        if isinstance(e, TokenEvent)
    )
    assert streamed == cut.text


def test_eos_finishes_with_stop(engine, photo):
    eos = min(engine.token_ids.eos)
    request = Request(prompt="Describe.", images=(photo,))
    # force EOS as the most likely token by penalising nothing but boosting eos through a bias hook
    head = engine.adapter.model.lm_head

    def boost(module, args, output):
        output[..., eos] += 1e4
        return output

    handle = head.register_forward_hook(boost)
    try:
        result = engine.generate([request], GenerationConfig(max_tokens=5))[0]
    finally:
        handle.remove()
    assert result.finish_reason is FinishReason.STOP
    assert result.token_ids == [eos] and result.text == ""


def test_text_only_request(engine):
    result = engine.generate([Request(prompt="Hello there")], GenerationConfig(max_tokens=3))[0]
    assert result.visual_tokens == 0 and result.completion_tokens >= 1


@pytest.mark.parametrize("family", ["qwen3_vl", "idefics3", "llava_onevision", "llava"])
def test_mixed_dtype_runs_and_auto_on_cpu_is_float32(family, tiny_checkpoint):
    """--dtype mixed: float32 vision tower, bfloat16 language model. AUTO on CPU: float32 (measured)."""
    import torch

    auto = Engine.load(EngineConfig(model=str(tiny_checkpoint(family)), device="cpu"))
    assert auto.adapter.lm_head.weight.dtype == torch.float32
    engine = Engine.load(EngineConfig(model=str(tiny_checkpoint(family)), device="cpu", dtype="mixed"))
    assert engine.adapter.vision_dtype == torch.float32
    assert next(engine.adapter.decoder.parameters()).dtype == torch.bfloat16
    assert engine.adapter.lm_head.weight.dtype == torch.bfloat16
    image = ImageInput(sample_photos()[3], source="rocket.png")
    result = engine.generate([Request(prompt="What is it?", images=(image,))], GenerationConfig(max_tokens=4))[0]
    assert result.completion_tokens >= 1 and result.visual_tokens > 0


@pytest.mark.parametrize("family", ["idefics3", "llava"])
def test_small_vision_calls_give_the_features_of_one_call(family, tiny_checkpoint, monkeypatch):
    """On CPU the tiles of Idefics3 (and LLaVA 1.5's views) go through the tower a few at a
    time; the features are bit-identical to the single call a GPU makes."""
    import torch

    from vlmcli.engine import device
    from vlmcli.engine.cache import FeatureCache
    from vlmcli.engine.vision import encode_batch

    policy = ResolutionPolicy(min_pixels=4 * 56 * 56, max_tiles=4)  # LLaVA 1.5 tiles only above a floor
    engine = Engine.load(EngineConfig(model=str(tiny_checkpoint(family)), device="cpu", dtype="float32", resolution=policy))
    photos = sample_photos()
    request = Request(prompt="Compare.", images=(ImageInput(photos[1]), ImageInput(photos[5])))
    prepared = [engine.adapter.prepare(request)]
    monkeypatch.setattr(device, "CPU_PATCHES_PER_CALL", 1)  # the tiny tower's tiles, one per call
    calls = count_encoder_calls(engine, monkeypatch)
    small = encode_batch(engine.adapter, prepared, FeatureCache(max_entries=0))
    tiles = sum(int(im.inputs["pixel_values"].shape[0]) for im in prepared[0].images)
    assert engine.adapter.tiles_per_call == 1 and calls[0] == tiles > 2
    monkeypatch.setattr(type(engine.adapter), "tiles_per_call", property(lambda self: None))
    one = encode_batch(engine.adapter, prepared, FeatureCache(max_entries=0))
    assert calls[0] == tiles + 1  # the GPU path: one call for everything
    assert [f["embeds"].shape for f in small.features] == [f["embeds"].shape for f in one.features]
    assert all(torch.equal(a["embeds"], b["embeds"]) for a, b in zip(small.features, one.features))


def test_tiles_per_call_follows_the_patch_count():
    import torch

    from vlmcli.engine.device import vision_tiles_per_call

    cpu = torch.device("cpu")
    assert vision_tiles_per_call(cpu, patches_per_tile=1024) == 1  # SmolVLM's 512 px SigLIP tile
    assert vision_tiles_per_call(cpu, patches_per_tile=576) == 1  # LLaVA 1.5's 336 px CLIP view
    assert vision_tiles_per_call(cpu, patches_per_tile=16) == 64  # a tiny test tower: grouped
    assert vision_tiles_per_call(torch.device("meta"), patches_per_tile=1024) is None  # not a CPU: all at once
