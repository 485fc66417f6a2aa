"""File name patterns the shell did not expand: `vlm describe "*.jpg"` in quotes, and every
pattern typed in Windows' cmd.exe or PowerShell, which hand `*.jpg` to the program as is.

An argument that names no file but holds a wildcard (`*`, `?`, `[...]`) is expanded here as
a POSIX shell would: matching files in name order, hidden files only when the pattern
starts with a dot, `**` across folders. A name that exists is always taken as it is
(a file really called `[draft].jpg`). A pattern that matches nothing is left as it is, so
the command's "No such file" error names it (with a note that it matched nothing).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence

from vlmcli.media.sources import STDIN


def is_pattern(source: str) -> bool:
    """Whether `source` names no file but is a wildcard pattern."""
    return source != STDIN and glob.has_magic(source) and not os.path.lexists(source)


def pattern_matches(pattern: str) -> list[str]:
    """The files (not folders) `pattern` matches, in name order."""
    return sorted(path for path in glob.glob(pattern, recursive=True) if os.path.isfile(path))


def expand_patterns(sources: Sequence[str]) -> list[str]:
    """`sources` with each unexpanded pattern replaced by the files it matches, in place."""
    expanded: list[str] = []
    for source in sources:
        found = pattern_matches(source) if is_pattern(source) else []
        expanded.extend(found or [source])
    return expanded


def single_match(source: str, *, command: str) -> str:
    """The one file an unexpanded pattern for a one-input command matches (`source` itself
    when it is no pattern); no match is an `InputError` as for the other commands, several a
    `ConfigError` (a usage error, exit 2) naming the first few."""
    if not is_pattern(source):
        return source
    from vlmcli.errors import ConfigError, InputError

    found = pattern_matches(source)
    if not found:
        raise InputError(f"No such file: {source} (no file matches it as a pattern either).")
    if len(found) > 1:
        shown = ", ".join(found[:3]) + (", ..." if len(found) > 3 else "")
        raise ConfigError(f"{source} matches {len(found)} files ({shown}); {command} takes one: name it.")
    return found[0]
