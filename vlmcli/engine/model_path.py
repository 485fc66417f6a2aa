"""What a --model value that is no model folder means, said with what to pass instead.

- a file: a GGUF file, a file of a model folder, or a FIFO or device (`-m /dev/null`;
  `-m ./pipe` waited forever, reading the pipe's first bytes to tell a GGUF file);
- a `file://` address: -m takes paths, so it was "Model folder file:///... does not exist"
  with no hint; it is told to drop the prefix (not accepted: one spelling of a path, as a
  hub page's address is told its hub id rather than fetched);
- a path behind a folder that cannot be searched (`chmod 000` on a parent): was
  "unexpected PermissionError" from `Path.is_dir()`; names the folder and "permission denied";
- a typo of a folder here (`-m models/referense`, which reads as a hub id): `close_folder`
  offers the folder of the closest name.
"""

from __future__ import annotations

import errno
import os
import shlex
import stat
from pathlib import Path
from urllib.parse import unquote, urlparse


def a_file(model: str, path: Path) -> str:
    """Why a file is not a model, and what to pass instead."""
    kind = _special_kind(path)
    if kind is not None:  # opening a FIFO to look at its first bytes waited forever
        return f"{model} is {kind}, not a model folder or hub id."
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
    except OSError:
        magic = b""
    if magic == b"GGUF" or path.suffix.lower() == ".gguf":
        return (
            f"{model} is a GGUF file (llama.cpp's format); vlmcli runs transformers models: pass the "
            "Hugging Face model folder or hub id it was converted from."
        )
    if path.name.endswith((".safetensors", ".json", ".bin")):
        return f"{model} is a file of a model; pass the folder that holds it ({path.resolve().parent})."
    return f"{model} is a file, not a model folder or hub id."


def _special_kind(path: Path) -> str | None:
    """"a FIFO", "a device", "a socket" for a path that is no regular file, else None."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a socket" if stat.S_ISSOCK(mode) else None


def file_url(model: str) -> str | None:
    """The path a `file://` address names (percent-escapes decoded), or None for anything else."""
    if not model[:5].lower() == "file:":
        return None
    parsed = urlparse(model)
    return unquote(parsed.path) or None


def file_url_hint(model: str, local: str) -> str:
    """-m takes paths: a `file://` address (a file manager's "copy path") is told how to write it."""
    there = "" if _is_dir(Path(local)) else f" (no folder {local} exists either)"
    return (
        f"{model} is a file:// address; --model takes a folder path or a hub id: drop the file:// prefix: "
        f"--model {shlex.quote(local)}{there}."
    )


def _is_dir(path: Path) -> bool:
    """Path.is_dir(), False when it cannot be told (Python 3.11 raises PermissionError)."""
    try:
        return path.is_dir()
    except OSError:
        return False


def unreachable(model: str, path: Path) -> str | None:
    """A line for a model path that cannot be looked at because a folder on the way cannot be
    searched (its parent is mode 000, or another user's), or None."""
    try:
        path.stat()
        return None
    except OSError as err:
        if err.errno not in (errno.EACCES, errno.EPERM):
            return None
    blocked = next((parent for parent in path.absolute().parents if _stats(parent)), path.absolute().parent)
    return (
        f"Model folder {model} cannot be reached: {blocked}: permission denied; give your user access to that "
        f"folder (e.g. `chmod u+rx {blocked}` if you own it)."
    )


def _stats(path: Path) -> bool:
    try:
        path.stat()
        return True
    except OSError:
        return False


def close_folder(parent: Path, name: str, *, most: int = 5_000) -> str | None:
    """The subfolder of `parent` whose name is closest to `name` (a typo: `referense` for
    `reference`, another case), or None when none is close. Reads at most `most` entries."""
    import difflib
    import itertools

    try:
        with os.scandir(parent) as entries:
            folders = [e.name for e in itertools.islice(entries, most) if _entry_is_dir(e)]
    except OSError:
        return None
    same_case = [f for f in folders if f.lower() == name.lower()]
    if same_case:
        return same_case[0]
    close = difflib.get_close_matches(name, folders, n=1, cutoff=0.8)
    return close[0] if close else None


def _entry_is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False
