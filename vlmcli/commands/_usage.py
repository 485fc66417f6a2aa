"""A usage-error hint for file names that start with a dash.

`vlm ask -1.jpg "..."` reads `-1.jpg` as options, and Click says only "No such option: -1".
When an argument that starts with "-" names an existing file, the error also says how to
pass it, as git and rm do. Pure apart from the `exists` check it is given.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence


def dash_file_hint(args: Sequence[str], *, exists: Callable[[str], bool] = os.path.exists) -> str | None:
    """" (-1.jpg is a file: write ./-1.jpg, or put -- before the file names)" for the first
    argument that starts with "-", is not an option's spelling alone ("-", "--") and names an
    existing file; None if none does. Arguments after a "--" are file names already."""
    for arg in args:
        if arg == "--":
            return None
        if arg.startswith("-") and arg not in ("-", "--") and "=" not in arg and exists(arg):
            return f" ({arg} is a file: write ./{arg}, or put -- before the file names)"
    return None


def check_no_empty_input(inputs: Sequence[str]) -> None:
    """An empty argument (`vlm ask "$IMG" ...` with IMG unset) named as such, not "No such file: ."."""
    from vlmcli.errors import ConfigError

    if any(not arg.strip() for arg in inputs):
        position = next(i for i, arg in enumerate(inputs) if not arg.strip()) + 1
        raise ConfigError(f"Input {position} is an empty argument (an unset shell variable?); name a file.")
