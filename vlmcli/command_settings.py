"""Per-command tables of the config file: the settings of one command only.

    [caption-dir]
    choice = ["indoor", "outdoor"]    # or schema = "tags.json" / regex = "..." / json_mode = true
    schema_prompt = false

They come from the file alone (no environment variables) and the command applies its flags on
top (`commands.structured_options.StructuredOptions.answer`). Which keys each command takes is decided
here, in `COMMAND_SPECS`: a constraint in the file is allowed for the batch commands
(caption-dir, video-summarize), where a job is set up once and rerun; an `ask` or `describe`
that silently answered from a fixed list would surprise, so there only `schema_prompt` may be
set. A schema file named in the config file is found beside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from vlmcli.errors import ConfigError
from vlmcli.setting_values import (
    Origin,
    SettingSpec,
    Source,
    parse_bool,
    parse_schema,
    parse_setting,
    parse_str,
    parse_strings,
)

SCHEMA_PROMPT = SettingSpec("schema_prompt", parse_bool, True, "State the constraint in the prompt (--[no-]schema-prompt).")
CONSTRAINT_SPECS: tuple[SettingSpec, ...] = (
    SettingSpec("schema", parse_schema, None, "JSON Schema of every answer: a file (relative to the config file), "
                "inline JSON, or a TOML table (--schema)."),
    SettingSpec("choice", parse_strings, None, "Answer with exactly one of these strings (--choice)."),
    SettingSpec("regex", parse_str, None, "Answer with text matching this regular expression (--regex)."),
    SettingSpec("json_mode", parse_bool, False, "Answer with any JSON object (--json-mode)."),
)
COMMAND_SPECS: Mapping[str, tuple[SettingSpec, ...]] = {
    "ask": (SCHEMA_PROMPT,),
    "describe": (SCHEMA_PROMPT,),
    "caption-dir": (*CONSTRAINT_SPECS, SCHEMA_PROMPT),
    "video-summarize": (*CONSTRAINT_SPECS, SCHEMA_PROMPT),
}
"""Command -> the settings its `[command]` table may hold (see the module docstring)."""
CONSTRAINT_NAMES = frozenset(spec.name for spec in CONSTRAINT_SPECS)
"""The keys that set a constraint (one kind per table; a constraint flag replaces them all)."""


@dataclass(frozen=True)
class CommandSettings:
    """One command's table: every key it may hold, from the file or the default."""

    command: str
    values: Mapping[str, object]
    origins: Mapping[str, Origin]

    def __post_init__(self) -> None:
        names = [spec.name for spec in COMMAND_SPECS[self.command]]
        if sorted(self.values) != sorted(names) or sorted(self.origins) != sorted(names):
            raise ValueError(f"[{self.command}] needs exactly {names}")

    def items(self) -> list[tuple[str, object, Origin]]:
        return [(spec.name, self.values[spec.name], self.origins[spec.name]) for spec in COMMAND_SPECS[self.command]]

    def from_file(self, names: frozenset[str] | set[str]) -> bool:
        """True when any of `names` was set in the file."""
        return any(self.origins[n].source is Source.FILE for n in names if n in self.origins)


def check_table(command: str, table: object, path: Path) -> dict[str, object]:
    """The `[command]` table with snake_case keys; a key the command does not take is an error."""
    if not isinstance(table, dict):
        raise ConfigError(f"[{command}] in config file {path} must be a table.")
    keys = {key.replace("-", "_"): value for key, value in table.items()}
    allowed = [spec.name for spec in COMMAND_SPECS[command]]
    for key in keys:
        if key in allowed:
            continue
        if key in CONSTRAINT_NAMES:
            batch = " and ".join(c for c, specs in COMMAND_SPECS.items() if CONSTRAINT_NAMES <= {s.name for s in specs})
            raise ConfigError(
                f"{key!r} in [{command}] of config file {path}: a constraint in the config file applies to {batch} "
                f"only; give --{key.replace('_', '-')} on the command line."
            )
        raise ConfigError(
            f"Unknown setting {key!r} in [{command}] of config file {path}; [{command}] may set: {', '.join(allowed)}."
        )
    kinds = sorted(CONSTRAINT_NAMES & {k for k, v in keys.items() if not _turned_off(k, v)})
    if len(kinds) > 1:
        raise ConfigError(f"[{command}] in config file {path} sets {kinds[0]} and {kinds[1]}: give one kind of constraint.")
    return keys


def _turned_off(key: str, raw: object) -> bool:
    """`json_mode = false` (or 0, "no", ...) sets no constraint; other constraint keys set one."""
    if raw is False:
        return True
    try:
        return key == "json_mode" and not parse_bool(raw)
    except ValueError:
        return False


def command_settings(command: str, table: Mapping[str, object] | None, path: Path) -> CommandSettings:
    values: dict[str, object] = {}
    origins: dict[str, Origin] = {}
    for spec in COMMAND_SPECS[command]:
        if table is not None and spec.name in table:
            values[spec.name] = parse_setting(spec, table[spec.name], f"in [{command}] of config file {path}")
            origins[spec.name] = Origin(Source.FILE, f"{path} [{command}]")
        else:
            values[spec.name], origins[spec.name] = spec.default, Origin(Source.DEFAULT, "built-in")
    schema = values.get("schema")
    if isinstance(schema, str) and not schema.lstrip().startswith("{") and not Path(schema).expanduser().is_absolute():
        values["schema"] = str(path.parent / schema)  # a file named in the config file: beside it
    return CommandSettings(command=command, values=values, origins=origins)
