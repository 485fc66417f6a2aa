"""`--quantize int8 --compile` (issue 16, decode): the int8 decode step as one compiled graph.

Its int8 activations take one scale per row (FBGEMM's eager layers take one per call), so it
is compared with the eager fused step within int8 noise, and compiled against the same
graph run eagerly within the `--compile` tolerance."""

from __future__ import annotations

import copy

import pytest

from vlmcli.engine import Engine, EngineConfig, GenerationConfig, ImageInput, Request
from vlmcli.engine.compiled import LOGIT_TOLERANCE, CompiledDecoder, cxx_compiler
from vlmcli.engine.kvcache import cache_keyword, growing_cache
from vlmcli.quantize.compiled_step import CompiledInt8Step, int8_matmul
from vlmcli.testing import sample_photos

FUSED_STEP = ["idefics3", "llava", "llava_next", "llava_onevision", "internvl", "fast_vlm", "idefics2", "mistral3"]
"""Families whose decoder layers the fused step takes (Llama, Mistral, Qwen2)."""

INT8_NOISE = 0.02
"""Largest difference of a step's hidden states, per-row against per-call activation scales,
as a fraction of their largest magnitude (observed: 1.0-1.5e-4 on the eight tiny checkpoints)."""

needs_cxx = pytest.mark.skipif(cxx_compiler() is None, reason="--compile needs a C++ compiler")


def int8(folder, **kwargs) -> Engine:
    return Engine.load(EngineConfig(model=str(folder), device="cpu", dtype="float32", quantize="int8", **kwargs))


def one_step(engine: Engine, step, mask):
    """Prefill random embeddings under `mask` (B, L), then one step through `step` and through
    the engine's eager fused step: both hidden states (B, 1, D) and both caches' first layer."""
    import torch

    decoder, config = engine.adapter.decoder, engine.adapter.model.config.get_text_config(decoder=True)
    keyword = cache_keyword(decoder)
    torch.manual_seed(0)
    rows, width = mask.shape[0], decoder.config.hidden_size
    positions = (mask.cumsum(-1) - 1).clamp(min=0)  # (B, L)
    with torch.no_grad():
        cache = growing_cache(config, reserve=4)
        decoder(inputs_embeds=torch.randn(rows, mask.shape[1], width), attention_mask=mask, position_ids=positions,
                use_cache=True, **{keyword: cache})
        kwargs = {
            "inputs_embeds": torch.randn(rows, 1, width),  # (B, 1, D)
            "attention_mask": torch.cat([mask, torch.ones(rows, 1, dtype=torch.long)], dim=1),  # (B, L+1)
            "position_ids": positions[:, -1:] + 1,  # (B, 1)
        }
        fused_cache, step_cache = copy.deepcopy(cache), copy.deepcopy(cache)
        fused = engine.step(**kwargs, **{keyword: fused_cache}).last_hidden_state
        mine = step(**kwargs, **{keyword: step_cache}).last_hidden_state
    return fused, mine, fused_cache.layers[0], step_cache.layers[0]


MASKS = {"left-padded pair": [[0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]], "one row": [[1, 1, 1, 1, 1, 1]]}


@pytest.mark.parametrize("family", FUSED_STEP)
def test_the_graph_gives_the_fused_steps_numbers_within_int8_noise(family, tiny_checkpoint):
    import torch

    engine = int8(tiny_checkpoint(family))
    step = CompiledInt8Step(engine.adapter.decoder, device_type="cpu", compile=False)
    for name, rows in MASKS.items():
        fused, mine, fused_layer, step_layer = one_step(engine, step, torch.tensor(rows))
        assert torch.isfinite(mine).all(), (family, name)
        assert (mine - fused).abs().max().item() <= INT8_NOISE * fused.abs().max().item(), (family, name)
        assert step_layer.length == fused_layer.length  # the step wrote its position and counted it
        scale = fused_layer.keys.abs().max().item()
        assert (step_layer.keys - fused_layer.keys).abs().max().item() <= INT8_NOISE * scale, (family, name)


@needs_cxx
def test_compiled_graph_equals_the_eager_graph(tiny_checkpoint):
    import torch

    engine = int8(tiny_checkpoint("idefics3"))
    eager = CompiledInt8Step(engine.adapter.decoder, device_type="cpu", compile=False)
    compiled = CompiledInt8Step(engine.adapter.decoder, device_type="cpu")
    for rows in MASKS.values():
        _, by_eager, _, eager_layer = one_step(engine, eager, torch.tensor(rows))
        _, by_compiled, _, compiled_layer = one_step(engine, compiled, torch.tensor(rows))
        assert (by_compiled - by_eager).abs().max().item() <= LOGIT_TOLERANCE
        assert (compiled_layer.keys - eager_layer.keys).abs().max().item() <= LOGIT_TOLERANCE


@needs_cxx
def test_engine_tokens_through_the_compiled_step_equal_the_eager_graphs(tiny_checkpoint):
    """Alone and in a static batch (the mode `--compile` runs), past a growth of the cache."""
    engine = int8(tiny_checkpoint("idefics3"), compile=True)
    assert isinstance(engine.step, CompiledInt8Step)
    assert engine.batching(slots=4).continuous is False  # compiled steps decode fixed batches
    photos = [ImageInput(p, source=f"photo{i}") for i, p in enumerate(sample_photos())]
    requests = [
        Request(prompt="What is in this picture?", images=(photos[0],)),
        Request(prompt="Describe the colours you see in this image, one by one.", images=(photos[3],)),
    ]
    gen = GenerationConfig(max_tokens=12, ignore_eos=True)

    def run() -> tuple[list, list]:
        return [engine.generate([r], gen)[0].token_ids for r in requests], [r.token_ids for r in engine.generate(requests, gen)]

    compiled = run()
    engine.step = CompiledInt8Step(engine.adapter.decoder, device_type="cpu", compile=False)
    assert compiled == run()
    assert all(len(ids) == 12 for ids in compiled[0] + compiled[1])


def test_float32_compile_keeps_the_compiled_decoder(tiny_checkpoint):
    if cxx_compiler() is None:
        pytest.skip("--compile needs a C++ compiler")
    config = EngineConfig(model=str(tiny_checkpoint("idefics3")), device="cpu", dtype="float32", compile=True)
    assert isinstance(Engine.load(config).step, CompiledDecoder)


def test_int8_matmul_is_the_per_row_quantised_product():
    import torch

    torch.manual_seed(0)
    x, weight = torch.randn(3, 16), torch.randn(8, 16)  # (M, K), (N, K)
    w_scale = weight.abs().amax(dim=1) / 127.0  # (N,)
    w_int = torch.round(weight / w_scale[:, None]).to(torch.int8)  # (N, K)
    x_scale = x.abs().amax(dim=1, keepdim=True) / 127.0  # (M, 1)
    expected = (torch.round(x / x_scale) @ w_int.float().t()) * x_scale * w_scale  # (M, N)
    got = int8_matmul(x, w_int.t().contiguous(), w_scale, None)
    assert torch.allclose(got, expected, atol=1e-5)
    assert (got - x @ weight.t()).abs().max() < 0.05 * (x @ weight.t()).abs().max()
    bias = torch.randn(8)
    assert torch.allclose(int8_matmul(x, w_int.t().contiguous(), w_scale, bias), got + bias)


def test_the_step_refuses_a_cache_it_cannot_write_into(tiny_checkpoint):
    import torch
    from transformers import DynamicCache

    engine = int8(tiny_checkpoint("idefics3"))
    step = CompiledInt8Step(engine.adapter.decoder, device_type="cpu", compile=False)
    width = engine.adapter.decoder.config.hidden_size
    with pytest.raises(ValueError, match="growing KV cache"):
        step(inputs_embeds=torch.zeros(1, 1, width), attention_mask=torch.ones(1, 1, dtype=torch.long),
             position_ids=torch.zeros(1, 1, dtype=torch.long),
             cache=DynamicCache(config=engine.adapter.model.config.get_text_config(decoder=True)))
