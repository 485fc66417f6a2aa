"""The int8 decode path (issue 16, decode): fused sibling projections change no number, and
the fused decode step gives the eager int8 decoder's hidden states, tokens and batches."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from vlmcli.engine import Engine, EngineConfig, GenerationConfig, ImageInput, Request
from vlmcli.engine.compiled import CompiledDecoder, cxx_compiler
from vlmcli.engine.kvcache import cache_keyword, growing_cache
from vlmcli.quantize import plan_for
from vlmcli.quantize.apply import quantize_model
from vlmcli.quantize.decode_step import FusedDecodeStep, why_not
from vlmcli.quantize.fused_linear import FusedInt8Linear, Int8Part
from vlmcli.testing import sample_photos

FUSED_STEP = ["idefics3", "llava", "llava_next", "llava_onevision", "internvl", "fast_vlm", "idefics2", "mistral3"]
"""Families whose decoder layers the fused step takes (Llama, Mistral, Qwen2)."""
FUSED_ONLY = ["qwen2_vl", "qwen3_vl", "gemma3", "lfm2_vl", "glm4v", "molmo2"]
"""Other decoders: their projections are fused, the eager decoder runs the steps."""


@pytest.fixture(scope="module")
def photos():
    return [ImageInput(p, source=f"photo{i}") for i, p in enumerate(sample_photos())]


def int8(folder, **kwargs) -> Engine:
    return Engine.load(EngineConfig(model=str(folder), device="cpu", dtype="float32", quantize="int8", **kwargs))


def last_logits(engine: Engine, request: Request):
    import torch

    inputs = engine.loaded.processor(
        text=[engine.adapter.prompt_text(request)], images=[[im.image for im in request.images]], return_tensors="pt"
    )
    with torch.inference_mode():
        return engine.adapter.model(**inputs).logits[0, -1]  # (V,)


@pytest.mark.parametrize("family", FUSED_STEP + FUSED_ONLY)
def test_fused_projections_give_the_separate_layers_numbers(family, tiny_checkpoint, photos):
    import torch

    folder = tiny_checkpoint(family)
    fused = int8(folder)
    separate = Engine.load(EngineConfig(model=str(folder), device="cpu", dtype="float32"))
    quantize_model(separate.adapter.model, language_root=separate.adapter.model.get_decoder(), plan=plan_for("int8"), fuse=False)

    modules = list(fused.adapter.decoder.modules())
    assert any(isinstance(m, FusedInt8Linear) for m in modules)
    assert not any(isinstance(m, (FusedInt8Linear, Int8Part)) for m in separate.adapter.model.modules())
    request = Request(prompt="What is in this picture?", images=(photos[0],))
    assert torch.equal(last_logits(fused, request), last_logits(separate, request))
    assert fused.loaded.quantization.layers == separate_counts(separate)  # the report counts the original layers


def separate_counts(engine: Engine) -> dict[str, int]:
    from vlmcli.quantize.int8_linear import Int8Linear

    counts = {"language": 0, "lm_head": 0, "vision": 0}
    decoder = {id(m) for m in engine.adapter.model.get_decoder().modules()}
    head = engine.adapter.model.get_output_embeddings()
    for module in engine.adapter.model.modules():
        if isinstance(module, Int8Linear):
            part = "lm_head" if module is head else "language" if id(module) in decoder else "vision"
            counts[part] += 1
    return counts


def test_a_part_called_on_another_tensor_computes_again():
    import torch

    from vlmcli.quantize.int8_linear import Int8Linear

    torch.manual_seed(0)
    q, k = torch.nn.Linear(8, 4), torch.nn.Linear(8, 6)
    fused = FusedInt8Linear([q, k], reduce_range=True)
    q_part, k_part = Int8Part(fused, 0), Int8Part(fused, 1)
    x, y = torch.randn(3, 8), torch.randn(3, 8)
    alone_q, alone_k = Int8Linear(q, reduce_range=True), Int8Linear(k, reduce_range=True)
    assert torch.equal(q_part(x), alone_q(x)) and torch.equal(k_part(y), alone_k(y))  # cross-attention style
    z = torch.randn(3, 8)
    assert torch.equal(q_part(z), alone_q(z)) and torch.equal(k_part(z), alone_k(z))  # one product, shared
    assert fused._output is None  # released once every part read it
    x.mul_(2)  # changed in place: not the tensor the parts saw
    assert torch.equal(q_part(x), alone_q(x))


@pytest.mark.parametrize("family", FUSED_STEP)
def test_the_step_gives_the_eager_decoders_hidden_states(family, tiny_checkpoint):
    """One decode step over a left-padded batch of two and over one row: same hidden states."""
    import torch

    engine = int8(tiny_checkpoint(family))
    assert isinstance(engine.step, FusedDecodeStep)
    decoder, config = engine.adapter.decoder, engine.adapter.model.config.get_text_config(decoder=True)
    keyword = cache_keyword(decoder)
    torch.manual_seed(0)
    width = decoder.config.hidden_size
    for mask in (torch.tensor([[0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]]), torch.ones(1, 6, dtype=torch.long)):
        rows = mask.shape[0]
        prompt = torch.randn(rows, 6, width)  # (B, L, D)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)  # (B, L)
        with torch.inference_mode():
            cache = growing_cache(config, reserve=4)
            decoder(inputs_embeds=prompt, attention_mask=mask, position_ids=positions, use_cache=True, **{keyword: cache})
            token = torch.randn(rows, 1, width)  # (B, 1, D)
            step_mask = torch.cat([mask, torch.ones(rows, 1, dtype=torch.long)], dim=1)  # (B, L+1)
            step_positions = positions[:, -1:] + 1  # (B, 1)
            kwargs = {"inputs_embeds": token, "attention_mask": step_mask, "position_ids": step_positions}
            eager_cache, fused_cache = copy.deepcopy(cache), copy.deepcopy(cache)
            eager = decoder(**kwargs, use_cache=True, **{keyword: eager_cache}).last_hidden_state  # (B, 1, D)
            fused = engine.step(**kwargs, use_cache=True, **{keyword: fused_cache}).last_hidden_state  # (B, 1, D)
        assert (fused - eager).abs().max().item() <= 1e-5, family
        assert torch.equal(fused_cache.layers[0].keys, eager_cache.layers[0].keys)


@pytest.mark.parametrize("family", ["idefics3", "llava_onevision"])
def test_tokens_alone_batched_and_continuous_equal_the_eager_decoder(family, tiny_checkpoint, photos):
    """Same company, same tokens. (int8 activations take one scale per call over all rows, so
    an int8 answer may depend on which requests share its batch: compared like for like.)"""
    engine = int8(tiny_checkpoint(family))
    requests = [
        Request(prompt="What is in this picture?", images=(photos[0],)),
        Request(prompt="Describe the colours you see in this image, one by one.", images=(photos[3],)),
        Request(prompt="Caption.", images=(photos[2],)),
    ]
    gen = GenerationConfig(max_tokens=10, ignore_eos=True)

    def run() -> tuple[list, list, list]:
        alone = [engine.generate([r], gen)[0].token_ids for r in requests]
        batched = [r.token_ids for r in engine.generate(requests, gen)]
        served = {c.index: c.result.token_ids for c in engine.serve(requests, gen, slots=2)}
        return alone, batched, [served[i] for i in range(len(requests))]

    fused = run()
    step, engine.step = engine.step, None
    eager = run()
    engine.step = step
    assert fused == eager


@pytest.mark.parametrize("family", FUSED_ONLY)
def test_other_decoders_keep_the_eager_step_and_say_why(family, tiny_checkpoint):
    engine = int8(tiny_checkpoint(family))
    assert engine.step is None
    assert why_not(engine.adapter.decoder)


def test_float32_does_not_take_the_fused_step(tiny_checkpoint):
    assert Engine.load(EngineConfig(model=str(tiny_checkpoint("idefics3")), device="cpu", dtype="float32")).step is None


@pytest.mark.skipif(cxx_compiler() is None, reason="--compile needs a C++ compiler")
def test_compile_takes_the_compiled_int8_step(tiny_checkpoint):
    from vlmcli.quantize.compiled_step import CompiledInt8Step

    assert isinstance(int8(tiny_checkpoint("idefics3"), compile=True).step, CompiledInt8Step)
    assert isinstance(int8(tiny_checkpoint("qwen2_vl"), compile=True).step, CompiledDecoder)


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc")
def test_int8_lets_go_of_the_mapped_checkpoint(tiny_checkpoint):
    """What stays float is copied out of the safetensors mapping, so the file's pages (read
    while quantising) are not kept resident beside the int8 weights."""
    folder = tiny_checkpoint("idefics3")
    engine = int8(folder)
    weights = [str(p.resolve()) for p in Path(folder).glob("*.safetensors")]
    mapped = [line for line in Path("/proc/self/maps").read_text().splitlines() if any(w in line for w in weights)]
    assert engine.step is not None and not mapped
