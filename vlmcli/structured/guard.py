"""The token mask in vlmcli's decode loop: one matcher per constrained row of a batch.

Each step, before the next token is chosen (greedy or sampled), `mask(logits)` sets the
logits of every token the row's grammar forbids to -inf; rows without a constraint, and rows
that have finished, are left alone, so a batch that mixes constrained and free rows gives each
row the tokens it would get alone. End-of-sequence is allowed exactly where the grammar may
end (the backend sets those bits); when nothing but the end is possible the row is complete
(`complete`) and the loop stops it without spending a step on the end token.

Each constrained row also keeps its answer's bytes valid UTF-8 (`structured.utf8_mask`): the
grammar's bitmask is ANDed with the row's UTF-8 state mask before it is applied, so a byte token
that would leave an invalid sequence (or end in the middle of a character) is never chosen. Per
step that is one (ceil(V/32),) AND per row; the table behind it is built once per vocabulary.
Special tokens, which the detokenizer drops from the text, are never allowed in a constrained
answer (except the end ids). Should the two masks ever leave nothing (a grammar that itself needs invalid bytes), the grammar
wins and the verdict reports the answer invalid (it holds U+FFFD).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from vlmcli.structured.backend import Backend, Matcher, backend
from vlmcli.structured.spec import Constraint
from vlmcli.structured.utf8_mask import COMPLETE, REJECT, Utf8Table

_TABLES_KEPT = 4
"""UTF-8 tables (one per tokenizer, vocabulary size and end ids) kept across guards."""
_tables: dict[tuple[int, int, tuple[int, ...]], tuple[Any, Utf8Table, "torch.Tensor"]] = {}
_tables_lock = threading.Lock()

if TYPE_CHECKING:
    import torch


class Guard:
    def __init__(
        self, constraints: Sequence[Constraint | None], *, tokenizer: Any, vocab_size: int, eos: frozenset[int]
    ) -> None:
        engine = backend()
        self._engine = engine
        self._eos = sorted(eos)
        self.matchers: list[Matcher | None] = [
            None if c is None else engine.matcher(c, tokenizer=tokenizer, vocab_size=vocab_size, eos=self._eos)
            for c in constraints
        ]
        self._bitmask = engine.allocate(len(constraints), vocab_size)  # (B, ceil(V/32)) int32
        self._live = [i for i, m in enumerate(self.matchers) if m is not None]
        self._utf8, self._utf8_bits = utf8_table(engine, tokenizer=tokenizer, vocab_size=vocab_size, eos=self._eos)
        self._utf8_state = [COMPLETE] * len(constraints)

    def mask(self, logits: "torch.Tensor") -> None:
        """Mask the (B, V) logits of the live constrained rows in place."""
        import torch

        for row in self._live:
            self.matchers[row].fill(self._bitmask, row)  # type: ignore[union-attr]
            self._keep_utf8(row)
        self._engine.apply(logits, self._bitmask, self._live)
        for row in self._live:  # a grammar with no way forward is a bug, never a silent free answer
            if not torch.isfinite(logits[row]).any():
                raise RuntimeError(f"the grammar of row {row} allows no token")

    def advance(self, row: int, token: int) -> None:
        """Move row `row` past `token` (the loop handles end-of-sequence itself)."""
        matcher = self.matchers[row]
        if matcher is None or token in self._eos:
            return
        if not matcher.accept(token):
            raise RuntimeError(f"the grammar of row {row} refused token {token} that its own mask allowed")
        if self._utf8_state[row] != REJECT:
            self._utf8_state[row] = self._utf8.advance(self._utf8_state[row], token)

    def _keep_utf8(self, row: int) -> None:
        """AND row `row` of the grammar bitmask with the tokens that keep its bytes valid UTF-8."""
        state = self._utf8_state[row]
        if state == REJECT:  # only after the grammar overruled the mask (see the module docstring)
            return
        both = self._bitmask[row] & self._utf8_bits[state]  # (W,) int32
        if both.any():
            self._bitmask[row] = both

    def complete(self, row: int) -> bool:
        """True when the row's answer is complete and nothing but the end could follow."""
        matcher = self.matchers[row]
        if matcher is None or not matcher.can_end():
            return False
        probe = self._engine.allocate(1, self._bitmask.shape[-1] * 32)  # (1, W)
        matcher.fill(probe, 0)
        allowed = _set_bits(probe[0])
        return allowed <= set(self._eos)

    def can_end(self, row: int) -> bool:
        """Whether an answer stopped here (by --max-tokens) is proven finished, as `valid` needs:
        the grammar accepts it *and* nothing but the end could follow (`complete`). The grammar
        merely accepting it is not enough: `20` under --choice 2/20/200, or `204` under an integer
        schema, could still have grown, so the cut answer is not the one the model would give."""
        return self.complete(row)

    def stop(self, row: int) -> None:
        """The row finished: stop filling its mask."""
        if row in self._live:
            self._live.remove(row)


def utf8_table(engine: Backend, *, tokenizer: Any, vocab_size: int, eos: Sequence[int]) -> tuple[Utf8Table, "torch.Tensor"]:
    """The vocabulary's UTF-8 table and its (LIVE_STATES, ceil(V/32)) int32 bitmasks, built once per
    tokenizer, vocabulary size and end ids (about a second at 151k tokens; a guard per request
    must not pay it)."""
    import torch

    key = (id(tokenizer), vocab_size, tuple(sorted(eos)))
    with _tables_lock:
        kept = _tables.get(key)
        if kept is None or kept[0] is not tokenizer:
            token_bytes = engine.token_bytes(tokenizer=tokenizer, vocab_size=vocab_size, eos=eos)
            table = Utf8Table.build(  # ids past V never come
                token_bytes[:vocab_size], vocab_size=vocab_size, ends=eos, dropped=dropped_ids(tokenizer, vocab_size)
            )
            kept = (tokenizer, table, torch.from_numpy(table.packed()))
            if len(_tables) >= _TABLES_KEPT:
                _tables.pop(next(iter(_tables)))
            _tables[key] = kept
    return kept[1], kept[2]


def dropped_ids(tokenizer: Any, vocab_size: int) -> list[int]:
    """Token ids the answer's text leaves out (decoded with `skip_special_tokens`): the special
    and added-special tokens, such as SmolVLM's `<row_1_col_1>`, which the grammar would
    otherwise accept inside a JSON string as if they were text."""
    ids = set(getattr(tokenizer, "all_special_ids", ()) or ())
    for token_id, added in (getattr(tokenizer, "added_tokens_decoder", None) or {}).items():
        if getattr(added, "special", False):
            ids.add(int(token_id))
    return sorted(i for i in ids if 0 <= i < vocab_size)


def _set_bits(words: "torch.Tensor") -> set[int]:
    """Token ids whose bit is set in one bitmask row (W,) int32."""
    import torch

    nonzero = torch.nonzero(words).flatten().tolist()
    out = set()
    for w in nonzero:
        value = int(words[w]) & 0xFFFFFFFF
        out.update(w * 32 + b for b in range(32) if value >> b & 1)
        if len(out) > 64:  # more than a few ids: certainly not only the end tokens
            break
    return out
