"""What an answer must look like: a JSON Schema, one of fixed choices, a regex, or any JSON object.

A request carries at most one `Constraint`. Each kind is a small frozen dataclass validated on
construction (a bad schema or an empty choice list fails at flag parsing, before any model
loads), with the three things the rest of vlmcli needs from it:

- `key()`: canonical text that identifies it (compile cache key, caption-dir `config_hash`);
- `instruction()`: the sentence stated in the prompt (`--no-schema-prompt` leaves it out);
- `parse(text)`: the answer as a value (`"parsed"` in `--json`), or ValueError.

The grammar itself is built by a backend (`structured.backend`); this module imports nothing heavy.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from vlmcli.errors import ConfigError

SCHEMA_TYPES = frozenset({"object", "array", "string", "number", "integer", "boolean", "null"})


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
        return json.loads(text) if self.json_answer else text

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
            schema = json.loads(self.schema_text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--schema is not valid JSON: {exc}.") from None
        _check_schema(schema, "schema")
        object.__setattr__(self, "schema_text", json.dumps(schema, ensure_ascii=False))

    @property
    def schema(self) -> dict[str, Any]:
        return json.loads(self.schema_text)

    def key(self) -> str:
        """Sorted keys: equal schemas hash alike however their keys were ordered."""
        return json.dumps(self.schema, sort_keys=True, ensure_ascii=False)

    def instruction(self) -> str:
        return f"Answer only with JSON that matches this JSON Schema: {self.schema_text}"


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
        return "Answer with exactly one of: " + ", ".join(self.options) + "."

    def regex(self) -> str:
        return "(" + "|".join(re.escape(o) for o in self.options) + ")"


@dataclass(frozen=True)
class RegexConstraint(Constraint):
    """Text matching `pattern` in full."""

    pattern: str

    kind: ClassVar[str] = "regex"
    flag: ClassVar[str] = "--regex"

    def __post_init__(self) -> None:
        if not self.pattern:
            raise ConfigError("--regex must not be empty.")
        try:
            re.compile(self.pattern)
        except re.error as exc:
            raise ConfigError(f"--regex {self.pattern!r} is not a valid regular expression: {exc}.") from None

    def key(self) -> str:
        return json.dumps(self.pattern, ensure_ascii=False)

    def instruction(self) -> str:
        return f"Answer only with text that matches the regular expression {self.pattern}"


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


def _check_schema(schema: Any, where: str) -> None:
    """Structural checks with clear messages; the grammar backend rejects what it cannot compile."""
    if isinstance(schema, bool):
        return
    if not isinstance(schema, dict):
        raise ConfigError(f"--schema: {where} must be a JSON object, not {type(schema).__name__}.")
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind is not None else []
    unknown = [k for k in kinds if k not in SCHEMA_TYPES]
    if unknown:
        raise ConfigError(f"--schema: {where} has unknown type {unknown[0]!r}; expected one of {sorted(SCHEMA_TYPES)}.")
    if "enum" in schema and (not isinstance(schema["enum"], list) or not schema["enum"]):
        raise ConfigError(f"--schema: {where}.enum must be a non-empty list.")
    props = schema.get("properties", {})
    if not isinstance(props, dict):
        raise ConfigError(f"--schema: {where}.properties must be an object.")
    for name, sub in props.items():
        _check_schema(sub, f"{where}.properties.{name}")
    required = schema.get("required", [])
    missing = [r for r in required if isinstance(required, list) and r not in props and props]
    if missing:
        raise ConfigError(f"--schema: {where} requires {missing[0]!r}, which is not among its properties.")
    if "items" in schema:
        _check_schema(schema["items"], f"{where}.items")
