"""Paths written on Windows, read here: `images\\0001.jpg` in a table or a `--files-from`
list (os.path.join on Windows) names `images/0001.jpg`; `C:\\data\\x.jpg` names no file on
this machine (under WSL, `/mnt/c/data/x.jpg`). Pure, apart from the existence checks."""

from __future__ import annotations

import re
from pathlib import Path, PureWindowsPath

_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


def windows_path(text: str) -> PureWindowsPath:
    """`text` read as a Windows path when it looks like one (a backslash, a drive); else `PureWindowsPath()`."""
    return PureWindowsPath(text) if "\\" in text or _DRIVE.match(text) else PureWindowsPath()


def local_spelling(path: str, folder: Path) -> str:
    """`path` with its backslashes as slashes when only that spelling names a file (relative
    paths start from `folder`); `path` itself otherwise (a Linux name may hold a backslash)."""
    if "\\" not in path or _DRIVE.match(path) or _under(path, folder).exists():
        return path
    posix = windows_path(path).as_posix()
    return posix if _under(posix, folder).exists() else path


def wsl_hint(path: PureWindowsPath) -> str:
    """Where a drive path is under WSL, when this machine mounts that drive there."""
    if not path.drive:
        return ""
    mount = Path("/mnt", path.drive[0].lower())
    return f"; under WSL it is {Path(mount, *path.parts[1:]).as_posix()}" if mount.is_dir() else ""


def _under(path: str, folder: Path) -> Path:
    expanded = Path(path).expanduser()
    return expanded if expanded.is_absolute() else folder / expanded
