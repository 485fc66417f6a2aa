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


def test_a_step_can_write_into_the_buffers_itself():
    """`make_room` / `storage` / `advance`, what a compiled step uses: room is made by growing
    (the filled part kept), the unfilled part is zeros (a masked attention over the whole
    buffer must not meet NaN), and `advance` exposes what was written."""
    import torch
    from transformers import LlamaConfig

    from vlmcli.engine.kvcache import growing_cache

    config = LlamaConfig(hidden_size=8, num_attention_heads=2, num_key_value_heads=1, num_hidden_layers=1)
    layer = growing_cache(config, reserve=1).layers[0]
    with pytest.raises(ValueError, match="no prefill"):
        layer.make_room(1)
    keys, values = torch.randn(2, 1, 3, 4), torch.randn(2, 1, 3, 4)  # (B, H, T, D)
    layer.update(keys, values)
    assert (layer.length, layer.capacity) == (3, 4)
    assert torch.equal(layer.storage()[0][..., 3:, :], torch.zeros(2, 1, 1, 4))
    for written in range(3):  # the second and third need a bigger buffer
        layer.make_room(1)
        stored_keys, stored_values = layer.storage()
        stored_keys[..., layer.length, :] = float(written)
        stored_values[..., layer.length, :] = -float(written)
        layer.advance(1)
    assert layer.length == 6 and layer.capacity >= 6
    assert torch.equal(layer.keys[..., :3, :], keys) and torch.equal(layer.values[..., :3, :], values)
    assert layer.keys[0, 0, 3:, 0].tolist() == [0.0, 1.0, 2.0] and layer.values[0, 0, 5, 0].item() == -2.0
    assert torch.equal(layer.storage()[0][..., 6:, :], torch.zeros_like(layer.storage()[0][..., 6:, :]))
