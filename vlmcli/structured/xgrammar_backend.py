"""The xgrammar backend: JSON Schema, regex and JSON grammars compiled to a token bitmask.

Why xgrammar (bench/RESULTS.md, "Issue 18: grammar engines"): the fastest mask on this CPU
at both vocabulary sizes and batch sizes, every schema feature the issue asks for, and
compiles in milliseconds. Grammar choices made here, for every model alike:
- JSON is written compactly with `", "` and `": "` separators and no free whitespace, so a
  model cannot spend its token budget on blank lines;
- a `--schema` object allows only the properties it lists (xgrammar's strict mode, as
  OpenAI's structured outputs), and `--json-mode` allows any object;
- a string with minLength/maxLength is compiled as the equivalent `pattern` of characters other
  than `"`, `\\` and control characters: xgrammar 0.2.9's length-bounded strings let raw control
  characters (invalid JSON) through (bench/RESULTS.md, issue 18), its patterns do not. Such a
  string therefore holds no escapes (no quotes or backslashes);
- an integer's fractional bounds are rounded inward (xgrammar refuses them), and regexes are
  sent as `regex_dialect` writes them (`for_grammar`);
- the keywords checked only after generation (`schema_support`) are left out, as xgrammar 0.2.9 would
  ignore them anyway (checked: it compiles them without a word): `uniqueItems`, lengths beside a
  `pattern`/`format`, and a `multipleOf` it does not enforce (on a number, or beside bounds, where it
  enforces it for small ranges only and could leave no value at all); `formats.AS_PATTERN` formats
  become their pattern and `formats.ANY_STRING` ones a plain string.
Only schemas and regexes the grammar enforces reach it (`schema_support`, `regex_dialect`), and
its C++ log lines are kept off stderr while compiling (`media.quiet.native_stderr_filtered`).
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vlmcli.errors import ConfigError
from vlmcli.media.quiet import native_stderr_filtered
from vlmcli.structured.formats import ANY_STRING, AS_PATTERN
from vlmcli.structured.regex_dialect import translate
from vlmcli.structured.schema_support import grammar_multiple_of
from vlmcli.structured.spec import (
    ChoiceConstraint,
    Constraint,
    JsonModeConstraint,
    RegexConstraint,
    SchemaConstraint,
)

if TYPE_CHECKING:
    import torch

SEPARATORS = (", ", ": ")
_PLAIN_CHAR = '[^"\\\\\\x00-\\x1f]'
"""A JSON string character that needs no escape (regex text): not a quote, backslash or control."""
_COMPILERS_KEPT = 4
"""Compilers (one per tokenizer, vocabulary size and end ids) kept; each holds its grammar cache."""


@dataclass(frozen=True)
class _Compiled:
    """What the backend keeps per tokenizer: xgrammar's view of it and the compiler (with its cache)."""

    tokenizer: Any
    info: Any
    compiler: Any


class XGrammarMatcher:
    def __init__(self, matcher: Any) -> None:
        self._m = matcher

    def fill(self, bitmask: "torch.Tensor", row: int) -> None:
        self._m.fill_next_token_bitmask(bitmask, row)

    def accept(self, token: int) -> bool:
        return bool(self._m.accept_token(token))

    def can_end(self) -> bool:
        return bool(self._m.is_completed())


class XGrammarBackend:
    name = "xgrammar"

    def __init__(self) -> None:
        import xgrammar  # noqa: F401 - fail here (ImportError -> exit 7) rather than mid-generation

        self._compilers: dict[tuple[int, int, tuple[int, ...]], _Compiled] = {}
        self._lock = threading.Lock()

    def matcher(self, constraint: Constraint, *, tokenizer: Any, vocab_size: int, eos: Sequence[int]) -> XGrammarMatcher:
        import xgrammar as xgr

        compiled = self._compile(constraint, self._compiler(tokenizer, vocab_size, tuple(sorted(eos))).compiler)
        return XGrammarMatcher(xgr.GrammarMatcher(compiled))

    def token_bytes(self, *, tokenizer: Any, vocab_size: int, eos: Sequence[int]) -> list[bytes]:
        """xgrammar's own decoding of the vocabulary (ByteLevel or SentencePiece byte fallback)."""
        info = self._compiler(tokenizer, vocab_size, tuple(sorted(eos))).info
        return [bytes(b) for b in info.decoded_vocab]  # about 0.5 s per 50k tokens: callers keep the result

    def allocate(self, batch: int, vocab_size: int) -> "torch.Tensor":
        import xgrammar as xgr

        return xgr.allocate_token_bitmask(batch, vocab_size)  # (B, ceil(V/32)) int32, all -1

    def apply(self, logits: "torch.Tensor", bitmask: "torch.Tensor", rows: Sequence[int]) -> None:
        import xgrammar as xgr

        if rows:
            xgr.apply_token_bitmask_inplace(logits, bitmask.to(logits.device, non_blocking=True), indices=list(rows))

    def _compiler(self, tokenizer: Any, vocab_size: int, eos: tuple[int, ...]) -> "_Compiled":
        import xgrammar as xgr

        key = (id(tokenizer), vocab_size, eos)
        with self._lock:
            kept = self._compilers.get(key)
            if kept is not None and kept.tokenizer is tokenizer:
                return kept
            info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size, stop_token_ids=list(eos))
            kept = _Compiled(tokenizer=tokenizer, info=info, compiler=xgr.GrammarCompiler(info, max_threads=1))
            if len(self._compilers) >= _COMPILERS_KEPT:
                self._compilers.pop(next(iter(self._compilers)))
            self._compilers[key] = kept
            return kept

    @staticmethod
    def _compile(constraint: Constraint, compiler: Any) -> Any:
        """The compiled grammar (the compiler caches it by its text). A schema or regex xgrammar
        cannot compile is the user's input: ConfigError, without xgrammar's log prefix. Its C++
        warnings, written straight to file descriptor 2, are kept off stderr: what vlmcli accepts
        it enforces (`schema_support`, `regex_dialect`), so they would only repeat that."""
        try:
            with native_stderr_filtered():
                return _compile_one(constraint, compiler)
        except (RuntimeError, ValueError) as exc:
            raise ConfigError(f"{constraint.flag} cannot be compiled to a grammar: {native_message(exc)}") from None


def _compile_one(constraint: Constraint, compiler: Any) -> Any:
    if isinstance(constraint, SchemaConstraint):
        schema = json.dumps(for_grammar(constraint.schema))
        return compiler.compile_json_schema(schema, any_whitespace=False, separators=SEPARATORS)
    if isinstance(constraint, JsonModeConstraint):
        return compiler.compile_json_schema(
            '{"type": "object"}', any_whitespace=False, separators=SEPARATORS, strict_mode=False
        )
    if isinstance(constraint, ChoiceConstraint):
        return compiler.compile_regex(constraint.regex())
    if isinstance(constraint, RegexConstraint):
        return compiler.compile_regex(constraint.grammar_pattern())
    raise TypeError(f"unknown constraint {type(constraint).__name__}")


def native_message(exc: BaseException) -> str:
    """The first line of an xgrammar error without its `[18:28:16] /project/cpp/x.cc:5082: ` prefix."""
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    return _LOG_PREFIX.sub("", lines[0]).strip()


_LOG_PREFIX = re.compile(r"^\[\d{2}:\d{2}:\d{2}\] \S+:\d+: (?:Check failed: .*? is false: )?")
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions")
_SCHEMA_ONE = ("items", "additionalProperties", "propertyNames")
_SCHEMA_LISTS = ("prefixItems", "anyOf", "oneOf", "allOf")


def for_grammar(schema: Any) -> Any:
    """`schema` as xgrammar is given it (the check after generation reads the original):
    - a `{"type": "string", "minLength"/"maxLength": ...}` without enum or const becomes the same
      bounds over `_PLAIN_CHAR` (see the module docstring);
    - an integer's fractional bounds round inward (`minimum` 1.5 is 2), which xgrammar refuses;
    - patterns (and `patternProperties` names) are written as `regex_dialect` sends them."""
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    for key in _SCHEMA_MAPS:
        if isinstance(out.get(key), dict):
            out[key] = {name: for_grammar(sub) for name, sub in out[key].items()}
    for key in _SCHEMA_ONE:
        if key in out:
            out[key] = for_grammar(out[key])
    for key in _SCHEMA_LISTS:
        if isinstance(out.get(key), list):
            out[key] = [for_grammar(sub) for sub in out[key]]
    if isinstance(out.get("patternProperties"), dict):
        out["patternProperties"] = {_grammar_regex(p): sub for p, sub in out["patternProperties"].items()}
    if isinstance(out.get("pattern"), str):
        out["pattern"] = _grammar_regex(out["pattern"])
    if "multipleOf" in out and not grammar_multiple_of(out):
        del out["multipleOf"]  # checked after generation
    if out.get("type") in ("integer", ["integer"]):
        _round_inward(out)
    out.pop("uniqueItems", None)  # checked after generation
    if out.get("format") in ANY_STRING:
        del out["format"]
    elif out.get("format") in AS_PATTERN:
        out["pattern"] = _grammar_regex(AS_PATTERN[out.pop("format")])
    if "pattern" in out or "format" in out:  # lengths beside them: checked after generation
        out.pop("minLength", None)
        out.pop("maxLength", None)
    bounded = "minLength" in out or "maxLength" in out
    kinds = out.get("type") if isinstance(out.get("type"), list) else [out.get("type")]
    if "string" in kinds and bounded and not {"pattern", "format", "enum", "const"} & set(out):
        low, high = int(out.pop("minLength", 0)), out.pop("maxLength", None)
        out["pattern"] = f"^{_PLAIN_CHAR}{{{low},{'' if high is None else int(high)}}}$"
    return out


def _grammar_regex(pattern: str) -> str:
    return translate(pattern, "pattern").grammar


def _round_inward(schema: dict[str, Any]) -> None:
    """Fractional integer bounds as whole `minimum`/`maximum` (the same integers)."""
    bounds = {k: schema[k] for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum") if k in schema}
    if all(isinstance(v, int) or float(v).is_integer() for v in bounds.values()):
        return
    low = [math.ceil(bounds["minimum"])] if "minimum" in bounds else []
    low += [math.floor(bounds["exclusiveMinimum"]) + 1] if "exclusiveMinimum" in bounds else []
    high = [math.floor(bounds["maximum"])] if "maximum" in bounds else []
    high += [math.ceil(bounds["exclusiveMaximum"]) - 1] if "exclusiveMaximum" in bounds else []
    for key in bounds:
        del schema[key]
    if low:
        schema["minimum"] = max(low)
    if high:
        schema["maximum"] = min(high)
