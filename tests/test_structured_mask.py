"""The token mask on a real tokenizer: only grammar tokens survive, end-of-sequence only where
the grammar may end, rows without a constraint untouched."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("xgrammar")
import torch  # noqa: E402
from transformers import AutoTokenizer  # noqa: E402

from vlmcli.structured import ChoiceConstraint, RegexConstraint  # noqa: E402
from vlmcli.structured.guard import Guard  # noqa: E402


@pytest.fixture(scope="module")
def tokenizer(tiny_checkpoint):
    return AutoTokenizer.from_pretrained(tiny_checkpoint("qwen2_vl"))


def allowed(logits_row: torch.Tensor) -> list[int]:
    return torch.isfinite(logits_row).nonzero().flatten().tolist()


def test_mask_allows_only_grammar_tokens_and_end_where_it_accepts(tokenizer):
    eos = frozenset({tokenizer.convert_tokens_to_ids("<|im_end|>")})
    vocab = len(tokenizer) + 7  # models pad their embedding tables beyond the tokenizer
    guard = Guard([RegexConstraint("[0-9]{2}"), None], tokenizer=tokenizer, vocab_size=vocab, eos=eos)
    logits = torch.zeros(2, vocab)  # (B, V)
    guard.mask(logits)
    first = allowed(logits[0])
    assert first and all(tokenizer.decode([t]).isdigit() for t in first)
    assert not eos & set(first)
    assert len(allowed(logits[1])) == vocab  # the free row is untouched
    two_digits = next(t for t in first if len(tokenizer.decode([t])) == 2)
    guard.advance(0, two_digits)
    assert guard.can_end(0) and guard.complete(0)
    logits = torch.zeros(2, vocab)
    guard.mask(logits)
    assert set(allowed(logits[0])) == eos


def test_choice_with_a_prefix_option_ends_only_by_the_model(tokenizer):
    eos = frozenset({tokenizer.convert_tokens_to_ids("<|im_end|>")})
    guard = Guard([ChoiceConstraint(("in", "indoor"))], tokenizer=tokenizer, vocab_size=len(tokenizer), eos=eos)
    for token in tokenizer.encode("in", add_special_tokens=False):
        guard.advance(0, token)
    assert guard.matchers[0].can_end() and not guard.complete(0)  # "indoor" can still follow
    assert not guard.can_end(0)  # so "in" cut here by --max-tokens is not a finished answer
    logits = torch.zeros(1, len(tokenizer))
    guard.mask(logits)
    ok = allowed(logits[0])
    assert eos <= set(ok) and any(tokenizer.decode([t]).startswith("d") for t in ok)


def test_a_refused_token_is_an_error_not_a_free_answer(tokenizer):
    guard = Guard([RegexConstraint("[0-9]+")], tokenizer=tokenizer, vocab_size=len(tokenizer), eos=frozenset({0}))
    letter = tokenizer.encode("a", add_special_tokens=False)[0]
    with pytest.raises(RuntimeError, match="refused"):
        guard.advance(0, letter)


@pytest.mark.parametrize("bounds", [{}, {"maxLength": 24}, {"minLength": 1, "maxLength": 5}])
def test_json_strings_never_hold_raw_control_characters(tokenizer, bounds):
    """xgrammar 0.2.9 lets them into length-bounded strings; the backend compiles those as patterns."""
    from vlmcli.structured import SchemaConstraint

    schema = {"type": "object", "properties": {"s": {"type": "string", **bounds}}, "required": ["s"]}
    guard = Guard([SchemaConstraint(json.dumps(schema))], tokenizer=tokenizer,
                  vocab_size=len(tokenizer), eos=frozenset({0}))
    for token in tokenizer.encode('{"s": "a', add_special_tokens=False):
        guard.advance(0, token)
    logits = torch.zeros(1, len(tokenizer))
    guard.mask(logits)
    texts = [tokenizer.decode([t]) for t in allowed(logits[0])]
    assert texts and not any(ch < " " for text in texts for ch in text)
