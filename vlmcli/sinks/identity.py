"""Which file a path names, whatever its spelling: the `path` that caption rows store.

    resolved_path("mix/a.jpg")             -> "/data/photos/mix/a.jpg"   (from /data/photos)
    resolved_path("/data/photos/./mix/a.jpg"), resolved_path("mix/../mix/a.jpg") -> the same
    resolved_path("link-to-mix/a.jpg")     -> "/data/photos/mix/a.jpg"   (a symlinked folder)

Resume matches rows by path, so a path must not depend on the current folder, on relative
vs absolute spelling, `./`, `..`, or the folder symlinks it went through. The resolved path
is absolute, with every folder resolved (`os.path.realpath` of the parent folder) and the
file's own name kept. The name is kept on purpose: a file that is itself a symlink is its
own entry (symlink farms such as git-annex or the Hugging Face cache point many names at
one stored file, and each name gets its row; identical content is still captioned once).

`PathResolver` caches folders, so resolving the paths of 100,000 stored rows costs one
`realpath` per folder, not per row.
"""

from __future__ import annotations

import os


def resolved_path(path: str, *, cwd: str | None = None) -> str:
    """`path` as an absolute path with every folder resolved and the last name kept.

    A relative `path` is taken relative to `cwd` (default: the current folder). Folders
    that do not exist are normalised lexically (`realpath` in its non-strict mode).
    """
    return PathResolver(cwd=cwd)(path)


class PathResolver:
    """`resolved_path` with the resolved folders cached (for many paths in few folders)."""

    def __init__(self, *, cwd: str | None = None) -> None:
        self.cwd = cwd if cwd is not None else os.getcwd()
        self._folders: dict[str, str] = {}

    def __call__(self, path: str) -> str:
        joined = os.path.join(self.cwd, path)  # an absolute `path` replaces cwd
        folder, name = os.path.split(joined)
        if name in ("", ".", ".."):  # a folder, not a file: resolve it whole
            return os.path.realpath(joined)
        real = self._folders.get(folder)
        if real is None:
            real = self._folders[folder] = os.path.realpath(folder)
        return os.path.join(real, name)
