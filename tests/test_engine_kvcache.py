"""The in-place KV cache gives bit-identical decoder outputs to transformers' DynamicCache."""

from __future__ import annotations

import pytest

from vlmcli.engine import Engine, EngineConfig


@pytest.mark.parametrize("family", ["qwen2_vl", "idefics3", "llava"])
@pytest.mark.parametrize("reserve", [0, 3, 64])  # regrown every step, sometimes, never
def test_growing_cache_matches_dynamic_cache(family, reserve, tiny_checkpoint):
    import torch
    from transformers import DynamicCache

    from vlmcli.engine.kvcache import cache_keyword, growing_cache

    engine = Engine.load(EngineConfig(model=str(tiny_checkpoint(family)), device="cpu", dtype="float32"))
    decoder = engine.adapter.decoder
    key = cache_keyword(decoder)
    text = engine.adapter.model.config.get_text_config(decoder=True)
    torch.manual_seed(0)
    prompt = torch.randn(2, 9, text.hidden_size)  # (B, L, D)

    def run(kv) -> list:
        outs = []
        with torch.inference_mode():
            hidden = decoder(inputs_embeds=prompt, use_cache=True, **{key: kv}).last_hidden_state
            outs.append(hidden)
            for step in range(6):
                if step == 3:
                    kv.crop(-2)  # speculative-style rollback, then continue
                hidden = decoder(inputs_embeds=hidden[:, -1:], use_cache=True, **{key: kv}).last_hidden_state
                outs.append(hidden)  # (B, 1, D)
        return outs

    growing = growing_cache(text, reserve=reserve)
    assert any(type(layer).__name__ == "GrowingLayer" for layer in growing.layers)
    expected, got = run(DynamicCache(config=text)), run(growing)
    assert all(torch.equal(a, b) for a, b in zip(expected, got))
    assert growing.get_seq_length() == 9 + 6 - 2


def test_cache_keyword_follows_the_decoders_signature():
    from vlmcli.engine.kvcache import cache_keyword

    class New:
        def forward(self, inputs_embeds=None, cache=None, use_cache=None): ...

    class Old:
        def forward(self, inputs_embeds=None, past_key_values=None, use_cache=None): ...

    assert cache_keyword(New()) == "cache"
    assert cache_keyword(Old()) == "past_key_values"


@pytest.mark.parametrize("family", ["smolvlm", "qwen2_vl"])
def test_engine_passes_the_cache_without_deprecation_warnings(family, tiny_checkpoint):
    import warnings

    from PIL import Image

    from vlmcli.engine import GenerationConfig, ImageInput, Request

    engine = Engine.load(EngineConfig(model=str(tiny_checkpoint(family)), device="cpu", dtype="float32"))
    request = Request(prompt="What is this?", images=(ImageInput(Image.new("RGB", (32, 24), "red")),))
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # transformers 5.24 deprecates `past_key_values`
        (result,) = engine.generate([request], GenerationConfig(max_tokens=3))
    assert result.completion_tokens >= 1
