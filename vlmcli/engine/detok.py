"""Incremental detokenization with stop strings, one `TextStream` per request.

Decoding token by token is wrong for byte-level and sentencepiece tokenizers (a character
can span tokens; a leading space depends on the previous token), so each step decodes a
short window starting at an earlier token and emits only the new suffix (the offset method
used by text-generation-inference). Text that could be the start of a stop string is held
back until it is clear, so a stop string never reaches the terminal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class TextStream:
    tokenizer: Any
    stop: tuple[str, ...] = ()
    ids: list[int] = field(default_factory=list)
    _prefix_offset: int = 0
    _read_offset: int = 0
    _text: str = ""
    """Everything decoded so far (before stop-string cutting)."""
    _emitted: int = 0
    """How many characters of the (cut) text were handed out."""
    stopped: bool = False
    """True once a stop string appeared; the text ends before it."""

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def push(self, token_id: int) -> str:
        """Add one token; return the text that can be shown now (maybe empty)."""
        self.ids.append(token_id)
        prefix = self._decode(self.ids[self._prefix_offset : self._read_offset])
        full = self._decode(self.ids[self._prefix_offset :])
        if len(full) > len(prefix) and not full.endswith("\ufffd"):
            self._text += full[len(prefix) :]
            self._prefix_offset = self._read_offset
            self._read_offset = len(self.ids)
        return self._release(final=False)

    def finish(self) -> str:
        """Flush whatever is held back; call once when generation ends."""
        full = self._decode(self.ids)
        if full.startswith(self._text):
            self._text = full
        return self._release(final=True)

    @property
    def text(self) -> str:
        return self._cut(self._text)[0]

    def _cut(self, text: str) -> tuple[str, bool]:
        cut = min((i for i in (text.find(s) for s in self.stop) if i >= 0), default=-1)
        return (text[:cut], True) if cut >= 0 else (text, False)

    def _release(self, *, final: bool) -> str:
        visible, hit = self._cut(self._text)
        if hit:
            self.stopped = True
        elif not final:
            visible = visible[: len(visible) - self._held_back(visible)]
        out = visible[self._emitted :]
        self._emitted = max(self._emitted, len(visible))
        return out

    def _held_back(self, text: str) -> int:
        """Length of the longest suffix of `text` that is a proper prefix of a stop string."""
        best = 0
        for s in self.stop:
            for n in range(min(len(s) - 1, len(text)), 0, -1):
                if text.endswith(s[:n]):
                    best = max(best, n)
                    break
        return best
