"""One regex, read the same way by the grammar (xgrammar) and by the check after generation (Python's `re`).

A `--regex`, a schema `pattern` and the keys of `patternProperties` are enforced by xgrammar,
whose syntax is JavaScript's with a few differences, and checked afterwards with Python's `re`.
The two read some text differently, so `translate` walks the pattern once, as xgrammar does, and
gives both readings of one language, or refuses (ConfigError, one line) what they would not share:

- `.` is any character, newline included; `\\d`, `\\w` are ASCII (`[0-9]`, `[a-zA-Z0-9_]`) and `\\s`
  is JavaScript's whitespace (`WHITESPACE`): Python gets them spelled out;
- `^` only at the very start and `$` only at the very end (xgrammar ignores them elsewhere);
- refused: `\\A`, `\\Z`, `\\z`, `\\b`, `\\B` outside a class, `\\N`, back-references and octal escapes,
  POSIX classes (`[[:digit:]]`), groups other than `(...)` and `(?:...)` (lookaround, flags, names),
  possessive or doubled repetition (`a*+`), a `{` that is not a repetition (write `\\{`), `{,m}`
  (Python reads `{0,m}`, which the message suggests), and `--` inside a class;
- an escaped character that needs no escape (`\\#`, `\\ `, `\\&`) is sent to xgrammar plainly, which
  would otherwise print a warning for each.

`escape(text)` writes a literal for xgrammar (the `--choice` options): only its special characters
are escaped, control characters as `\\n`, `\\t`, `\\xHH`. Pure; imports nothing heavy.

Messages quote a pattern as the user typed it (`'\\d+'`, not Python's doubled `'\\\\d+'`), and a refusal
that has a same-meaning rewrite names it (`a{0,3}` for `a{,3}`, `[0-9]` for `[[:digit:]]`).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from functools import lru_cache

from vlmcli.errors import ConfigError

WHITESPACE = "\t\n\x0b\x0c\r \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
"""xgrammar's `\\s` (JavaScript's), as a Python class body."""
_SETS = {"d": "0-9", "w": "a-zA-Z0-9_", "s": WHITESPACE}
"""xgrammar's `\\d`, `\\w`, `\\s` as Python class bodies (their capitals are the complements, `_BODIES`)."""
_SPECIAL = frozenset("^$.*+?\\()[]{}|")
"""Characters xgrammar reads as syntax outside a class (all of them may be escaped)."""
_CLASS_SPECIAL = frozenset("]\\^-[")
_CONTROL = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\x0c": "\\f", "\x0b": "\\v"}
_LETTER_ESCAPES = {"a": "\x07", "f": "\x0c", "n": "\n", "r": "\r", "t": "\t", "v": "\x0b"}
_HEX_DIGITS = {"x": 2, "u": 4, "U": 8}
_REFUSED = {
    "b": "\\b (word boundary)", "B": "\\B (not a word boundary)", "A": "\\A (write ^ at the start)",
    "Z": "\\Z (write $ at the end)", "z": "\\z (write $ at the end)", "G": "\\G", "N": "\\N",
}
_REPEAT = re.compile(r"\{(\d+)(?:,(\d*))?\}")
_UPTO = re.compile(r"\{,(\d+)\}")
"""`{,m}`: Python's `re` reads it as `{0,m}`; xgrammar refuses it."""
POSIX_CLASSES = {
    "digit": "0-9", "alpha": "a-zA-Z", "alnum": "a-zA-Z0-9", "upper": "A-Z", "lower": "a-z",
    "xdigit": "0-9A-Fa-f", "space": " \\t\\n\\r\\f\\v", "blank": " \\t", "word": "\\w",
    "punct": "!-/:-@\\[-`{-~", "cntrl": "\\x00-\\x1f\\x7f", "print": "\\x20-\\x7e", "graph": "\\x21-\\x7e",
}
"""POSIX class name -> the same ASCII characters as a class body in this dialect (the suggested rewrite)."""
_POSIX = re.compile(r"\[:(\w+):\]")


@dataclass(frozen=True)
class Translated:
    grammar: str
    """The pattern as sent to xgrammar."""
    python: str
    """The same language for Python's `re` (`^` and `$` kept as anchors, so `search` works too)."""


def escape(text: str) -> str:
    """`text` as a literal in xgrammar's regex syntax (the options of `--choice`)."""
    return "".join(_literal(ch, _SPECIAL) for ch in text)


def translate(pattern: str, where: str) -> Translated:
    """Both readings of `pattern`, or ConfigError naming `where` (`--regex`, `--schema: properties.x.pattern`)."""
    try:
        return _Walk(pattern).run()
    except _Refused as exc:
        advice = exc.advice or "the grammar would read it differently"
        raise ConfigError(f"{where} {quoted(pattern)}: {exc} is not supported ({advice}).") from None


def quoted(pattern: str) -> str:
    """`pattern` in single quotes as the user typed it (no doubled backslashes); only control
    characters are escaped, so the message stays on one line."""
    return "'" + "".join(_CONTROL.get(ch, ch) for ch in pattern) + "'"


@lru_cache(maxsize=256)
def python_regex(pattern: str) -> "re.Pattern[str]":
    """The compiled Python reading of an accepted pattern (checked before, so it does not raise)."""
    return re.compile(translate(pattern, "pattern").python)


def check_python_syntax(pattern: str, where: str) -> None:
    """ConfigError unless Python's `re` reads `pattern` at all (its FutureWarnings stay off stderr)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigError(f"{where} {quoted(pattern)} is not a valid regular expression: {exc}.") from None


class _Refused(Exception):
    """What is refused (the message); `advice`: what to write instead, when there is a same-meaning rewrite."""

    def __init__(self, what: str, advice: str | None = None) -> None:
        super().__init__(what)
        self.advice = advice


def _literal(ch: str, special: frozenset[str]) -> str:
    if ch in special:
        return "\\" + ch
    if ch in _CONTROL:
        return _CONTROL[ch]
    if ord(ch) < 0x20 or ord(ch) == 0x7F:
        return f"\\x{ord(ch):02x}"
    return ch


class _Walk:
    """One pass over the pattern (code points), building both readings."""

    def __init__(self, pattern: str) -> None:
        self.p, self.i = pattern, 0
        self.grammar: list[str] = []
        self.python: list[str] = []

    def run(self) -> Translated:
        p = self.p
        while self.i < len(p):
            ch = p[self.i]
            if ch == "^" and self.i != 0:
                raise _Refused("'^' other than at the very start")
            if ch == "$" and self.i != len(p) - 1:
                raise _Refused("'$' other than at the very end")
            if ch == "[":
                self._class()
                continue
            if ch == "\\":
                self._escape()
                continue
            if ch == "(" and p.startswith("(?", self.i) and not p.startswith("(?:", self.i):
                raise _Refused(f"the group '{p[self.i:self.i + 3]}...' (only (...) and (?:...) are)")
            if ch in "*+?{":
                self._repeat()
                continue
            self._emit(ch, {"$": "\\Z", ".": "(?s:.)"}.get(ch, ch))
            self.i += 1
        return Translated(grammar="".join(self.grammar), python="".join(self.python))

    def _emit(self, grammar: str, python: str) -> None:
        self.grammar.append(grammar)
        self.python.append(python)

    def _repeat(self) -> None:
        p, start = self.p, self.i
        if p[start] == "{":
            match = _REPEAT.match(p, start)
            upto = _UPTO.match(p, start)
            if match is None and upto is not None:
                same = p[:start] + "{0," + upto.group(1) + "}" + p[upto.end():]
                raise _Refused(
                    f"the repetition {upto.group(0)}",
                    f"write {quoted(same)}: 0 to {upto.group(1)} times, as Python reads it; xgrammar does not take {{,m}}",
                )
            if match is None:
                raise _Refused("a '{' that is not a repetition {n}, {n,} or {n,m} (write \\{)")
            self.i = match.end()
        else:
            self.i += 1
        if self.i < len(p) and p[self.i] == "?":
            self.i += 1  # lazy: the same language
        if self.i < len(p) and p[self.i] in "*+?{":
            raise _Refused(f"the repetition '{p[start:self.i + 1]}' (two in a row)")
        text = p[start:self.i]
        self._emit(text, text)

    def _escape(self) -> None:
        kind, value, body = self._escaped(in_class=False)
        if kind == "set":
            self._emit(value, "[" + body + "]")
        else:
            self._emit(_literal(value, _SPECIAL), re.escape(value))

    def _escaped(self, *, in_class: bool) -> tuple[str, str, str]:
        """At a backslash: ("char", the character, "") or ("set", xgrammar text, Python class body)."""
        p, i = self.p, self.i
        if i + 1 >= len(p):
            raise _Refused("a trailing backslash")
        code = p[i + 1]
        self.i = i + 2
        if code in _BODIES:
            return ("set", "\\" + code, _BODIES[code])
        if code == "b" and in_class:
            return ("char", "\x08", "")
        if code in _REFUSED:
            raise _Refused(_REFUSED[code])
        if code == "0" and not (i + 2 < len(p) and p[i + 2].isdigit()):
            return ("char", "\x00", "")
        if code.isdigit():
            raise _Refused(f"\\{code} (a back-reference or octal escape)")
        if code in _HEX_DIGITS:
            digits = p[i + 2 : i + 2 + _HEX_DIGITS[code]]
            if len(digits) != _HEX_DIGITS[code] or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise _Refused(f"the escape \\{code}{digits}")
            self.i += len(digits)
            return ("char", chr(int(digits, 16)), "")
        if code in _LETTER_ESCAPES:
            return ("char", _LETTER_ESCAPES[code], "")
        if code.isascii() and code.isalnum():
            raise _Refused(f"the escape \\{code}")
        return ("char", code, "")

    def _class(self) -> None:
        p = self.p
        self.i += 1
        negate = self.i < len(p) and p[self.i] == "^"
        self.i += negate
        if self.i >= len(p) or p[self.i] == "]":
            raise _Refused("an empty class or one starting with ']' (write \\])")
        grammar, python = ["[^" if negate else "["], ["[^" if negate else "["]
        while True:
            if self.i >= len(p):
                raise _Refused("an unclosed '['")
            if p[self.i] == "]":
                break
            first = self._class_atom()
            if p.startswith("-", self.i) and not p.startswith("-]", self.i):
                self.i += 1
                last = self._class_atom()
                if first[0] == "set" or last[0] == "set":
                    raise _Refused("a class range with \\d, \\w or \\s at an end")
                grammar.append(_literal(first[1], _CLASS_SPECIAL) + "-" + _literal(last[1], _CLASS_SPECIAL))
                python.append(re.escape(first[1]) + "-" + re.escape(last[1]))
            elif first[0] == "set":
                grammar.append(first[1])
                python.append(first[2])
            else:
                grammar.append(_literal(first[1], _CLASS_SPECIAL))
                python.append(re.escape(first[1]))
        self.i += 1
        self._emit("".join(grammar) + "]", "".join(python) + "]")

    def _class_atom(self) -> tuple[str, str, str]:
        p = self.p
        ch = p[self.i]
        if ch == "\\":
            return self._escaped(in_class=True)
        if ch == "[" and self.i + 1 < len(p) and p[self.i + 1] in ":=.":
            raise _posix(p, self.i)
        if ch == "-" and p.startswith("--", self.i):
            raise _Refused("'--' inside a class (write \\-)")
        self.i += 1
        return ("char", ch, "")


def _posix(pattern: str, at: int) -> _Refused:
    """The refusal of a POSIX class (`[:digit:]`, or `[=a=]`, `[.a.]`) at `pattern[at]`, naming the
    same-meaning rewrite when every POSIX class in the pattern has one."""
    close = pattern.find(pattern[at + 1] + "]", at + 2)
    name = pattern[at : close + 2] if close != -1 else pattern[at : at + 2] + "..."
    known = _POSIX.match(pattern, at)
    if known is None or known.group(1) not in POSIX_CLASSES:
        return _Refused(f"the POSIX class {name}", "list the characters instead, as [0-9] or [a-zA-Z]")
    body = POSIX_CLASSES[known.group(1)]
    same = _POSIX.sub(lambda m: POSIX_CLASSES.get(m.group(1), m.group(0)), pattern)
    if _POSIX.search(same) is None:
        return _Refused(f"the POSIX class {name}", f"write {body} inside the brackets instead: {quoted(same)}")
    return _Refused(f"the POSIX class {name}", f"write {body} inside the brackets instead")


def _complement(body: str) -> str:
    """The Python class body of every character not in `body` (a body of chars and ranges)."""
    points = sorted(_code_points(body))
    out, low = [], 0
    for start, end in points:
        if start > low:
            out.append((low, start - 1))
        low = max(low, end + 1)
    out.append((low, 0x10FFFF))
    return "".join(_range(a, b) for a, b in out)


def _code_points(body: str) -> list[tuple[int, int]]:
    """The (first, last) code point spans of a class body written with plain characters and ranges."""
    spans, i = [], 0
    while i < len(body):
        if i + 2 < len(body) and body[i + 1] == "-":
            spans.append((ord(body[i]), ord(body[i + 2])))
            i += 3
        else:
            spans.append((ord(body[i]), ord(body[i])))
            i += 1
    return spans


def _range(low: int, high: int) -> str:
    def one(cp: int) -> str:
        return f"\\U{cp:08x}"

    return one(low) if low == high else f"{one(low)}-{one(high)}"


_BODIES = {**_SETS, **{code.upper(): _complement(body) for code, body in _SETS.items()}}
