"""Named choices: a string Enum whose `parse` accepts any case and names the options.

Strategy registries key on these Enums (`--sampling`, `--hierarchy`, ...); a bad name is
a `ConfigError` listing every choice, never a KeyError deep in the library.
"""

from __future__ import annotations

from enum import Enum
from typing import TypeVar

from vlmcli.errors import ConfigError

C = TypeVar("C", bound="Choice")


class Choice(str, Enum):
    """Base for string Enums of named options. Subclasses override `label` for messages."""

    @classmethod
    def label(cls) -> str:
        """What a member names, for error messages ("sampling method")."""
        return cls.__name__

    @classmethod
    def parse(cls: type[C], name: "str | C") -> C:
        """The member called `name` (case-insensitive); `ConfigError` naming the choices."""
        if isinstance(name, cls):
            return name
        try:
            return cls(str(name).strip().lower())
        except ValueError:
            choices = ", ".join(m.value for m in cls)
            raise ConfigError(f"Unknown {cls.label()} {name!r}; choose one of: {choices}.") from None
