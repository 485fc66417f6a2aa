"""`--shard I/N`: a deterministic split of the work, so a job array covers it disjointly.

An image belongs to shard `sha256(key) mod N`, where key is the SHA-256 of its bytes (or,
for a file that cannot be read, its path). Identical files therefore land in the same
shard and are still captioned once. Each job must still read every file once to hash it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from vlmcli.errors import ConfigError

_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def shard_of(identity: str, count: int) -> int:
    """Which of `count` shards `identity` (a content key or a path) belongs to."""
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    return int(hashlib.sha256(identity.encode()).hexdigest()[:16], 16) % count


def identity(*, key: str | None, path: str) -> str:
    return key if key is not None else f"path:{path}"


@dataclass(frozen=True)
class ShardSpec:
    index: int = 0
    """This job's shard, 0-based."""
    count: int = 1
    """How many shards the work is split into (1: everything)."""

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ConfigError(f"--shard must be I/N with 0 <= I < N, not {self.index}/{self.count}.")

    @classmethod
    def parse(cls, text: str | None) -> "ShardSpec":
        if text is None:
            return cls()
        match = _SPEC.match(text)
        if match is None:
            raise ConfigError(f"--shard must look like I/N (e.g. 0/4), not {text!r}.")
        return cls(index=int(match[1]), count=int(match[2]))

    @property
    def label(self) -> str:
        """Prefix of this job's output shard names ('' when unsharded)."""
        return "" if self.count == 1 else f"s{self.index}of{self.count}"

    def contains(self, *, key: str | None, path: str) -> bool:
        return self.count == 1 or shard_of(identity(key=key, path=path), self.count) == self.index
