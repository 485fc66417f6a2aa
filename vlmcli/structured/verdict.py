"""Whether a constrained answer is complete and what value it holds (`valid`, `parsed` in --json).

An answer is valid only when generation ended because the grammar was complete (the model
chose end-of-sequence where the grammar accepts it, or nothing but the end was possible) and
the finished text passes the check after generation (`Constraint.parse`: strict JSON, the
schema, the regex, the choices), so `valid` never rests on the grammar alone.
A `--max-tokens` cut leaves it invalid with `parsed` None, even when the cut text happens to
parse (`204` under an integer schema could have gone on), unless the grammar proves nothing
but the end could follow (`Guard.can_end`); so does a stop string: never a partial object
presented as valid. So does text with U+FFFD, as a backstop: byte-level tokens can
spell byte sequences that are not valid UTF-8 (xgrammar 0.2.9 accepts some inside strings),
which decode to replacement characters, so the grammar checked bytes the text no longer
holds. The guard's UTF-8 mask (`structured.utf8_mask`) keeps such tokens out; only a
grammar that itself demands invalid bytes could still produce one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vlmcli.structured.spec import Constraint


@dataclass(frozen=True)
class Verdict:
    valid: bool
    parsed: Any = None


def judge(constraint: Constraint, text: str, *, complete: bool) -> Verdict:
    """`complete`: the answer is finished under its grammar. The text must then pass `parse` too."""
    if not complete or "\ufffd" in text:
        return Verdict(valid=False)
    try:
        return Verdict(valid=True, parsed=constraint.parse(text))
    except ValueError:
        return Verdict(valid=False)


def constraint_note(result: Any, *, field: str = "answer_json") -> str | None:
    """The note when a constrained answer is not valid (`field`, where the parsed answer goes,
    is null): cut by --max-tokens, or not matching its constraint. None for valid and free-text answers."""
    if getattr(result, "valid", None) is not False:
        return None
    if result.finish_reason == "length":
        return f"--max-tokens cut the constrained answer before it was complete ({field} is null); raise --max-tokens."
    return f"The answer does not match its constraint ({field} is null)."


def checked_after_note(constraint: Constraint | None) -> str | None:
    """The setup notice for keywords the grammar leaves to the check after generation (one line, once
    per run: `warning: ` is the command's), or None when the grammar enforces the whole constraint."""
    keys = constraint.checked_after() if constraint is not None else ()
    if not keys:
        return None
    one = len(keys) == 1
    return (
        f"{constraint.flag}: {', '.join(keys)} {'is' if one else 'are'} checked after the answer, not enforced "
        f"while generating; an answer that breaks {'it' if one else 'one'} is reported valid: false."
    )
