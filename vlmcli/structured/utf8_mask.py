"""Which tokens keep the answer's bytes valid UTF-8: a small decoder state and a table per vocabulary.

Why: byte-level tokenizers have tokens that are single bytes (or end in part of a character),
and xgrammar 0.2.9 lets some byte sequences that are not UTF-8 into JSON strings (seen with
random weights, bench/RESULTS.md issue 18); the decoded text then holds U+FFFD and is no
longer what the grammar checked. The guard (`structured.guard`) therefore also masks, for
constrained rows, every token whose bytes would make the answer's byte stream invalid.

The decoder (RFC 3629, the same table as Unicode's "well-formed byte sequences") is a DFA over
bytes with 8 live states, each "n continuation bytes still to come, the next one in range R",
plus a dead state:

    COMPLETE                     no character pending
    NEED1, NEED2, NEED3          1, 2 or 3 to come, next in 80-BF
    AFTER_E0                     2 to come, next in A0-BF (no overlong 3-byte forms)
    AFTER_ED                     2 to come, next in 80-9F (no surrogates)
    AFTER_F0                     3 to come, next in 90-BF (no overlong 4-byte forms)
    AFTER_F4                     3 to come, next in 80-8F (nothing above U+10FFFF)
    REJECT                       invalid; absorbing

`Utf8Table.build` runs every token's bytes from every live state at once (numpy, one vector
step per byte position), giving for each (state, token) the state after it, REJECT where the
token is not allowed. Per decode step the guard then needs one row lookup for the mask and one
element for the next state. End-of-sequence ids are allowed only in COMPLETE (a character cut in
half is never a finished answer). Pure: no torch, no grammar engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

COMPLETE, NEED1, NEED2, NEED3, AFTER_E0, AFTER_ED, AFTER_F0, AFTER_F4 = range(8)
LIVE_STATES = 8
REJECT = 8


def _transitions() -> np.ndarray:
    """(9, 256) uint8: the state after one byte, from each state (REJECT included)."""
    table = np.full((LIVE_STATES + 1, 256), REJECT, dtype=np.uint8)
    start = table[COMPLETE]
    start[0x00:0x80] = COMPLETE
    start[0xC2:0xE0] = NEED1  # C0, C1: overlong 2-byte forms
    start[0xE0] = AFTER_E0
    start[0xE1:0xED] = NEED2
    start[0xED] = AFTER_ED
    start[0xEE:0xF0] = NEED2
    start[0xF0] = AFTER_F0
    start[0xF1:0xF4] = NEED3
    start[0xF4] = AFTER_F4  # F5-FF: beyond U+10FFFF
    for state, (low, high), after in (
        (NEED1, (0x80, 0xBF), COMPLETE),
        (NEED2, (0x80, 0xBF), NEED1),
        (NEED3, (0x80, 0xBF), NEED2),
        (AFTER_E0, (0xA0, 0xBF), NEED1),
        (AFTER_ED, (0x80, 0x9F), NEED1),
        (AFTER_F0, (0x90, 0xBF), NEED2),
        (AFTER_F4, (0x80, 0x8F), NEED2),
    ):
        table[state, low : high + 1] = after
    return table


TRANSITIONS = _transitions()


def run(state: int, data: bytes) -> int:
    """The state after `data` from `state` (REJECT once any byte is invalid): the scalar reference."""
    for byte in data:
        state = int(TRANSITIONS[state, byte])
    return state


@dataclass(frozen=True)
class Utf8Table:
    """For one vocabulary: the state after each token from each live state."""

    next_state: np.ndarray
    """(LIVE_STATES, V) uint8; REJECT where the token would break UTF-8 (or is an end id outside COMPLETE)."""

    def __post_init__(self) -> None:
        if self.next_state.ndim != 2 or self.next_state.shape[0] != LIVE_STATES:
            raise ValueError(f"next_state must be ({LIVE_STATES}, V), not {tuple(self.next_state.shape)}")

    @property
    def vocab_size(self) -> int:
        return int(self.next_state.shape[1])

    @classmethod
    def build(
        cls, token_bytes: Sequence[bytes], *, vocab_size: int, ends: Iterable[int] = (), dropped: Iterable[int] = ()
    ) -> "Utf8Table":
        """`token_bytes[i]`: the bytes token i adds to the answer; ids past its end (a model's padded
        embedding rows) add nothing; `ends`: end-of-sequence ids, allowed only in COMPLETE;
        `dropped`: ids the detokenizer leaves out of the text (special tokens), never allowed: the
        grammar would count bytes the answer does not hold."""
        if len(token_bytes) > vocab_size:
            raise ValueError(f"{len(token_bytes)} token byte strings for a vocabulary of {vocab_size}")
        lengths = np.zeros(vocab_size, dtype=np.int64)  # (V,)
        lengths[: len(token_bytes)] = [len(b) for b in token_bytes]
        flat = np.frombuffer(b"".join(token_bytes), dtype=np.uint8)  # (sum of lengths,)
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])  # (V,) where each token's bytes start
        longest_first = np.argsort(-lengths, kind="stable")  # tokens with a byte at position p: a prefix
        states = np.repeat(np.arange(LIVE_STATES, dtype=np.uint8)[:, None], vocab_size, axis=1)  # (S, V)
        for position in range(int(lengths.max(initial=0))):
            ids = longest_first[: int((lengths > position).sum())]  # (T,)
            byte = flat[offsets[ids] + position]  # (T,)
            states[:, ids] = TRANSITIONS[states[:, ids], byte[None, :]]  # (S, T)
        states[:, sorted(set(dropped) - set(ends))] = REJECT
        ends = sorted(set(ends))
        states[:, ends] = REJECT  # end only where no character is pending, whatever its text
        states[COMPLETE, ends] = COMPLETE
        return cls(next_state=states)

    def allowed(self, state: int) -> np.ndarray:
        """(V,) bool: the tokens that keep the bytes valid from `state`."""
        return self.next_state[state] != REJECT

    def advance(self, state: int, token: int) -> int:
        """The state after `token` (REJECT when it was not allowed)."""
        return int(self.next_state[state, token])

    def packed(self) -> np.ndarray:
        """(LIVE_STATES, ceil(V/32)) int32: `allowed` per state as token bitmasks, bit t%32 of word t//32
        set when token t is allowed (the layout of the grammar backends' bitmasks)."""
        words = -(-self.vocab_size // 32)
        bits = np.zeros((LIVE_STATES, words * 32), dtype=bool)  # (S, W*32); padding ids never allowed
        bits[:, : self.vocab_size] = self.next_state != REJECT
        return np.packbits(bits, axis=1, bitorder="little").view("<i4")  # (S, W)
