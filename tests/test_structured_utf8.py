"""The UTF-8 mask: its decoder agrees with Python's, its per-vocabulary table with the decoder,
the guard applies it to constrained rows, and sampled constrained answers are valid UTF-8."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vlmcli.structured.utf8_mask import COMPLETE, LIVE_STATES, REJECT, TRANSITIONS, Utf8Table, run

# bytes near the interesting boundaries, so random strings often hold multi-byte characters
INTERESTING = st.sampled_from([0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF,
                               0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF])
EDGES = (0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF)
BYTES = st.lists(st.one_of(INTERESTING, st.integers(0, 255)), max_size=12).map(bytes)


def decodes(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def valid_prefix(data: bytes) -> bool:
    """Python's answer to "can `data` still be completed into valid UTF-8?": some 0-3 continuation
    bytes make it decode (each allowed range of a continuation byte holds one of EDGES)."""
    return any(decodes(data + bytes(tail)) for k in range(4) for tail in itertools.product(EDGES, repeat=k))


@settings(max_examples=600, deadline=None)
@given(BYTES)
def test_the_decoder_agrees_with_python(data):
    state = run(COMPLETE, data)
    assert (state == COMPLETE) == decodes(data)
    assert (state != REJECT) == valid_prefix(data)


@pytest.mark.parametrize(
    ("data", "state"),
    [(b"\xed\x9f", "pending"), (b"\xed\xa0", REJECT), (b"\xe0\x9f", REJECT), (b"\xe0\xa0", "pending"),
     (b"\xf4\x8f\xbf\xbf", COMPLETE), (b"\xf4\x90", REJECT), (b"\xf0\x8f", REJECT), (b"\xc1\xbf", REJECT),
     (b"\xbf", REJECT), ("é€😀".encode(), COMPLETE)],
)
def test_the_edges_of_the_table(data, state):
    got = run(COMPLETE, data)
    assert got not in (COMPLETE, REJECT) if state == "pending" else got == state


def test_reject_absorbs():
    assert (TRANSITIONS[REJECT] == REJECT).all()


@settings(max_examples=60, deadline=None)
@given(st.lists(BYTES, min_size=1, max_size=40), st.integers(0, 5), st.data())
def test_the_table_is_the_decoder_run_from_every_state(tokens, padding, data):
    vocab = len(tokens) + padding
    ends = data.draw(st.sets(st.integers(0, vocab - 1), max_size=2))
    table = Utf8Table.build(tokens, vocab_size=vocab, ends=ends)
    for state in range(LIVE_STATES):
        for token in range(vocab):
            if token in ends:
                want = COMPLETE if state == COMPLETE else REJECT
            else:
                want = run(state, tokens[token]) if token < len(tokens) else state
            assert table.advance(state, token) == want
    bits = np.unpackbits(table.packed().view(np.uint8), axis=1, bitorder="little").astype(bool)  # (S, W*32)
    assert (bits[:, :vocab] == (table.next_state != REJECT)).all() and not bits[:, vocab:].any()


def test_more_token_strings_than_the_vocabulary_is_an_error():
    with pytest.raises(ValueError, match="vocabulary"):
        Utf8Table.build([b"a", b"b"], vocab_size=1)


def test_dropped_tokens_are_never_allowed_but_the_ends_are():
    table = Utf8Table.build([b"a", b"<x>", b"", b"\xc3"], vocab_size=4, ends=[2], dropped=[1, 2])
    for state in range(LIVE_STATES):
        assert not table.allowed(state)[1]
    assert table.allowed(COMPLETE)[2] and table.allowed(COMPLETE)[0]


# -- in the guard and the engine (the grammar engine is an optional extra) ----------------------


def test_special_tokens_never_enter_a_constrained_answer(tiny_checkpoint):
    """SmolVLM's `<row_i_col_j>` and `<image>` are special: the text drops them, so the grammar
    must not count them as string content."""
    pytest.importorskip("xgrammar")
    import torch
    from transformers import AutoTokenizer

    from vlmcli.structured import JsonModeConstraint
    from vlmcli.structured.guard import Guard, dropped_ids

    tokenizer = AutoTokenizer.from_pretrained(tiny_checkpoint("smolvlm"))
    vocab, eos = len(tokenizer), frozenset({tokenizer.eos_token_id})
    special = set(dropped_ids(tokenizer, vocab)) - eos
    assert tokenizer.convert_tokens_to_ids("<row_1_col_1>") in special
    guard = Guard([JsonModeConstraint()], tokenizer=tokenizer, vocab_size=vocab, eos=eos)
    for token in tokenizer.encode('{"a": "', add_special_tokens=False):
        guard.advance(0, token)
    logits = torch.zeros(1, vocab)  # (B, V)
    guard.mask(logits)
    allowed = set(torch.isfinite(logits[0]).nonzero().flatten().tolist())
    assert allowed and not allowed & special

def test_the_guard_masks_what_would_break_utf8(tiny_checkpoint):
    """xgrammar 0.2.9 allows ED A0-BF (UTF-16 surrogates, invalid UTF-8) inside strings; the guard does not."""
    pytest.importorskip("xgrammar")
    import torch
    from transformers import AutoTokenizer

    from vlmcli.structured import JsonModeConstraint, RegexConstraint
    from vlmcli.structured.guard import Guard

    from vlmcli.structured.backend import backend

    tokenizer = AutoTokenizer.from_pretrained(tiny_checkpoint("qwen2_vl"))
    vocab, eos = len(tokenizer), frozenset({tokenizer.convert_tokens_to_ids("<|im_end|>")})
    token_bytes = backend().token_bytes(tokenizer=tokenizer, vocab_size=vocab, eos=sorted(eos))
    by_byte = {raw[0]: tid for tid, raw in enumerate(token_bytes) if len(raw) == 1}  # the byte-level alphabet
    guard = Guard([JsonModeConstraint(), RegexConstraint("[^\\x00-\\x7f]{1,3}")], tokenizer=tokenizer,
                  vocab_size=vocab, eos=eos)
    for token in tokenizer.encode('{"a": "', add_special_tokens=False):
        guard.advance(0, token)
    for row in (0, 1):
        guard.advance(row, by_byte[0xED])
    logits = torch.zeros(2, vocab)  # (B, V)
    guard.mask(logits)
    for row in (0, 1):
        ok = set(torch.isfinite(logits[row]).nonzero().flatten().tolist())
        assert by_byte[0x80] in ok and by_byte[0x9F] in ok
        assert by_byte[0xA0] not in ok and by_byte[0xBF] not in ok and not eos & ok


@pytest.mark.parametrize("family", ["smolvlm", "qwen2_vl"])
def test_sampled_constrained_answers_are_valid_utf8(family, tiny_checkpoint):
    """Random weights over a byte-level vocabulary pick lone and mismatched bytes often; a regex of
    non-ASCII characters and a free JSON string make every answer spell multi-byte characters."""
    pytest.importorskip("xgrammar")
    import json

    from vlmcli.engine import Engine, EngineConfig, GenerationConfig, ImageInput, Request
    from vlmcli.engine.events import FinishReason
    from vlmcli.structured import RegexConstraint, SchemaConstraint
    from vlmcli.testing import sample_photos

    engine = Engine.load(EngineConfig(model=str(tiny_checkpoint(family)), device="cpu", dtype="float32"))
    photo = ImageInput(sample_photos()[0], source="photo")
    wide = RegexConstraint("[^\\x00-\\x7f]{4,8}")
    free = SchemaConstraint(json.dumps({"type": "object", "properties": {"s": {"type": "string", "maxLength": 6}},
                                        "required": ["s"]}))
    finished = 0
    for seed in range(12):
        requests = [Request(prompt=f"Say {i}.", images=(photo,), constraint=c) for i, c in enumerate((wide, free) * 2)]
        for result in engine.generate(requests, GenerationConfig(max_tokens=48, temperature=1.0, seed=seed)):
            raw = result.text.encode("utf-8")
            assert "\ufffd" not in result.text, result.text
            if result.finish_reason is FinishReason.STOP:
                finished += 1
                assert result.valid, result.text
                assert raw.decode("utf-8") == result.text
    assert finished >= 24  # most answers end within the budget
