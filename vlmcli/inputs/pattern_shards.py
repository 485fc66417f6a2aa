"""The dataset shards among the files a pattern matches: a quoted INPUT (`'shards/*.tar'`, the
Hub's `'data/train-*.parquet'`, every pattern typed in cmd.exe or PowerShell) or a `--glob`.

A pattern's files are read as a folder holding just them is read (`formats.shards_beside`):

    only shards (and other files: notes, `.idx`)  -> the shards, each as its content says
                                                     (`formats.file_format`, as if listed)
    shards beside pictures or videos               -> tar shards or zips: an error, say which;
                                                     tables, PDFs: the pictures (as a folder)
    no shard                                       -> plain files (`discover` keeps the pictures)

Pictures and videos are known by their names (as a folder's are: no file is opened for
them); any other file by its first bytes. CSV and JSON files beside other shards are their
metadata (img2dataset's `00000_stats.json`), as in a folder; a pattern of CSV or JSON files
only reads them. With `--input-format`, the matches named as that kind are read, or every
match when none is (a tar named `.bin`: the user said what it is).

The files inside the run's output folder, and a caption run's own `part-*` shards in any
folder that holds one (its lock file says so), are never matched: they are captions.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from pathlib import Path

from vlmcli.inputs.formats import InputFormat, file_format, is_media_name, named_as, shards_beside
from vlmcli.inputs.walk import is_inside, is_run_shard

_METADATA = (InputFormat.CSV, InputFormat.JSON)


def pattern_files(pattern: str, *, exclude: Path | None = None) -> list[Path]:
    """The files `pattern` matches, in name order (`**` across folders), but the run's own
    output: files inside `exclude` and caption runs' `part-*` shards."""
    skip = _resolved(exclude)
    found = sorted(path for path in glob.glob(pattern, recursive=True) if os.path.isfile(path))
    return [Path(path) for path in found if not is_inside(path, skip) and not _run_shard(Path(path))]


def pattern_shards(pattern: str, paths: Sequence[Path], *, forced: InputFormat) -> list[tuple[Path, InputFormat]]:
    """The shards to read among `paths` (those `pattern` matched), each with its kind; empty
    when they are plain files (see the module docstring)."""
    if forced is not InputFormat.AUTO:
        named = [path for path in paths if named_as(path, forced)]
        return [(path, forced) for path in named or paths]
    found: list[tuple[Path, InputFormat]] = []
    picture: Path | None = None
    for path in paths:
        if is_media_name(path):
            picture = picture or path
            continue
        kind = file_format(path)
        if kind is not InputFormat.FILES:
            found.append((path, kind))
    if any(kind not in _METADATA for _, kind in found) or picture is not None:
        found = [(path, kind) for path, kind in found if kind not in _METADATA]  # metadata, as in a folder
    return shards_beside(found, picture, holder=f"{pattern} matches")


def _resolved(folder: Path | None) -> Path | None:
    try:
        return folder.resolve() if folder is not None else None
    except OSError:
        return None


def _run_shard(path: Path) -> bool:
    """A caption run's own output shard: a `part-*` name in a folder holding a run's lock file."""
    if not is_run_shard(path.name):
        return False
    return bool(glob.glob(os.path.join(glob.escape(str(path.parent)), ".vlm-run*.lock")))
