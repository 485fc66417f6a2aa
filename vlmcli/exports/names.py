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
another item has or wants, so the same records always get the same names. Names are
compared ignoring case (`A.jpg`, `a.jpg` are one file on macOS and Windows), and no name is
a folder another name needs. A dataset item's name is its key flattened (`item_name`): "/",
"\\", ".", ":" and "#" (a multi-image row's `<key>#image<i>`) become "_".
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable

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
    skipping every name that is taken or that another id wants (its own name is never reused).
    Names are compared ignoring case (`A.jpg` and `a.jpg` are one file on macOS and Windows),
    and a name is never a folder another name needs (`scan` beside `scan/page-0001.png`)."""
    used = {folded(n) for n in (*taken, *wanted.values())}
    folders = {folded(f) for n in (*taken, *wanted.values()) for f in parent_folders(n)}
    given: set[str] = {folded(n) for n in taken} | folders
    used |= folders
    tried: dict[str, int] = {}
    names: dict[str, str] = {}
    for ident in sorted(wanted):
        name = wanted[ident]
        if folded(name) in given:
            name = _numbered(name, used, tried)
        given.add(folded(name))
        names[ident] = name
    return names


def folded(name: str) -> str:
    """`name` as a case-insensitive file system compares it."""
    return name.casefold()


def parent_folders(name: str) -> list[str]:
    """`a/b/c.jpg` -> ["a", "a/b"]."""
    parts = name.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _numbered(name: str, used: set[str], tried: dict[str, int]) -> str:
    """The next of `<stem>_1<.ext>`, `<stem>_2<.ext>`, ... not in `used` (ignoring case);
    added to `used`. `tried` keeps the last number per name, so a thousand items of one name
    stay linear."""
    folder, base = posixpath.split(name)
    stem, dot, ext = base.rpartition(".") if "." in base.lstrip(".") else (base, "", "")
    while True:
        tried[name] = tried.get(name, 0) + 1
        candidate = posixpath.join(folder, f"{stem}_{tried[name]}{dot}{ext}")
        if folded(candidate) not in used:
            used.add(folded(candidate))
            return candidate


def claim(wanted: str, used: set[str], *, fold: bool = False) -> str:
    """`wanted`, or the first of `wanted_1`, `wanted_2`, ... not in `used`; added to `used`.
    With `fold`, `used` holds case-folded names and names are compared ignoring case."""
    key = folded if fold else (lambda name: name)
    candidate, n = wanted, 0
    while key(candidate) in used:
        n += 1
        candidate = f"{wanted}_{n}"
    used.add(key(candidate))
    return candidate


def extension(name: str) -> str:
    """The image's extension, lower case, without the dot ("jpg"); "" when it has none."""
    base = posixpath.basename(name)
    return base.rsplit(".", 1)[1].lower() if "." in base.lstrip(".") else ""


def taken_names(names: Iterable[str]) -> set[str]:
    """`names` and every folder they need, case-folded: what `claim_name` keeps clear of."""
    names = list(names)
    return {folded(n) for n in names} | {folded(f) for n in names for f in parent_folders(n)}


def claim_name(wanted: str, taken: set[str]) -> str:
    """A name chosen after the others (a picture's PNG name, known once it is read): `wanted`,
    or the first of `<stem>_1<.ext>`, `_2`, ... not in `taken` (`taken_names`, ignoring case);
    added to `taken`. Records come in path order, so the same run gets the same names."""
    if folded(wanted) not in taken:
        taken.add(folded(wanted))
        return wanted
    return _numbered(wanted, taken, {})


def item_name(key: str) -> str:
    """A dataset item's key as a file name in an export: `a/b.jpg` (or `a\\b.jpg`) -> `a_b_jpg`;
    a zip's PDF page `inv/march.pdf::page-0003` -> `inv_march_pdf/page-0003` (a folder per
    document); a multi-image row's picture `00000007#image1` -> `00000007_image1` and a repeated
    key's `k#row3` -> `k_row3` (`#` starts a URL's fragment and a shell comment). Rows keep
    their keys; `distinct` keeps the names apart (`x_image1` beside a key `x#image1`)."""
    from vlmcli.inputs.item import SEPARATOR

    parts = utf8_text(key).split(SEPARATOR)
    flat = (part.replace("\\", "/").replace("/", "_").replace(".", "_").replace(":", "_").replace("#", "_") for part in parts)
    return "/".join(flat)
