"""The engine's greedy output equals transformers' `model.generate` token for token.

For every family's tiny checkpoint, loaded from its folder exactly like a hub model:
one request with one real photo, and a batch mixing one- and two-image requests of
different prompt lengths (left padding).
"""

from __future__ import annotations

import pytest

from vlmcli.engine import Engine, EngineConfig, GenerationConfig, ImageInput, Request
from vlmcli.testing import MODEL_TYPES, sample_photos
from vlmcli.testing.reference import hf_greedy

NEW_TOKENS = 8


def reference(engine: Engine, requests: list[Request]) -> list[list[int]]:
    """transformers' own path: processor on the chat template, then model.generate."""
    return hf_greedy(engine, requests, new_tokens=NEW_TOKENS)


@pytest.fixture(scope="module")
def photos():
    return [ImageInput(p, source=f"photo{i}") for i, p in enumerate(sample_photos())]


@pytest.mark.parametrize("family", MODEL_TYPES)
def test_greedy_matches_generate_single_and_batched(family, tiny_checkpoint, photos):
    engine = Engine.load(EngineConfig(model=str(tiny_checkpoint(family)), device="cpu", dtype="float32"))
    gen = GenerationConfig(max_tokens=NEW_TOKENS)
    one = Request(prompt="What is in this picture?", images=(photos[0],))
    two = Request(prompt="Which of these two photos is brighter, and why?", images=(photos[1], photos[3]))
    assert [r.token_ids for r in engine.generate([one], gen)] == reference(engine, [one])
    batch = [one, two]
    results = engine.generate(batch, gen)
    assert [r.token_ids for r in results] == reference(engine, batch)
    for request, result in zip(batch, results):
        assert result.completion_tokens == len(result.token_ids)
        assert result.visual_tokens == sum(u.visual_tokens for u in result.images) > 0
        assert [u.source for u in result.images] == [im.source for im in request.images]
        expected_ids = engine.adapter.prepare(request).input_ids
        assert result.prompt_tokens == len(expected_ids)
        image_tokens = int((expected_ids == engine.adapter.image_token_id).sum())
        assert result.visual_tokens == image_tokens


@pytest.mark.parametrize("family", MODEL_TYPES)
def test_prompt_is_the_processors_chat_template(family, tiny_checkpoint, photos):
    """With no system prompt: one user turn, the images then the question, generation prompt added."""
    engine = Engine.load(EngineConfig(model=str(tiny_checkpoint(family)), device="cpu", dtype="float32"))
    question = "What is on the sign?"
    request = Request(prompt=question, images=(photos[0], photos[1]))
    messages = [
        {"role": "user", "content": [{"type": "image"}, {"type": "image"}, {"type": "text", "text": question}]}
    ]
    expected = engine.loaded.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert engine.adapter.prompt_text(request) == expected
    with_system = engine.adapter.prompt_text(Request(prompt=question, images=(photos[0],), system="Be brief."))
    assert "Be brief." in with_system
