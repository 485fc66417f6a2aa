"""The grammar engine behind the token mask: a small interface, and the registry that finds it.

A backend compiles a `Constraint` for one tokenizer into a grammar and makes one matcher per
row of a batch. vlmcli's decode loop (`structured.guard`) asks each row's matcher for its
next-token bitmask, applies it to the logits, and advances the matcher by the chosen token;
end-of-sequence is vlmcli's business and never reaches a matcher.

Chosen by measurement (bench/RESULTS.md, "Issue 18: grammar engines"): xgrammar. The engine is
the optional extra `vlmcli[structured]`; without it, `backend()` raises
BackendUnavailableError (exit 7) naming the extra, never a silent unconstrained answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from vlmcli.errors import BackendUnavailableError

if TYPE_CHECKING:
    import torch

    from vlmcli.structured.spec import Constraint

EXTRA_HINT = "install the extra: pip install 'vlmcli[structured]'"


class Matcher(Protocol):
    """One row's position in its grammar."""

    def fill(self, bitmask: "torch.Tensor", row: int) -> None:
        """Write the allowed next tokens into row `row` of the (B, ceil(V/32)) int32 bitmask;
        the end-of-sequence ids are set exactly where the grammar may end."""

    def accept(self, token: int) -> bool:
        """Advance by `token` (never end-of-sequence); False when the grammar refuses it."""

    def can_end(self) -> bool:
        """True when the text so far is a complete answer."""


class Backend(Protocol):
    name: str

    def matcher(self, constraint: "Constraint", *, tokenizer: Any, vocab_size: int, eos: Sequence[int]) -> Matcher:
        """A fresh matcher for `constraint`; compiled grammars are cached per tokenizer and constraint."""

    def allocate(self, batch: int, vocab_size: int) -> "torch.Tensor":
        """A (B, ceil(V/32)) int32 bitmask, every token allowed (bit t%32 of word t//32 is token t)."""

    def token_bytes(self, *, tokenizer: Any, vocab_size: int, eos: Sequence[int]) -> Sequence[bytes]:
        """The bytes each token id adds to the answer, as the grammar sees them (ids the tokenizer
        lacks may be left out). Slow on large vocabularies: callers keep the result."""

    def apply(self, logits: "torch.Tensor", bitmask: "torch.Tensor", rows: Sequence[int]) -> None:
        """Set the logits of disallowed tokens to -inf, in place, on the given rows of (B, V) logits."""


def _xgrammar() -> Backend:
    from vlmcli.structured.xgrammar_backend import XGrammarBackend

    return XGrammarBackend()


BACKENDS: dict[str, Callable[[], Backend]] = {"xgrammar": _xgrammar}
"""Name -> factory; a factory imports its engine lazily (ImportError when missing)."""
DEFAULT = "xgrammar"
_loaded: dict[str, Backend] = {}


def backend(name: str = DEFAULT) -> Backend:
    """The named backend (one instance per process), or BackendUnavailableError naming the extra."""
    if name not in _loaded:
        try:
            _loaded[name] = BACKENDS[name]()
        except ImportError as exc:
            raise BackendUnavailableError(
                f"--schema, --choice, --regex and --json-mode need the grammar engine {name} ({exc}); {EXTRA_HINT}."
            ) from None
    return _loaded[name]


def check_available(name: str = DEFAULT) -> None:
    """Fail early (before any model loads) when the structured extra is missing."""
    backend(name)
