"""From the command-line flags (--schema, --choice, --regex, --json-mode) to one `Constraint`.

`--schema` takes a file or inline JSON: text that starts with `{` (after blanks) is JSON,
anything else names a file. At most one kind per command; none gives None (free text).
"""

from __future__ import annotations

from pathlib import Path

from vlmcli.errors import ConfigError, InputError
from vlmcli.text_encoding import read_text
from vlmcli.structured.spec import (
    ChoiceConstraint,
    Constraint,
    JsonModeConstraint,
    RegexConstraint,
    SchemaConstraint,
)


def read_schema(value: str) -> SchemaConstraint:
    """`--schema` as inline JSON (starts with `{`) or a file path."""
    if value.lstrip().startswith("{"):
        return SchemaConstraint(value)
    path = Path(value).expanduser()
    if not path.is_file():
        raise InputError(f"--schema {value!r} is neither inline JSON (starting with '{{') nor an existing file.")
    try:
        text = read_text(path)  # UTF-8 (a BOM is not JSON), or Notepad's UTF-16, or the Windows code page
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"Cannot read --schema file {value}: {exc}.") from None
    return SchemaConstraint(text)


def constraint_from_flags(
    *, schema: str | None = None, choices: list[str] | None = None, regex: str | None = None, json_mode: bool = False
) -> Constraint | None:
    """The one constraint the flags ask for, or None; two kinds at once is a ConfigError."""
    given = [
        name
        for name, on in (("--schema", schema is not None), ("--choice", bool(choices)), ("--regex", regex is not None),
                         ("--json-mode", json_mode))
        if on
    ]
    if len(given) > 1:
        raise ConfigError(f"{given[0]} and {given[1]} cannot be combined: give one kind of constraint.")
    if schema is not None:
        return read_schema(schema)
    if choices:
        return ChoiceConstraint(tuple(choices))
    if regex is not None:
        return RegexConstraint(regex)
    if json_mode:
        return JsonModeConstraint()
    return None
