"""What an answer must look like: a JSON Schema, one of fixed choices, a regex, or any JSON object.

A request carries at most one `Constraint`. Each kind is a small frozen dataclass validated on
construction (a bad schema or an empty choice list fails at flag parsing, before any model
loads), with the three things the rest of vlmcli needs from it:

- `key()`: canonical text that identifies it (compile cache key, caption-dir `config_hash`);
- `instruction()`: the sentence stated in the prompt (`--no-schema-prompt` leaves it out);
- `parse(text)`: the answer as a value (`"parsed"` in `--json`), or ValueError when it is not
  what was asked: the check after generation, so `valid` never rests on the grammar alone (JSON
  through `schema_validate.strict_loads`, a schema through `schema_validate.violation`, a regex
  through `regex_dialect`'s Python reading, a choice by equality).

What a schema or regex may hold is what the grammar enforces (`schema_support`, `regex_dialect`);
the grammar itself is built by a backend (`structured.backend`); this module imports nothing heavy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar

from vlmcli.errors import ConfigError
from vlmcli.structured import regex_dialect
from vlmcli.structured.schema_support import check_schema
from vlmcli.structured.schema_validate import strict_loads, violation


@dataclass(frozen=True)
class Constraint:
    """Base of the constraint kinds; `kind` names it in JSON output and config hashes."""

    kind: ClassVar[str] = ""
    flag: ClassVar[str] = ""
    """The command-line flag that asks for this kind (for messages)."""
    json_answer: ClassVar[bool] = False
    """True when the answer is JSON text (`parse` is `json.loads`)."""

    def key(self) -> str:
        raise NotImplementedError

    def instruction(self) -> str:
        raise NotImplementedError

    def parse(self, text: str) -> Any:
        return strict_loads(text) if self.json_answer else text

    def checked_after(self) -> tuple[str, ...]:
        """What the grammar leaves to the check after generation, as "keyword at location" (a schema's
        `maxLength` beside a `format`, say: `schema_support.check_schema`); empty for other kinds."""
        return ()

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "spec": json.loads(self.key())}


@dataclass(frozen=True)
class SchemaConstraint(Constraint):
    """A JSON value matching `schema` (objects, arrays, enums, numbers, strings with lengths, ...)."""

    schema_text: str
    """The schema as compact JSON text, properties in the order written (the answer follows it)."""

    kind: ClassVar[str] = "schema"
    flag: ClassVar[str] = "--schema"
    json_answer: ClassVar[bool] = True

    def __post_init__(self) -> None:
        try:
            schema = strict_loads(self.schema_text)
        except ValueError as exc:
            raise ConfigError(f"--schema is not valid JSON: {exc}.") from None
        check_schema(schema)
        object.__setattr__(self, "schema_text", json.dumps(schema, ensure_ascii=False))

    @property
    def schema(self) -> dict[str, Any]:
        return json.loads(self.schema_text)

    def key(self) -> str:
        """Sorted keys: equal schemas hash alike however their keys were ordered."""
        return json.dumps(self.schema, sort_keys=True, ensure_ascii=False)

    def instruction(self) -> str:
        return f"Answer only with JSON that matches this JSON Schema: {self.schema_text}"

    def checked_after(self) -> tuple[str, ...]:
        return check_schema(self.schema)

    def parse(self, text: str) -> Any:
        value = strict_loads(text)
        reason = violation(value, self.schema)
        if reason is not None:
            raise ValueError(reason)
        return value


@dataclass(frozen=True)
class ChoiceConstraint(Constraint):
    """Exactly one of `options`, as written."""

    options: tuple[str, ...]

    kind: ClassVar[str] = "choice"
    flag: ClassVar[str] = "--choice"

    def __post_init__(self) -> None:
        options = tuple(self.options)
        object.__setattr__(self, "options", options)
        if not options:
            raise ConfigError("--choice needs at least one option.")
        empty = [o for o in options if not o.strip()]
        if empty:
            raise ConfigError("--choice options must not be empty.")
        if len(set(options)) != len(options):
            twice = next(o for o in options if options.count(o) > 1)
            raise ConfigError(f"--choice {twice!r} is given twice.")

    def key(self) -> str:
        return json.dumps(list(self.options), ensure_ascii=False)

    def instruction(self) -> str:
        """The options as written, comma-separated; all of them in JSON quotes when one holds a comma
        or starts or ends with a blank, which plain listing would leave ambiguous ("yes, it is")."""
        quote = any("," in o or o != o.strip() or "\n" in o for o in self.options)
        shown = [json.dumps(o, ensure_ascii=False) for o in self.options] if quote else self.options
        return "Answer with exactly one of: " + ", ".join(shown) + "."

    def regex(self) -> str:
        """The options as one regex for the grammar (only xgrammar's special characters escaped)."""
        return "(" + "|".join(regex_dialect.escape(o) for o in self.options) + ")"

    def parse(self, text: str) -> str:
        if text not in self.options:
            raise ValueError(f"{text!r} is not one of the choices")
        return text


@dataclass(frozen=True)
class RegexConstraint(Constraint):
    """Text matching `pattern` in full."""

    pattern: str

    kind: ClassVar[str] = "regex"
    flag: ClassVar[str] = "--regex"

    def __post_init__(self) -> None:
        if not self.pattern:
            raise ConfigError("--regex must not be empty.")
        regex_dialect.check_python_syntax(self.pattern, "--regex")
        regex_dialect.translate(self.pattern, "--regex")

    def grammar_pattern(self) -> str:
        """The pattern as the grammar is given it (`regex_dialect.Translated.grammar`)."""
        return regex_dialect.translate(self.pattern, "--regex").grammar

    def key(self) -> str:
        return json.dumps(self.pattern, ensure_ascii=False)

    def instruction(self) -> str:
        return f"Answer only with text that matches the regular expression {self.pattern}"

    def parse(self, text: str) -> str:
        if regex_dialect.python_regex(self.pattern).fullmatch(text) is None:
            raise ValueError("the answer does not match --regex")
        return text


@dataclass(frozen=True)
class JsonModeConstraint(Constraint):
    """Any valid JSON object."""

    kind: ClassVar[str] = "json"
    flag: ClassVar[str] = "--json-mode"
    json_answer: ClassVar[bool] = True

    def key(self) -> str:
        return "{}"

    def instruction(self) -> str:
        return "Answer only with a JSON object."

    def parse(self, text: str) -> dict[str, Any]:
        value = strict_loads(text)
        if not isinstance(value, dict):
            raise ValueError("the answer is not a JSON object")
        return value
