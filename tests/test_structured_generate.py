"""Constrained generation on tiny checkpoints: every answer valid (greedy and sampled, every
constraint kind), a mixed batch equals each row alone, and a --max-tokens cut is never valid."""

from __future__ import annotations

import json
import re

import pytest

pytest.importorskip("xgrammar")

from vlmcli.engine import Engine, EngineConfig, GenerationConfig, ImageInput, Request  # noqa: E402
from vlmcli.engine.events import FinishReason  # noqa: E402
from vlmcli.structured import (  # noqa: E402
    ChoiceConstraint,
    JsonModeConstraint,
    RegexConstraint,
    SchemaConstraint,
)
from vlmcli.testing import MODEL_TYPES, sample_photos  # noqa: E402

SCHEMA = {
    "type": "object",
    "properties": {
        "subject": {"type": "string", "maxLength": 8},
        "count": {"type": "integer", "minimum": 0, "maximum": 20},
        "indoor": {"type": "boolean"},
        "place": {"type": "object", "properties": {"kind": {"enum": ["kitchen", "street", "park"]}}, "required": ["kind"]},
    },
    "required": ["subject", "count", "indoor", "place"],
}
TAGS = ("indoor", "outdoor", "portrait", "animal", "food")
CONSTRAINTS = {
    "schema": SchemaConstraint(json.dumps(SCHEMA)),
    "choice": ChoiceConstraint(TAGS),
    "regex": RegexConstraint(r"[0-9]{4}-[0-9]{2}-[0-9]{2}"),
}
GREEDY = GenerationConfig(max_tokens=160)  # tiny tokenizers spell JSON nearly a character a token
SAMPLED = GenerationConfig(max_tokens=160, temperature=1.0, seed=7)


def engine_for(tiny_checkpoint, family: str) -> Engine:
    return Engine.load(EngineConfig(model=str(tiny_checkpoint(family)), device="cpu", dtype="float32"))


@pytest.fixture(scope="module")
def photo():
    return ImageInput(sample_photos()[0], source="photo")


def check(kind: str, text: str, parsed: object) -> None:
    if kind == "schema":
        assert parsed == json.loads(text) and set(parsed) == set(SCHEMA["properties"])
        assert parsed["place"]["kind"] in ("kitchen", "street", "park") and 0 <= parsed["count"] <= 20
        assert len(parsed["subject"]) <= 8 and isinstance(parsed["indoor"], bool)
    elif kind == "choice":
        assert parsed == text and text in TAGS
    else:
        assert re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text) and parsed == text


@pytest.mark.parametrize("family", ["smolvlm", "qwen2_vl"])
@pytest.mark.parametrize("gen", [GREEDY, SAMPLED], ids=["greedy", "sampled"])
def test_every_kind_gives_valid_answers(family, gen, tiny_checkpoint, photo):
    engine = engine_for(tiny_checkpoint, family)
    requests = [Request(prompt="What is this?", images=(photo,), constraint=c) for c in CONSTRAINTS.values()]
    for kind, result in zip(CONSTRAINTS, engine.generate(requests, gen)):
        assert result.valid is True and result.finish_reason is FinishReason.STOP, (kind, result.text)
        check(kind, result.text, result.parsed)


@pytest.mark.parametrize("family", MODEL_TYPES)
def test_choice_on_every_family(family, tiny_checkpoint, photo):
    engine = engine_for(tiny_checkpoint, family)
    request = Request(prompt="Which tag?", images=(photo,), constraint=ChoiceConstraint(TAGS))
    for gen in (GREEDY, SAMPLED):
        (result,) = engine.generate([request], gen)
        assert result.valid and result.text in TAGS and result.parsed == result.text


def test_mixed_batch_equals_each_row_alone(tiny_checkpoint, photo):
    engine = engine_for(tiny_checkpoint, "qwen2_vl")
    gen = GenerationConfig(max_tokens=24, temperature=0.8, seed=3)
    requests = [
        Request(prompt="What is this?", images=(photo,), constraint=CONSTRAINTS["choice"]),
        Request(prompt="Describe the picture.", images=(photo,)),
        Request(prompt="When?", images=(photo,), constraint=CONSTRAINTS["regex"]),
        Request(prompt="Details as JSON.", images=(photo,), constraint=JsonModeConstraint()),
    ]
    together = engine.generate(requests, gen)
    for request, result in zip(requests, together):
        (alone,) = engine.generate([request], gen)
        assert alone.token_ids == result.token_ids and alone.valid == result.valid
    assert together[1].valid is None and together[1].parsed is None  # free text stays free


def test_unconstrained_rows_are_unchanged_by_the_mask(tiny_checkpoint, photo):
    engine = engine_for(tiny_checkpoint, "smolvlm")
    free = Request(prompt="Describe the picture.", images=(photo,))
    (alone,) = engine.generate([free], GREEDY)
    batch = engine.generate([free, Request(prompt="Tag?", images=(photo,), constraint=CONSTRAINTS["choice"])], GREEDY)
    assert batch[0].token_ids == alone.token_ids and batch[0].text == alone.text


def test_max_tokens_cut_is_length_and_not_valid(tiny_checkpoint, photo):
    engine = engine_for(tiny_checkpoint, "smolvlm")
    request = Request(prompt="JSON please.", images=(photo,), constraint=CONSTRAINTS["schema"])
    (result,) = engine.generate([request], GenerationConfig(max_tokens=4))
    assert result.finish_reason is FinishReason.LENGTH
    assert result.valid is False and result.parsed is None


def test_ignore_eos_does_not_run_a_constrained_row_past_its_grammar(tiny_checkpoint, photo):
    engine = engine_for(tiny_checkpoint, "smolvlm")
    request = Request(prompt="Date?", images=(photo,), constraint=CONSTRAINTS["regex"])
    (result,) = engine.generate([request], GenerationConfig(max_tokens=40, ignore_eos=True))
    assert result.valid and len(result.text) == 10
