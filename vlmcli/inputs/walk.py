"""Listing a folder tree, once: its files in walking order, and what was not walked.

Top-down and sorted (a folder's files, then its subfolders, each in name order), without
hidden entries and without the run's output folder. The output folder is recognised by its
(st_dev, st_ino), taken once, so no folder's path is resolved while walking (resolving each
one costs a stat per path component: millions on a deep tree).

What `os.walk` drops without a word is kept for the caller to say:

- `unreadable`: subfolders that cannot be listed (no read permission, an I/O error), with why;
  a folder given to walk that cannot be listed raises `InputError` instead;
- `linked`: symlinked subfolders, never followed (a link loop cannot hang the scan, and no
  file is reached twice), but for links into the walked folder or up to a folder holding it
  (their files are walked anyway); a symlinked *file* is listed like any file.

`run_output` says the folder itself holds a caption run's output (it is the output folder,
or it holds a `.vlm-run*.lock`): its `part-*` shards are captions, never input.

A caption run over plain folders lists a tree twice, the format check (`formats.folder_shards`:
shards or pictures?) and then `captions.discover`: two walks without a resolve per folder
cost less than the one they replace, and nothing is cached between them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from vlmcli.errors import InputError

_LOCK_FILE = re.compile(r"\.vlm-run(-.+)?\.lock")
_SHARD_FILE = re.compile(r"^(?:[A-Za-z0-9-]+-)?part-\d{5,}\.(?:parquet|jsonl)$")


@dataclass
class Listing:
    folder: str
    """The folder as spelled by the caller; `files` and the folders below are joined to it."""
    files: list[str] = field(default_factory=list)
    """Paths relative to `folder`, in walking order."""
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    """(subfolder relative to `folder`, why it could not be listed: "permission denied")."""
    linked: list[str] = field(default_factory=list)
    """Symlinked subfolders (relative to `folder`), not followed."""
    run_output: bool = False
    """`folder` itself holds a caption run's output (the output folder, or a run's lock file)."""

    def paths(self) -> list[str]:
        """`files` joined to the folder as spelled."""
        return [os.path.join(self.folder, name) for name in self.files]

    def spelled(self, relative: str) -> str:
        return os.path.join(self.folder, relative)


_UNREADABLE = "Cannot read folder "
_NOT_CAPTIONED = "; its files were not captioned"


def unreadable_text(spelled: str, why: str) -> str:
    """What a run says of a subfolder that walking could not list (an error row's `error`, or a
    dataset run's shard error): its files were not read."""
    return f"{_UNREADABLE}{spelled}: {why}{_NOT_CAPTIONED}"


def is_unreadable_text(error: str | None) -> bool:
    """Whether an error row's `error` is `unreadable_text`'s: the row of a folder walking could
    not list (a rerun that lists it drops the row: `ResumeIndex.gone_errors`)."""
    return bool(error) and error.startswith(_UNREADABLE) and error.endswith(_NOT_CAPTIONED)  # type: ignore[union-attr]


def linked_notes(linked: list[str]) -> list[str]:
    """One-line notes for stderr naming the symlinked folders (as spelled) walking did not follow."""
    if not linked:
        return []
    from vlmcli.media.names import display_name

    shown = ", ".join(map(display_name, linked[:3])) + (", ..." if len(linked) > 3 else "")
    return [f"note: not following {len(linked)} symlinked folder(s) ({shown}): pass them as inputs to caption them"]


def is_inside(path: str, folder: Path | None) -> bool:
    """Whether `path`, resolved, lies under `folder` (resolved already; None: nothing is)."""
    if folder is None:
        return False
    try:
        return Path(path).resolve().is_relative_to(folder)
    except OSError:
        return False


def is_run_shard(name: str) -> bool:
    """A caption run's output shard (`part-00000.parquet`, `s2of8-part-00001.jsonl`)."""
    return _SHARD_FILE.match(name) is not None


def _why(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied"
    return (exc.strerror or type(exc).__name__).lower()


def _identity(path: str | os.PathLike[str] | None) -> tuple[int, int] | None:
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None  # not made yet: nothing to leave out
    return (st.st_dev, st.st_ino)


def _scan(folder: str, exclude: tuple[int, int] | None, out: Listing) -> None:
    """Fill `out` with the tree under `folder` (a stack, not recursion: any depth)."""
    stack: list[str] = [""]
    while stack:
        relative = stack.pop()
        try:
            with os.scandir(os.path.join(folder, relative) if relative else folder) as it:
                listed = list(it)
            if not relative:  # a run's lock file (hidden) says the folder is a run's output
                out.run_output = any(_LOCK_FILE.fullmatch(e.name) for e in listed)
            entries = [e for e in listed if not e.name.startswith(".")]
        except (FileNotFoundError, NotADirectoryError):
            continue  # gone since its parent was listed: nothing to say
        except OSError as exc:
            if not relative:
                raise
            out.unreadable.append((relative, _why(exc)))
            continue
        entries.sort(key=lambda e: e.name)
        subfolders: list[str] = []
        for entry in entries:
            name = os.path.join(relative, entry.name) if relative else entry.name
            if not _is_dir(entry):  # follows a link: a link to a file is a file, as os.walk says
                out.files.append(name)
            elif entry.is_symlink():
                if not _within_walk(entry.path, folder):
                    out.linked.append(name)
            elif exclude is None or not _same(entry, exclude):
                subfolders.append(name)
        stack.extend(reversed(subfolders))


def _within_walk(link: str, folder: str) -> bool:
    """A symlinked folder that points into the walked folder, or to a folder holding it (`up -> ..`):
    its files are walked anyway, so it is not worth a note (passing it would caption them twice)."""
    try:
        target, root = os.path.realpath(link), os.path.realpath(folder)
    except OSError:
        return False
    return os.path.commonpath([target, root]) in (target, root)


def _is_dir(entry: os.DirEntry[str]) -> bool:
    """A folder, following a link; a link that cannot be followed (a loop: ELOOP) is listed as a
    file, so its error row says why, as `os.walk` listed it."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def _same(entry: os.DirEntry[str], identity: tuple[int, int]) -> bool:
    try:
        st = entry.stat(follow_symlinks=False)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == identity


def _walk(folder: str, exclude: str | os.PathLike[str] | None) -> Listing:
    skip = _identity(exclude)
    out = Listing(folder=folder)
    try:
        _scan(folder, skip, out)
    except OSError as exc:
        raise InputError(f"Cannot read folder {folder}: {_why(exc)}.") from None
    out.run_output = out.run_output or (skip is not None and _identity(folder) == skip)
    return out


def list_tree(folder: str | os.PathLike[str], *, exclude: str | os.PathLike[str] | None = None) -> Listing:
    """The listing of `folder` (see the module docstring)."""
    return _walk(os.fspath(folder), exclude)
