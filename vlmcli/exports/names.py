"""Names inside an export: each image's path relative to the run's common folder, and
WebDataset keys. Pure.

    relative_names(["/d/a/x.jpg", "/d/b/y.png"]) -> {"/d/a/x.jpg": "a/x.jpg", "/d/b/y.png": "b/y.png"}
    webdataset_keys(["a/x.v2.jpg", "a/x.v2.png"]) -> {"a/x.v2.jpg": "a/x_v2", "a/x.v2.png": "a/x_v2_1"}

Output names are always valid UTF-8 (a name that is not has its bytes as `\\xNN`, as in
every vlmcli output), so the name in a `metadata.jsonl` or tar index is the file's name.
A WebDataset key is everything before the first dot of the member's base name, so dots
in an image's base name become "_"; two images that would share a key get "_1", "_2".
"""

from __future__ import annotations

import os
import posixpath

from vlmcli.media.names import utf8_text


def common_folder(paths: list[str]) -> str:
    """The deepest folder holding every path (paths are absolute)."""
    if not paths:
        return os.sep
    return os.path.commonpath([os.path.dirname(p) for p in paths])


def relative_names(paths: list[str]) -> dict[str, str]:
    """path -> its name relative to `common_folder(paths)`, '/'-separated, valid UTF-8."""
    root = common_folder(paths)
    # a name that is not UTF-8 is escaped (caf\xe9.jpg): its backslash would read as a folder to loaders
    return {p: utf8_text(os.path.relpath(p, root)).replace(os.sep, "/").replace("\\", "_") for p in paths}


def webdataset_keys(names: list[str]) -> dict[str, str]:
    """relative name -> a unique WebDataset key (no dot in its base name, no extension)."""
    keys: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        folder, base = posixpath.split(name)
        stem = base.rsplit(".", 1)[0] if "." in base.lstrip(".") else base
        stem = stem.replace(".", "_") or "_"
        keys[name] = claim(posixpath.join(folder, stem) if folder else stem, used)
    return keys


def claim(wanted: str, used: set[str]) -> str:
    """`wanted`, or the first of `wanted_1`, `wanted_2`, ... not in `used`; added to `used`."""
    candidate, n = wanted, 0
    while candidate in used:
        n += 1
        candidate = f"{wanted}_{n}"
    used.add(candidate)
    return candidate


def extension(name: str) -> str:
    """The image's extension, lower case, without the dot ("jpg"); "" when it has none."""
    base = posixpath.basename(name)
    return base.rsplit(".", 1)[1].lower() if "." in base.lstrip(".") else ""
