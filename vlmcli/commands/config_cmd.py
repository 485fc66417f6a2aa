"""`vlm config`: the effective settings and where each one comes from."""

from __future__ import annotations

import enum
import json
import sys
from typing import Annotated

import typer

from vlmcli.commands._errors import error_boundary
from vlmcli.commands._table import table
from vlmcli.settings import CONFIG_ENV, SPEC_BY_NAME, Settings, resolve

EPILOG = (
    "Precedence: command-line flag > environment (VLM_MODEL, VLM_DEVICE, VLM_DTYPE, VLM_MAX_TOKENS, ...) "
    f"> config file > built-in default. The file is ${CONFIG_ENV}, else "
    "$XDG_CONFIG_HOME/vlmcli/config.toml, else ~/.config/vlmcli/config.toml, e.g.:\n\n"
    '  model = "HuggingFaceTB/SmolVLM2-256M-Video-Instruct"\n\n'
    '  device = "cuda"\n\n'
    "  max_tokens = 200"
)


def _jsonable(value: object) -> object:
    return value.value if isinstance(value, enum.Enum) else value


def _shown(value: object) -> str:
    value = _jsonable(value)
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def as_dict(settings: Settings) -> dict[str, object]:
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
    }


def as_text(settings: Settings) -> str:
    found = "" if settings.config_file_found else " (not found)"
    rows = [(name, _shown(value), str(origin)) for name, value, origin in settings.items()]
    return f"Config file: {settings.config_file}{found}\n" + table(rows, ("SETTING", "VALUE", "SOURCE"), indent=0)


def config(
    json_output: Annotated[bool, typer.Option("--json", help="Print the settings as one JSON object.")] = False,
    path: Annotated[bool, typer.Option("--path", help="Print only the config file's path.")] = False,
) -> None:
    """Show the effective settings and where each comes from."""
    with error_boundary():
        if path:
            from vlmcli.settings import config_path

            sys.stdout.write(f"{config_path()[0]}\n")
            return
        settings = resolve()
        text = json.dumps(as_dict(settings), indent=2) if json_output else as_text(settings)
        sys.stdout.write(text + "\n")


def register(app: typer.Typer) -> None:
    app.command("config", epilog=EPILOG)(config)
