"""The structured-answer flags (--schema, --choice, --regex, --json-mode, --schema-prompt,
--no-constraint) of the commands that run a model.

`StructuredOptions` declares them; `@with_structured_options` adds them to a command
(`option_groups.py`). `StructuredOptions.answer` resolves them against the command's table
in the config file (`vlmcli.command_settings`) into a `StructuredAnswer`: the constraint
enforced by a token mask (`vlmcli.structured`) and whether the prompt states it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Annotated, Optional

import typer

from vlmcli.command_settings import CONSTRAINT_NAMES, CommandSettings
from vlmcli.commands.option_groups import with_option_group
from vlmcli.errors import ConfigError, VlmError
from vlmcli.settings import Settings
from vlmcli.structured.flags import constraint_from_flags
from vlmcli.structured.prompt import with_instruction
from vlmcli.structured.spec import Constraint


def _structured(*decls: str, help: str, **kwargs: object) -> typer.models.OptionInfo:
    return typer.Option(*decls, help=help, rich_help_panel="Structured answer", show_default=False, **kwargs)


@dataclass(frozen=True)
class StructuredOptions:
    """What the answer must look like, guaranteed by a token mask (`vlmcli.structured`); one kind at most."""

    schema: Annotated[
        Optional[str],
        _structured(
            "--schema",
            metavar="FILE_OR_JSON",
            help="Answer with JSON matching this JSON Schema (a file, or inline JSON starting with '{'). "
            "Objects allow only the properties listed. Needs vlmcli[structured].",
        ),
    ] = None
    choice: Annotated[
        Optional[list[str]],
        _structured("--choice", metavar="TEXT", help="Answer with exactly one of these (repeat the flag per option)."),
    ] = None
    regex: Annotated[
        Optional[str], _structured("--regex", metavar="PATTERN", help="Answer with text matching this regular expression.")
    ] = None
    json_mode: Annotated[bool, _structured("--json-mode", help="Answer with any valid JSON object.")] = False
    schema_prompt: Annotated[
        Optional[bool],
        _structured(
            "--schema-prompt/--no-schema-prompt",
            help="State the schema/choices/pattern in the prompt, on its own line (the mask applies either way). "
            "[default: on; config.toml per command]",
        ),
    ] = None
    no_constraint: Annotated[
        bool,
        _structured(
            "--no-constraint",
            help="No command-wide constraint, whatever the config file's table for this command sets "
            "(caption-dir prompt-file entries keep their own).",
        ),
    ] = False

    def given(self) -> bool:
        """True when a constraint flag is on the command line (it then replaces the config file's)."""
        return self.schema is not None or bool(self.choice) or self.regex is not None or self.json_mode

    def answer(self, settings: Settings, *, command: str) -> StructuredAnswer:
        """The constraint and prompt statement for `command`: its flags over its `[command]` table in
        the config file (`vlmcli.command_settings`). A constraint flag replaces the file's constraint
        whatever its kind. Fails (exit 7) here, before any model loads, when the grammar engine of the
        structured extra is missing."""
        table = settings.commands[command]
        if self.no_constraint and self.given():
            raise ConfigError("--no-constraint cannot be combined with --schema, --choice, --regex or --json-mode.")
        if self.no_constraint:
            constraint = None
        elif self.given() or not table.from_file(CONSTRAINT_NAMES):
            constraint = constraint_from_flags(
                schema=self.schema, choices=self.choice, regex=self.regex, json_mode=self.json_mode
            )
        else:
            constraint = _file_constraint(table, where=f"[{command}] of config file {settings.config_file}")
        if constraint is not None:
            from vlmcli.structured.backend import check_available

            check_available()
            warn_checked_after(constraint)
        state = table.values["schema_prompt"] if self.schema_prompt is None else self.schema_prompt
        return StructuredAnswer(constraint=constraint, state=bool(state))


@dataclass(frozen=True)
class StructuredAnswer:
    """What a command's answers must look like, resolved from flags and the config file."""

    constraint: Constraint | None
    state: bool
    """State the constraint in the prompt (--schema-prompt, the default)."""

    def prompt(self, text: str, constraint: Constraint | None = None) -> str:
        """`text` with `constraint` (default: this one) stated in it, unless --no-schema-prompt."""
        return with_instruction(text, self.constraint if constraint is None else constraint, state=self.state)


def warn_checked_after(constraint: Constraint | None) -> None:
    """One `warning:` line at setup naming the keywords the grammar leaves to the check after generation
    (caption-dir calls it for each prompt-file constraint too)."""
    from vlmcli.structured.verdict import checked_after_note

    note = checked_after_note(constraint)
    if note is not None:
        sys.stderr.write(f"warning: {note}\n")


def _file_constraint(table: CommandSettings, *, where: str) -> Constraint | None:
    """The constraint a command's config table sets; its errors name the table."""
    values = table.values
    try:
        return constraint_from_flags(
            schema=values.get("schema"),  # type: ignore[arg-type]
            choices=list(values.get("choice") or ()),  # type: ignore[call-overload]
            regex=values.get("regex"),  # type: ignore[arg-type]
            json_mode=bool(values.get("json_mode")),
        )
    except VlmError as exc:
        raise type(exc)(f"In {where}: {exc}") from None


with_structured_options = with_option_group(StructuredOptions, "structured")
"""Replace the command's `structured: StructuredOptions` parameter by the structured-answer flags."""
