"""Which model a caption came from, however its folder was spelled.

`caption-dir` skips what an earlier run already captioned with the same settings, and the
model is one of them. A hub id names one model however it is typed; a folder does not:
`models/smol`, `./models/smol/`, `/home/me/models/smol` and a symlink to it are one model,
and the same folder copied to another machine (a Ray worker, a second disk) is still that
model. Hashing the spelling made a rerun caption every file again and write every row twice.

A folder is identified by a fingerprint of what decides its answers: the model's and
processor's settings (`*.json`, chat templates, tokenizer vocabularies) read whole, and its
weight files by name, size and their first and last 64 KiB (a retrained model differs there;
reading a 15 GB checkpoint whole on every run would not be worth it). README files, samples
and anything else in the folder do not count.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

SETTINGS_SUFFIXES = (".json", ".jinja", ".model", ".txt", ".tiktoken")
"""Files read whole: configs, chat templates, tokenizer vocabularies and merges."""
WEIGHTS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
"""Files identified by size and their ends."""
EDGE_BYTES = 64 * 1024
SKIPPED_NAMES = frozenset({"readme.txt"})


def model_folder(model: str) -> Path | None:
    """The folder `model` names, resolved (absolute, symlinks followed); None for a hub id."""
    path = Path(model).expanduser()
    return path.resolve() if path.is_dir() else None


def display_model(model: str) -> str:
    """`model` as rows record it: a folder's resolved absolute path, a hub id as given."""
    folder = model_folder(model)
    return str(folder) if folder is not None else model


def model_identity(model: str) -> str:
    """A hub id as given; for a folder, "folder:" and the fingerprint of its contents (module
    docstring), the same for every spelling and every copy of it. Its files are read once per
    process while their sizes and times stay the same (a run makes prompts more than once)."""
    folder = model_folder(model)
    if folder is None:
        return model
    counted = []  # (name, kind, size, mtime_ns) of the files that count, by name
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        name = entry.name.lower()
        if not entry.is_file() or name in SKIPPED_NAMES:
            continue
        kind = "settings" if name.endswith(SETTINGS_SUFFIXES) else "weights" if name.endswith(WEIGHTS_SUFFIXES) else None
        if kind is not None:
            stat = entry.stat()
            counted.append((entry.name, kind, stat.st_size, stat.st_mtime_ns))
    return f"folder:{_fingerprint(str(folder), tuple(counted))}"


@functools.lru_cache(maxsize=8)
def _fingerprint(folder: str, counted: tuple[tuple[str, str, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for name, kind, size, _ in counted:
        path = os.path.join(folder, name)
        if kind == "settings":
            digest.update(f"{name}\0settings\0".encode())
            digest.update(Path(path).read_bytes())
            continue
        digest.update(f"{name}\0weights\0{size}\0".encode())
        with open(path, "rb") as handle:
            if size <= 2 * EDGE_BYTES:
                digest.update(handle.read())
            else:
                digest.update(handle.read(EDGE_BYTES))
                handle.seek(size - EDGE_BYTES)
                digest.update(handle.read(EDGE_BYTES))
    return digest.hexdigest()[:32]
