"""What an output folder already holds, read once per run and asked many times.

    index = ResumeIndex(config_hashes=hashes, identity=resolver)
    for shard in shards: index.add_shard(shard, rows)        # every completed shard, once
    answer = index.state(paths, owns=sink.owns)              # O(len(paths)), as often as needed
    index.record(rows)                                       # rows this run writes
    index.replace_shard(shard, kept_rows)                    # after `retire` rewrote a shard

A dataset run asks what is done once per input shard; reading every output shard for each
question made a long run quadratic (input shards x output rows). The index holds, per
stored path (by its identity: `vlmcli.sinks.identity`), where its rows are and whether
each is ok, plus one ok row per (content key, config hash) to copy for identical content
at a new path. Rows this run writes are recorded, so a later input shard still gets a copy
of an image captioned earlier in the run instead of captioning it again.

Only rows of the run's config hashes are kept. `state` gives what `ShardedSink.resume_state`
promises, for the paths asked about: done identities (in the spelling asked), error rows to
retry or keep, and the leftovers to drop (a second ok row of one item, an error row beside
an ok row).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from vlmcli.media.names import utf8_text
from vlmcli.sinks.base import ResumeState
from vlmcli.sinks.schema import Row, RowId, Status


class Stored(NamedTuple):
    """One stored row of a path: where it is (shard None: written by this run) and what it says."""

    shard: Path | None
    index: int
    key: str | None
    config_hash: str
    ok: bool


@dataclass
class Answer:
    """`ResumeIndex.state`: the resume state, and what `retire` needs to clean up."""

    state: ResumeState
    error_files: dict[tuple[str, str], set[Path]] = field(default_factory=dict)
    """(path, config_hash) -> the shards holding its error rows."""
    stale: dict[Path, set[int]] = field(default_factory=dict)
    """shard -> row indices of leftovers to drop."""


class ResumeIndex:
    def __init__(self, *, config_hashes: frozenset[str], identity: Callable[[str], str]) -> None:
        self.config_hashes = config_hashes
        self._identity = identity
        self._rows: dict[str, list[Stored]] = {}
        self._shard_paths: dict[Path, set[str]] = {}
        self.reusable: dict[tuple[str, str], Row] = {}
        """(key, config_hash) -> one ok row (shared by every `state`; never copied)."""

    def _add(self, shard: Path | None, index: int, row: Row) -> None:
        if row["config_hash"] not in self.config_hashes:
            return
        ident = self._identity(row["path"])
        ok = row["status"] == Status.OK.value
        self._rows.setdefault(ident, []).append(Stored(shard, index, row["key"], row["config_hash"], ok))
        if shard is not None:
            self._shard_paths.setdefault(shard, set()).add(ident)
        if ok and row["key"] is not None:
            self.reusable.setdefault((row["key"], row["config_hash"]), row)

    def add_shard(self, shard: Path, rows: Iterable[Row]) -> None:
        for index, row in enumerate(rows):
            self._add(shard, index, row)

    def record(self, rows: Iterable[Row]) -> None:
        """Rows this run writes (buffered or published): done, and copyable by later questions."""
        for row in rows:
            self._add(None, -1, row)

    def replace_shard(self, shard: Path, rows: Sequence[Row]) -> None:
        """`shard` now holds `rows` (none: it was removed): its entries are rebuilt."""
        for ident in self._shard_paths.pop(shard, set()):
            kept = [s for s in self._rows.get(ident, []) if s.shard != shard]
            if kept:
                self._rows[ident] = kept
            else:
                self._rows.pop(ident, None)
        self.add_shard(shard, rows)

    def _stored(self, path: str) -> list[Stored]:
        """Every stored row of `path`, whichever spelling stored it (resolved, or escaped to UTF-8)."""
        spellings = dict.fromkeys((path, self._identity(path), utf8_text(path), self._identity(utf8_text(path))))
        return [s for spelling in spellings for s in self._rows.get(spelling, [])]

    def state(self, paths: Sequence[str], *, owns: Callable[[Path], bool]) -> Answer:
        answer = Answer(ResumeState(reusable=self.reusable))
        for path in dict.fromkeys(paths):
            self._answer_one(path, self._stored(path), answer, owns=owns)
        return answer

    @staticmethod
    def _answer_one(path: str, stored: list[Stored], answer: Answer, *, owns: Callable[[Path], bool]) -> None:
        state = answer.state
        done_pairs: set[str] = set()
        in_shards: set[RowId] = set()
        for s in stored:
            pair = (path, s.config_hash)
            if s.ok:
                rid = RowId(path, s.key, s.config_hash)
                if s.shard is not None:
                    if rid in in_shards:  # the same item twice in the folder (two spellings)
                        answer.stale.setdefault(s.shard, set()).add(s.index)
                    in_shards.add(rid)
                state.done.add(rid)
                done_pairs.add(s.config_hash)
            elif s.shard is not None:
                answer.error_files.setdefault(pair, set()).add(s.shard)
                state.failed[pair] = state.failed.get(pair, True) and owns(s.shard)
        for s in stored:  # an error row beside an ok row of the same item: a leftover
            if not s.ok and s.shard is not None and s.config_hash in done_pairs:
                answer.stale.setdefault(s.shard, set()).add(s.index)
