"""The in-place KV cache gives bit-identical decoder outputs to transformers' DynamicCache."""

from __future__ import annotations

import pytest

from vlmcli.engine import Engine, EngineConfig


@pytest.mark.parametrize("family", ["qwen2_vl", "idefics3", "llava"])
@pytest.mark.parametrize("reserve", [0, 3, 64])  # regrown every step, sometimes, never
def test_growing_cache_matches_dynamic_cache(family, reserve, tiny_checkpoint):
    import torch
    from transformers import DynamicCache

    from vlmcli.engine.kvcache import growing_cache

    engine = Engine.load(EngineConfig(model=str(tiny_checkpoint(family)), device="cpu", dtype="float32"))
    decoder = engine.adapter.decoder
    text = engine.adapter.model.config.get_text_config(decoder=True)
    torch.manual_seed(0)
    prompt = torch.randn(2, 9, text.hidden_size)  # (B, L, D)

    def run(kv) -> list:
        outs = []
        with torch.inference_mode():
            hidden = decoder(inputs_embeds=prompt, past_key_values=kv, use_cache=True).last_hidden_state
            outs.append(hidden)
            for step in range(6):
                if step == 3:
                    kv.crop(-2)  # speculative-style rollback, then continue
                hidden = decoder(inputs_embeds=hidden[:, -1:], past_key_values=kv, use_cache=True).last_hidden_state
                outs.append(hidden)  # (B, 1, D)
        return outs

    growing = growing_cache(text, reserve=reserve)
    assert any(type(layer).__name__ == "GrowingLayer" for layer in growing.layers)
    expected, got = run(DynamicCache(config=text)), run(growing)
    assert all(torch.equal(a, b) for a, b in zip(expected, got))
    assert growing.get_seq_length() == 9 + 6 - 2
