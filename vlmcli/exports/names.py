"""Names inside an export: each image's path relative to the run's common folder, and
WebDataset keys. Pure.

    relative_names(["/d/a/x.jpg", "/d/b/y.png"]) -> {"/d/a/x.jpg": "a/x.jpg", "/d/b/y.png": "b/y.png"}
    webdataset_keys(["a/x.v2.jpg", "a/x.v2.png"]) -> {"a/x.v2.jpg": "a/x_v2", "a/x.v2.png": "a/x_v2_1"}
    distinct({"p1": "a.jpg", "p2": "a.jpg", "p3": "a_1.jpg"}) -> {"p1": "a.jpg", "p2": "a_2.jpg", "p3": "a_1.jpg"}

Output names are always valid UTF-8 (a name that is not has its bytes as `\\xNN`, as in
every vlmcli output), so the name in a `metadata.jsonl` or tar index is the file's name.
A WebDataset key is everything before the first dot of the member's base name, so dots
in an image's base name become "_"; two images that would share a key get "_1", "_2".
Every exported item has a name of its own: one two items would share goes to the first
(in sorted order) and the others get "_1", "_2", ... (before the extension), never a name
another item has or wants, so the same records always get the same names.
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
    wanted: dict[str, str] = {}
    for name in names:
        folder, stem = posixpath.split(without_extension(name))
        stem = stem.replace(".", "_") or "_"
        wanted[name] = posixpath.join(folder, stem) if folder else stem
    return distinct(wanted)


def without_extension(name: str) -> str:
    """`a/x.v2.jpg` -> `a/x.v2`; a name without extension (`IMG_0001`, `.hidden`) as it is."""
    folder, base = posixpath.split(name)
    stem = base.rsplit(".", 1)[0] if "." in base.lstrip(".") else base
    return posixpath.join(folder, stem) if folder else stem


def distinct(wanted: dict[str, str], taken: frozenset[str] = frozenset()) -> dict[str, str]:
    """id -> `wanted[id]`, no name given twice and none in `taken`: of the ids wanting one
    name the first (in sorted order) keeps it and the others get `<stem>_1<.ext>`, `_2`, ...,
    skipping every name that is taken or that another id wants (its own name is never reused)."""
    used = set(taken) | set(wanted.values())
    given: set[str] = set(taken)
    tried: dict[str, int] = {}
    names: dict[str, str] = {}
    for ident in sorted(wanted):
        name = wanted[ident]
        if name in given:
            name = _numbered(name, used, tried)
        given.add(name)
        names[ident] = name
    return names


def _numbered(name: str, used: set[str], tried: dict[str, int]) -> str:
    """The next of `<stem>_1<.ext>`, `<stem>_2<.ext>`, ... not in `used`; added to `used`.
    `tried` keeps the last number per name, so a thousand items of one name stay linear."""
    folder, base = posixpath.split(name)
    stem, dot, ext = base.rpartition(".") if "." in base.lstrip(".") else (base, "", "")
    while True:
        tried[name] = tried.get(name, 0) + 1
        candidate = posixpath.join(folder, f"{stem}_{tried[name]}{dot}{ext}")
        if candidate not in used:
            used.add(candidate)
            return candidate


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
