"""Structured answers: a JSON Schema, one of fixed choices, a regex, or any JSON object, guaranteed.

The flow, in order:
- `flags.constraint_from_flags` turns --schema/--choice/--regex/--json-mode into one `spec.Constraint`,
  refusing up front what the grammar could not enforce (`schema_support`, `regex_dialect`);
- `prompt.with_instruction` states it in the prompt (unless --no-schema-prompt);
- the request carries it to the engine, where `guard.Guard` (one matcher per constrained row,
  from the grammar engine in `backend`) masks the logits at every decode step, ANDed with
  `utf8_mask` so the answer's bytes stay valid UTF-8;
- `verdict.judge` gives each answer `valid` and `parsed`: finished under its grammar, and checked
  again after generation (strict JSON, the schema by `schema_validate`, the regex, the choices).

Importing this package is light; the grammar engine (the `vlmcli[structured]` extra) loads
only when a constrained request runs or a command checks for it (`backend.check_available`).
"""

from vlmcli.structured.flags import constraint_from_flags, read_schema
from vlmcli.structured.prompt import with_instruction
from vlmcli.structured.spec import (
    ChoiceConstraint,
    Constraint,
    JsonModeConstraint,
    RegexConstraint,
    SchemaConstraint,
)

__all__ = [
    "ChoiceConstraint",
    "Constraint",
    "JsonModeConstraint",
    "RegexConstraint",
    "SchemaConstraint",
    "constraint_from_flags",
    "read_schema",
    "with_instruction",
]
