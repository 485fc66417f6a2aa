"""The pieces of a setting: its spec, where a value came from, and the parsers of raw values.

Shared by the flat settings (`vlmcli.settings`) and the per-command tables of the config file
(`vlmcli.command_settings`). A parser takes a raw value (a string from the environment, any
TOML value from the file) and returns the typed value, or raises ValueError with a short
description of what was expected.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable
from dataclasses import dataclass

from vlmcli.errors import ConfigError


class Source(str, enum.Enum):
    FLAG = "flag"
    ENV = "env"
    FILE = "file"
    DEFAULT = "default"


@dataclass(frozen=True)
class Origin:
    """Where one effective value came from."""

    source: Source
    detail: str
    """The flag (`--model`), variable (`VLM_MODEL`), file path, or `built-in`."""

    def __str__(self) -> str:
        return "default" if self.source is Source.DEFAULT else f"{self.source.value} {self.detail}"


@dataclass(frozen=True)
class SettingSpec:
    name: str
    parse: Callable[[object], object]
    default: object
    help: str

    @property
    def env(self) -> str:
        return "VLM_" + self.name.upper()


def parse_str(raw: object) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError("a non-empty string")
    return raw.strip()


def parse_int(raw: object) -> int:
    if isinstance(raw, bool):
        raise ValueError("an integer")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str):
        try:
            return int(raw.strip().replace("_", ""))
        except ValueError:
            pass
    raise ValueError("an integer")


def parse_float(raw: object) -> float:
    if isinstance(raw, bool):
        raise ValueError("a number")
    if isinstance(raw, (int, float)):
        return float(raw)
    if isinstance(raw, str):
        try:
            return float(raw.strip())
        except ValueError:
            pass
    raise ValueError("a number")


TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}


def parse_bool(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int) and raw in (0, 1):  # TOML `json_mode = 0`: the 1/0 the message offers
        return bool(raw)
    if isinstance(raw, str) and raw.strip().lower() in TRUE_WORDS | FALSE_WORDS:
        return raw.strip().lower() in TRUE_WORDS
    raise ValueError("true or false (1/0, yes/no, on/off)")


def parse_enum(enum_cls: type[enum.Enum]) -> Callable[[object], enum.Enum]:
    def parse(raw: object) -> enum.Enum:
        try:
            return enum_cls(str(raw).strip().lower())
        except ValueError:
            raise ValueError("one of " + ", ".join(m.value for m in enum_cls)) from None

    return parse


def parse_strings(raw: object) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw or not all(isinstance(x, str) and x.strip() for x in raw):
        raise ValueError("a non-empty list of non-empty strings")
    return tuple(raw)


def parse_schema(raw: object) -> str:
    """A file path or inline JSON text; a TOML table is the schema itself (as JSON text)."""
    if isinstance(raw, dict):
        return json.dumps(raw, ensure_ascii=False)
    return parse_str(raw)


def parse_non_negative_int(raw: object) -> int:
    value = parse_int(raw)
    if value < 0:
        raise ValueError("an integer >= 0")
    return value


def parse_setting(spec: SettingSpec, raw: object, where: str) -> object:
    try:
        return spec.parse(raw)
    except ValueError as exc:
        raise ConfigError(f"{spec.name} {where} must be {exc}, not {raw!r}.") from None
