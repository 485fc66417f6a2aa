"""`vlm config`: the effective settings and where each one comes from.

The settings are resolved by exactly the code the model commands use
(`CommonOptions.settings()`), and `vlm config` takes the same setting flags, so
`vlm config --offline -m X` shows what `vlm ask --offline -m X ...` would run with.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import sys
import typing
from typing import Annotated

import typer

from vlmcli.commands._errors import error_boundary
from vlmcli.commands._help_format import RAW
from vlmcli.commands._table import table
from vlmcli.commands.option_groups import with_option_group
from vlmcli.commands.options import SETTING_FLAGS, CommonOptions
from vlmcli.media.names import display_name
from vlmcli.settings import CONFIG_ENV, SPEC_BY_NAME, Settings

EPILOG = (
    "Precedence: command-line flag > environment (VLM_MODEL, VLM_DEVICE, VLM_DTYPE, VLM_MAX_TOKENS, ...) "
    "> config file > built-in default; except that HF_HUB_OFFLINE=1 (or TRANSFORMERS_OFFLINE=1), "
    "huggingface_hub's own switch, makes every run offline, --online included. "
    "Setting flags given here (--model, --device, --offline, --max-tokens, ...) are shown as a model command "
    f"would use them. The file is ${CONFIG_ENV}, else "
    "$XDG_CONFIG_HOME/vlmcli/config.toml, else ~/.config/vlmcli/config.toml, e.g.:\n\n"
    f"{RAW}\n"  # a block of the file's lines, never rewrapped
    '  model = "HuggingFaceTB/SmolVLM2-256M-Video-Instruct"\n'
    '  device = "cuda"\n'
    "  max_tokens = 200\n\n"
    "A table per command holds its structured-answer settings (flags override them; a constraint only "
    "for caption-dir and video-summarize), e.g.:\n\n"
    f"{RAW}\n"
    "  [caption-dir]\n"
    '  choice = ["indoor", "outdoor"]\n'
    "  schema_prompt = false"
)


def _jsonable(value: object) -> object:
    if isinstance(value, tuple):
        return list(value)
    return value.value if isinstance(value, enum.Enum) else value


def _shown(value: object) -> str:
    value = _jsonable(value)
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return display_name(json.dumps(value, ensure_ascii=False))
    return display_name(str(value))  # one table line of text: a newline or ESC in a value escaped


def as_dict(settings: Settings) -> dict[str, object]:
    from vlmcli.environment import describe

    return {
        "config_file": str(settings.config_file),
        "config_file_found": settings.config_file_found,
        "settings": {
            name: {
                "value": _jsonable(value),
                "source": origin.source.value,
                "from": origin.detail,
                "env": SPEC_BY_NAME[name].env,
            }
            for name, value, origin in settings.items()
        },
        "commands": {
            command: {
                name: {"value": _jsonable(value), "source": origin.source.value, "from": origin.detail}
                for name, value, origin in table.items()
            }
            for command, table in settings.commands.items()
        },
        "environment": describe(),
    }


def as_text(settings: Settings) -> str:
    found = "" if settings.config_file_found else " (not found)"
    rows = [(name, _shown(value), str(origin)) for name, value, origin in settings.items()]
    rows += [
        (f"{command}.{name}", _shown(value), str(origin))
        for command, table in settings.commands.items()
        for name, value, origin in table.items()
    ]
    return (
        f"Config file: {display_name(settings.config_file)}{found}\n"
        + table(rows, ("SETTING", "VALUE", "SOURCE"), indent=0)
        + "\n"
        + environment_text()
    )


def environment_text() -> str:
    """Python, platform and the packages vlmcli depends on, with what a missing or wrong one means."""
    from vlmcli.environment import describe, packages

    env = describe()
    rows = [(p.name, p.version or "-", p.note) for p in packages()]
    return f"Environment: Python {env['python']} on {env['platform']}\n" + table(rows, ("PACKAGE", "VERSION", "NOTE"), indent=0)


def _setting_flags_class() -> type:
    """A dataclass of the model commands' setting flags (the same declarations, not copies)."""
    hints = typing.get_type_hints(CommonOptions, include_extras=True)
    return dataclasses.make_dataclass(
        "SettingFlags",
        [(f.name, hints[f.name], dataclasses.field(default=f.default)) for f in dataclasses.fields(CommonOptions)
         if f.name in SETTING_FLAGS],
        frozen=True,
    )


SettingFlags = _setting_flags_class()


@with_option_group(SettingFlags, "flags")
def config(
    flags: SettingFlags,  # type: ignore[valid-type]
    json_output: Annotated[bool, typer.Option("--json", help="Print the settings as one JSON object.")] = False,
    path: Annotated[bool, typer.Option("--path", help="Print only the config file's path.")] = False,
) -> None:
    """Show the effective settings and where each comes from.

    Rows named `command.key` (caption-dir.choice, ...) are a command's table in the config
    file; that command's flags (--choice, --schema-prompt, ...) override them.

    Values are what `vlm ask`/`describe`/`caption-dir`/`video-summarize` run with when given
    the same setting flags (none: what they run with by default).
    """
    with error_boundary():
        if path:
            from vlmcli.settings import config_path

            found = config_path()[0]
            sys.stdout.write((json.dumps({"config_file": str(found)}) if json_output else display_name(found)) + "\n")
            return
        options = CommonOptions(**dataclasses.asdict(flags))
        settings = options.settings()
        options.engine_config(settings)  # values the commands refuse are refused here too, as they say it
        options.generation_config(settings, note=False)
        text = json.dumps(as_dict(settings), indent=2) if json_output else as_text(settings)
        sys.stdout.write(text + "\n")


def register(app: typer.Typer) -> None:
    app.command("config", epilog=EPILOG)(config)
