"""Vision-feature cache: encoder outputs keyed by image content and everything that changes them.

Asking a second question about the same image should not run the vision encoder again.
Features are stored as a flat `dict[str, Tensor]` (the adapter decides the names), in a
bounded in-memory LRU and, optionally, as safetensors files in a folder. Keys come from
`feature_key`: the image's pixel hash plus the model and preprocessing fingerprint.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

Features = dict[str, "torch.Tensor"]


def feature_key(*, image_key: str, fingerprint: str) -> str:
    """Cache key of one image's features under one model + preprocessing fingerprint."""
    return hashlib.sha256(f"{fingerprint}\n{image_key}".encode()).hexdigest()


class FeatureCache:
    """Bounded LRU of per-image vision features, with an optional safetensors folder behind it."""

    def __init__(self, *, max_entries: int, folder: Path | None = None) -> None:
        self.max_entries = max_entries
        self.folder = folder
        self._items: OrderedDict[str, Features] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> Features | None:
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
        elif self.folder is not None:
            found = self._load(key)
            if found is not None:
                self._remember(key, found)
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    def put(self, key: str, features: Features) -> None:
        self._remember(key, features)
        if self.folder is not None:
            self._save(key, features)

    def __len__(self) -> int:
        return len(self._items)

    def _remember(self, key: str, features: Features) -> None:
        if self.max_entries == 0:
            return
        self._items[key] = features
        self._items.move_to_end(key)
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)

    def _path(self, key: str) -> Path:
        assert self.folder is not None
        return self.folder / key[:2] / f"{key}.safetensors"

    def _load(self, key: str) -> Features | None:
        from safetensors.torch import load_file

        path = self._path(key)
        if not path.is_file():
            return None
        try:
            return load_file(str(path))
        except Exception:  # a torn or foreign file is a miss, never a crash
            return None

    def _save(self, key: str, features: Features) -> None:
        from safetensors.torch import save_file

        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        save_file({k: v.detach().cpu().contiguous() for k, v in features.items()}, str(tmp))
        os.replace(tmp, path)
