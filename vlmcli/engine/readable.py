"""Model folders and files the user cannot read, found before anything loads.

A folder or file without read permission (mode 000, another user's, a root-owned cache) was
"unexpected PermissionError ... config.json" (exit 1) from the first `is_symlink()` on it, or
was blamed on something else: an unreadable `model.safetensors` read as "a weights file is
missing ... copy the folder again", an unreadable `tokenizer.json` as "not valid JSON ... it
may be cut short", and an unreadable `generation_config.json` was silently skipped (its
end-of-turn tokens and defaults with it). Now each is one line naming the folder or file and
"permission denied", exit 4, in milliseconds: the folder is listed and every file a load
may read is opened (not read) once.

A file a load reads that is a FIFO or a device (a `tokenizer.json` made with `mkfifo`) would
block the load forever or read as empty; it is refused the same way.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import stat
from pathlib import Path

from vlmcli.engine.training_files import is_training_state
from vlmcli.errors import ModelError

READ_PATTERNS = ("*.json", "*.jinja", "*.txt", "*.model", "*.tiktoken", "*.safetensors")
"""Top-level files a load may read: what a hub download fetches (`source._CONFIG_PATTERNS`, weights)."""
PICKLED = ("*.bin", "*.pt", "*.pth")
"""Read only when the folder has no safetensors weights (with --allow-pickle)."""
SKIPPED = ("consolidated*.safetensors",)
"""Never read by transformers (Mistral's own format, beside the transformers shards)."""
DENIED = (errno.EACCES, errno.EPERM)
PERMISSION = "permission denied"
NOT_REGULAR = "not a regular file (a FIFO, socket or device)"


def blocked(folder: Path) -> tuple[Path, str] | None:
    """(path, why) for `folder` itself or the first file of it a load reads that cannot be
    read (`PERMISSION`) or is no regular file (`NOT_REGULAR`); None when all can be read.
    Other failures (a missing folder, a link to nothing) are left to the checks that name them."""
    try:
        names = sorted(os.listdir(folder))
    except OSError as err:
        return (folder, PERMISSION) if err.errno in DENIED else None
    pickled_only = not any(fnmatch.fnmatchcase(name, "*.safetensors") for name in names)
    for name in names:
        if _matches(name, SKIPPED) or is_training_state(name):
            continue
        if not (_matches(name, READ_PATTERNS) or (pickled_only and _matches(name, PICKLED))):
            continue
        found = _file_blocked(folder / name)
        if found is not None:
            return (folder, PERMISSION) if found == "folder" else (folder / name, found)
    return None


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def _file_blocked(path: Path) -> str | None:
    """Why `path` cannot be read ("folder": its folder cannot be searched), or None."""
    try:
        mode = os.stat(path).st_mode
    except OSError as err:  # EACCES: the folder is listable (r) but not searchable (x)
        return "folder" if err.errno in DENIED else None
    if stat.S_ISDIR(mode):
        return None
    if not stat.S_ISREG(mode):
        return NOT_REGULAR
    try:  # O_NONBLOCK: never waits, whatever the file turned into since the stat
        handle = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as err:
        return PERMISSION if err.errno in DENIED else None
    os.close(handle)
    return None


def check_readable(folder: Path, model: str, *, fix_at: Path | None = None) -> None:
    """Refuse a model folder that cannot be listed, or a file of it a load reads that cannot
    be opened or is no regular file (`fix_at`: the folder to name in the fix, a hub cache
    entry for a snapshot, whose files link into its `blobs/`)."""
    found = blocked(folder)
    if found is None:
        return
    path, why = found
    if why != PERMISSION:
        raise ModelError(f"{model} could not be loaded: {path} is {why}; put the model's own file there.")
    what = "the model folder " if path == folder else ""
    raise ModelError(
        f"{model} could not be loaded: {what}{path}: {PERMISSION}; give your user read access "
        f"(e.g. `chmod -R u+rX {fix_at or folder}` if you own it)."
    )


def permission_message(path: Path) -> str:
    """A shorter line for a file found unreadable later than `check_readable` (a race, or a
    caller that skipped it)."""
    return f"{path}: {PERMISSION}; give your user read access to the model folder."
