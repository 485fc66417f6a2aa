"""Which files a caption run looks at: folders (recursive), `--glob` patterns, `--files-from`.

Files named by the user (an INPUT argument or a `--files-from` line) always get a row,
an error row if they are not images. Files found by walking a folder or matching a glob
are kept when they look like images: by their first bytes (magic), or by an image
extension (so a corrupt `.jpg` still gets its error row); anything else (notes, videos,
the output folder) is ignored. Hidden files and folders are skipped while walking.

Walking (`vlmcli.inputs.walk`) loses nothing without a word: a subfolder that cannot be
listed becomes a candidate with an `error` (an error row "Cannot read folder ...: its files
were not captioned", so the run exits 9 and a rerun retries it; a rerun that lists it drops
that row: `readable_note`); symlinked subfolders are
not followed (no loops, no file twice) and `Discovered.notes` names them. In a folder that
is a caption run's output, its `part-*` shards are left out, and such a folder holding
nothing else is refused with that said. A `.txt` found beside a picture (or video) of the
same name (`photo.txt` or `photo.jpg.txt` beside `photo.jpg`: what `--format txt` writes, or
a dataset's captions) is a caption file, not an input: it is left out without being counted
among the ignored non-image files (`Discovered.caption_files`); a `.txt` of no picture is.

Every candidate's path is its resolved form (`vlmcli.sinks.identity`: absolute, folders
resolved, the file's own name kept), so a file gets the same path, hence the same rows,
whatever the current folder and however it was spelled (`mix`, `/abs/mix`, `./mix`,
`mix/../mix`, a symlinked folder); a file reached twice in one run is listed once.
Pure except for listing folders; reading file contents is `probe`'s job.
"""

from __future__ import annotations

import glob
import os
import sys
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from vlmcli.errors import InputError
from vlmcli.inputs.addresses import address_hint
from vlmcli.inputs.windows_paths import local_spelling
from vlmcli.inputs.patterns import is_pattern, pattern_matches
from vlmcli.inputs.walk import Listing, is_inside, is_run_shard, linked_notes, list_tree, unreadable_text
from vlmcli.media.kinds import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
from vlmcli.media.sources import STDIN
from vlmcli.sinks.identity import PathResolver

_MEDIA = IMAGE_EXTENSIONS | VIDEO_EXTENSIONS
_FETCH = "download the pictures first (img2dataset fetches a list of URLs), then pass the files or their folder."


@dataclass(frozen=True)
class Candidate:
    path: str
    """Absolute, folders resolved (`vlmcli.sinks.identity`): the same file always has the same path."""
    explicit: bool
    """Named by the user: always gets a row. Otherwise kept only if it looks like an image."""
    error: str | None = None
    """Set for a folder that walking could not list: its error row (`unreadable_folder`)."""


def parse_file_list(data: bytes) -> list[str]:
    """Paths from `--files-from` bytes: NUL-separated if there is a NUL (find -print0), else lines.
    A byte-order mark is dropped: UTF-8 with BOM (Notepad, Excel) is read as UTF-8, UTF-16
    (what Windows PowerShell 5's `dir -Name > list.txt` writes) is decoded first."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        data = os.fsencode(data.decode("utf-16"))
    data = data.removeprefix(b"\xef\xbb\xbf")
    parts = data.split(b"\0") if b"\0" in data else data.splitlines()
    paths = [os.fsdecode(part.rstrip(b"\r") if b"\0" not in data else part) for part in parts]
    return [p for p in paths if p.strip()]


_STDIN_LISTS: "weakref.WeakKeyDictionary[BinaryIO, list[str]]" = weakref.WeakKeyDictionary()
"""The list each stdin stream held: read once, asked for twice (which inputs are dataset
shards, `entry.dataset_inputs`; then the files to caption, `discover`)."""


def read_file_list(source: str, *, stdin: BinaryIO | None = None) -> list[str]:
    if source == STDIN:
        stream = stdin if stdin is not None else sys.stdin.buffer
        try:
            return list(_STDIN_LISTS[stream])
        except (KeyError, TypeError):  # not read yet (TypeError: a stream that takes no weak reference)
            pass
        if getattr(stream, "isatty", lambda: False)():
            raise InputError("--files-from - reads paths from standard input, but stdin is a terminal; pipe a list in.")
        paths = parse_file_list(stream.read())
        try:
            _STDIN_LISTS[stream] = paths
        except TypeError:
            pass
        return list(paths)
    if source.lower().endswith((".csv", ".tsv")):
        raise InputError(
            f"--files-from takes one path per line, and {source} is a table: pass it as an INPUT "
            f"(vlm caption-dir {source} ...) to caption the files its path column names, with --keep-columns for the rest."
        )
    try:
        return parse_file_list(Path(source).read_bytes())
    except FileNotFoundError:
        raise InputError(f"No such file list: {source}") from None
    except OSError as exc:
        raise InputError(f"Cannot read file list {source}: {exc.strerror or exc}.") from None


def walk(folder: str, *, exclude: Path | None = None) -> Iterator[str]:
    """Files under `folder`, in sorted order, skipping hidden entries, symlinked folders and `exclude`."""
    yield from list_tree(folder, exclude=exclude).paths()


class Discovered(list[Candidate]):
    """`discover`'s candidates, with what walking left out that the user should hear of."""

    def __init__(self) -> None:
        super().__init__()
        self.linked: list[str] = []
        """Symlinked folders met while walking (as spelled), not followed."""
        self.caption_files = 0
        """`.txt` files found beside pictures of their name (caption files), left out."""

    def notes(self) -> list[str]:
        """One-line notes for stderr: the symlinked folders not followed."""
        return linked_notes(self.linked)


def unreadable_folder(spelled: str, why: str) -> str:
    """The error row of a folder that walking could not list."""
    return unreadable_text(spelled, why)


def readable_note(count: int, *, dry_run: bool = False) -> str:
    """The one stderr line of a run (or dry run) that dropped (would drop) the error rows of
    folders that could not be read before and are read now (`Summary.readable_folder_errors`)."""
    one = count == 1
    rows = f"{count} error row{'' if one else 's'} of {'a folder' if one else 'folders'} that could not be read before"
    now = "it is read now" if one else "they are read now"
    if dry_run:
        return f"note: {rows} would be dropped from the output by a run, as {now} (a dry run changes nothing)"
    return f"note: {rows} {'was' if one else 'were'} dropped from the output: {now}"


def _run_output(source: str, listing: Listing, exclude: Path | None) -> str:
    """Why a caption run's output folder, given as an INPUT, has nothing to caption."""
    from vlmcli.media.names import display_name

    shard = next((name for name in listing.files if os.sep not in name and is_run_shard(name)), None)
    held = f" ({display_name(shard)})" if shard else ""
    name = display_name(source)
    if exclude is not None and _same_folder(source, exclude):
        return f"{name} is this run's output folder (-o): it holds captions{held}, not pictures; pass the folder of pictures to caption."
    return (
        f"{name} holds a caption run's output{held}, not pictures: read it with `vlm export` or `vlm report`, "
        "and pass the folder of pictures to caption."
    )


def _same_folder(a: str, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def discover(
    *,
    inputs: Sequence[str] = (),
    globs: Sequence[str] = (),
    files_from: str | None = None,
    exclude: Path | None = None,
    stdin: BinaryIO | None = None,
) -> Discovered:
    """Every candidate file once, by resolved path (first mention wins; a user-named file stays
    explicit). A subfolder that cannot be listed is a candidate with its `error` (an error row:
    its files were not captioned); symlinked subfolders are not followed (`Discovered.notes`)."""
    resolved_exclude = exclude.resolve() if exclude is not None else None
    found: dict[str, Candidate] = {}
    out = Discovered()
    resolve = PathResolver()

    def add(path: str, explicit: bool) -> None:
        put(resolve(path), explicit)

    def put(real: str, explicit: bool, error: str | None = None) -> None:
        if real not in found or (explicit and not found[real].explicit):
            found[real] = Candidate(path=real, explicit=explicit, error=error)

    for source in inputs:
        if source == STDIN:
            raise InputError("caption-dir reads files, not stdin; use --files-from - to pipe a list of paths.")
        if os.path.isdir(source):
            _add_folder(source, exclude=exclude, put=put, out=out)
        elif os.path.lexists(source):
            add(source, True)
        elif hint := address_hint(source, fetch=_FETCH):  # a URL, or a file:// address: said as describe says it
            raise InputError(f"No such file or folder: {source}{hint}")
        elif is_pattern(source):  # quoted, or typed in cmd.exe/PowerShell: a --glob, in effect
            matched = [path for path in pattern_matches(source) if not is_inside(path, resolved_exclude)]
            if not matched:
                raise InputError(f"No such file or folder: {source} (no file matches it as a pattern either)")
            for path in matched:
                add(path, False)
        else:
            raise InputError(f"No such file or folder: {source}")
    for pattern in globs:
        for path in sorted(glob.glob(pattern, recursive=True)):
            if os.path.isfile(path) and not is_inside(path, resolved_exclude):
                add(path, False)
    if files_from is not None:
        for path in read_file_list(files_from, stdin=stdin):
            if hint := address_hint(path, fetch=_FETCH):  # a URL line: an error row named as listed, not /cwd/https:/...
                put(path, True, error=f"No such file: {path}{hint}")
            else:
                add(local_spelling(path, Path.cwd()), True)  # images\\0001.jpg in a list written on Windows
    captions = _caption_files(found.values())
    out.extend(c for c in found.values() if c.path not in captions)
    out.caption_files = len(captions)
    given = {os.path.realpath(source) for source in inputs if os.path.isdir(source)}
    out.linked[:] = [link for link in out.linked if os.path.realpath(link) not in given]  # walked as an input
    return out


def _caption_files(candidates: Iterable[Candidate]) -> set[str]:
    """The found (not user-named) `.txt` files beside a found picture or video of their name:
    `photo.txt` (`--txt-name stem`) or `photo.jpg.txt` (`filename`) beside `photo.jpg`."""
    found = [c for c in candidates if not c.explicit and c.error is None]
    media = [c.path for c in found if os.path.splitext(c.path)[1].lower() in _MEDIA]
    names = {*media, *(os.path.splitext(path)[0] for path in media)}
    return {c.path for c in found if c.path.endswith(".txt") and c.path[: -len(".txt")] in names}


def _add_folder(source: str, *, exclude: Path | None, put: Callable[..., None], out: Discovered) -> None:
    """A folder's files. Walking follows no link, so a file's resolved path is the folder's, resolved once, joined
    with the file's path below it: no path below is resolved again."""
    listing = list_tree(source, exclude=exclude)
    files = listing.files
    if listing.run_output:  # a caption run's shards are its captions, never input
        files = [name for name in files if os.sep in name or not is_run_shard(name)]
        if not files and not listing.unreadable and len(files) != len(listing.files):
            raise InputError(_run_output(source, listing, exclude))
    root = os.path.realpath(source)
    for name in files:
        put(os.path.join(root, name), False)
    for name, why in listing.unreadable:
        put(os.path.join(root, name), True, unreadable_folder(listing.spelled(name), why))
    out.linked.extend(listing.spelled(name) for name in listing.linked)
