"""What an output folder already holds, read once per run and asked many times.

    index = ResumeIndex(config_hashes=hashes, identity=resolver)
    for shard in shards: index.add_shard(shard, rows)        # every completed shard, once
    answer = index.state(paths, owns=sink.owns)              # O(len(paths)), as often as needed
    index.record(rows)                                       # rows this run writes
    index.replace_shard(shard, kept_rows)                    # after `retire` rewrote a shard
    gone = index.gone_errors(present=paths, folders=roots, shards=read_fully, owns=sink.owns)  # .rows, .readable
    old = index.superseded(present=paths, shards=read_fully, owns=sink.owns)   # ok rows of old keys
    drop = index.covered(old, present=paths)                                  # after the new rows are out
    would = index.stored_rows(index.covered(old, present=paths, written=planned))   # a dry run's count

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

`gone_errors` finds the error rows of items no longer among a run's inputs, which `state`
(asked only about the items there are) never sees: a file deleted after it failed, or a
`<shard>::k1#dup1` key an older version gave a tar member stored twice. Their ok rows stay
(a caption outlives its file). Asked about a shard, it looks only at that shard's stored
items (held apart by shard), so a dataset run asking once per shard stays linear. It also
finds the error rows of subfolders walking could not list before ("Cannot read folder ...:
permission denied") that it lists now (`Gone.readable`): their files are among the inputs
now, so the folder's row goes (it stays while the folder cannot be listed: it is asked about).

`superseded` finds the ok rows of keys a shard read to its end no longer yields (a tar of a
folder now keyed `photos/IMG_1.jpg`, before `photos/IMG_1`; a table of image paths keyed by
path, before by row number); `covered` keeps those whose content and settings have an ok row
at a key the shard yields now (once this run wrote it, or before): only those are dropped, so
no caption is lost, and a picture removed from the shard keeps its row.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from vlmcli.inputs.item import SEPARATOR
from vlmcli.inputs.walk import is_unreadable_text
from vlmcli.media.names import utf8_text
from vlmcli.sinks.base import ResumeState
from vlmcli.sinks.schema import Row, RowId, Status


class Superseded(NamedTuple):
    """An ok row (in `shard`) of `ident`, an item of the dataset shard `source` that no longer yields it."""

    shard: Path
    ident: str
    key: str
    config_hash: str
    source: str


class Stored(NamedTuple):
    """One stored row of a path: where it is (shard None: written by this run) and what it says."""

    shard: Path | None
    index: int
    key: str | None
    config_hash: str
    ok: bool
    folder: bool = False
    """An error row of a subfolder walking could not list (`walk.unreadable_text`)."""


class Gone(NamedTuple):
    """`ResumeIndex.gone_errors`: shard -> indices of error rows to drop, by why."""

    rows: dict[Path, set[int]]
    """Of items no longer among the inputs (a deleted file, a key a shard no longer yields)."""
    readable: dict[Path, set[int]]
    """Of subfolders walking could not list before, listed now (their files are inputs now)."""


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
        self._failed: set[str] = set()
        """Identities with an error row in a shard (some may be gone since: `replace_shard`)."""
        self._failed_by_source: dict[str, set[str]] = {}
        """The same, by dataset shard (each text before a `::` of the path: `_sources`)."""
        self._ok_by_source: dict[str, set[str]] = {}
        """Identities with an ok row in a shard, by dataset shard (what `superseded` looks through)."""
        self._looked_under: set[str] = set()
        self._found: dict[Path, set[int]] = {}
        """What `gone_errors` found so far: shard -> row indices (until the shard is replaced)."""
        self.reusable: dict[tuple[str, str], Row] = {}
        """(key, config_hash) -> one ok row (shared by every `state`; never copied)."""

    def _add(self, shard: Path | None, index: int, row: Row) -> None:
        if row["config_hash"] not in self.config_hashes:
            return
        ident = self._identity(row["path"])
        ok = row["status"] == Status.OK.value
        folder = not ok and is_unreadable_text(row.get("error"))
        self._rows.setdefault(ident, []).append(Stored(shard, index, row["key"], row["config_hash"], ok, folder))
        if shard is not None:
            self._shard_paths.setdefault(shard, set()).add(ident)
            if not ok:  # what `gone_errors` looks through
                self._failed.add(ident)
            for source in _sources(ident):
                (self._failed_by_source if not ok else self._ok_by_source).setdefault(source, set()).add(ident)
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
        self._found.pop(shard, None)
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

    def gone_errors(
        self,
        *,
        present: Collection[str],
        folders: Sequence[str] = (),
        shards: Sequence[str] = (),
        owns: Callable[[Path], bool],
    ) -> Gone:
        """shard -> indices of stored error rows whose item is no longer among a run's inputs,
        to drop as `Answer.stale` rows are (`Gone.rows`); and, apart (`Gone.readable`), those
        of a subfolder under `folders` walking could not list (`Stored.folder`) that it listed
        now: a folder there, not a link, not `present` (a folder still unreadable is: its row
        is asked about and kept), under no `present` folder (one unreadable now hides it).
        `present`: the items asked about (as `state` is asked); `folders`: input folders
        (resolved): an error row of a path under one that is not present and gone from disk
        is gone (a dataset item: when its shard file is gone);
        `shards`: dataset shards (resolved) read to their end, whose items are all `present`:
        an error row of `<shard>::<key>` not present is gone (the shard no longer yields it).

        Never an ok row (a caption outlives its file), a row in a shard `owns` refuses (another
        `--shard` job's), a row outside `folders` and `shards` (a file a filter left out is
        still on disk), nor one of another config hash (the index holds only this run's); and
        never a row found before (a run asks once per dataset shard: what it found adds up).
        A folder is looked under once (O(stored error rows)), a shard in O(its error rows)."""
        read = {ident for source in shards for ident in self._failed_by_source.get(source, ())}
        under = tuple(f.rstrip(os.sep) + os.sep for f in dict.fromkeys(folders) if f not in self._looked_under)
        self._looked_under.update(folders)
        walked = ({ident for ident in self._failed if ident.startswith(under)} - read) if under else set()
        found = Gone({}, {})
        if not read and not walked:
            return found
        here = self._spellings(present)
        on_disk = _Lookup()
        for ident in (read | walked) - here:
            into, listed = found.rows, False
            if ident in walked and on_disk.holds(ident):
                listed = _listed_now(ident, here)
                if not listed:
                    continue  # still there: left out by a filter, or an item of a shard not read to its end
                into = found.readable
            for s in self._rows.get(ident, ()):
                if listed and not s.folder:
                    continue  # a file's error row at what is a folder now: kept, as a file left out is
                if not s.ok and s.shard is not None and owns(s.shard) and s.index not in self._found.get(s.shard, ()):
                    into.setdefault(s.shard, set()).add(s.index)
        for shard, indices in [*found.rows.items(), *found.readable.items()]:
            self._found.setdefault(shard, set()).update(indices)
        return found

    def _spellings(self, present: Collection[str]) -> set[str]:
        return {s for p in present for s in (p, self._identity(p), utf8_text(p), self._identity(utf8_text(p)))}

    def superseded(
        self, *, present: Collection[str], shards: Sequence[str], owns: Callable[[Path], bool]
    ) -> set[Superseded]:
        """The ok rows, in shards `owns` allows, of `<shard>::<key>` items of the `shards` (read
        to their end, every item `present`) not among `present`: the shard no longer yields
        their key. Candidates only: `covered` says which may go. O(the shards' stored ok items)."""
        found: set[Superseded] = set()
        here = None
        for source in dict.fromkeys(shards):
            idents = self._ok_by_source.get(source, set())
            if not idents:
                continue
            here = self._spellings(present) if here is None else here
            for ident in idents - here:
                for s in self._rows.get(ident, ()):
                    if s.ok and s.shard is not None and s.key is not None and owns(s.shard):
                        found.add(Superseded(s.shard, ident, s.key, s.config_hash, source))
        return found

    def covered(
        self, candidates: Collection[Superseded], *, present: Collection[str], written: Iterable[Row] = ()
    ) -> set[Superseded]:
        """The `candidates` whose content (key) and config hash have an ok row (stored, or
        written by this run) at a `present` item of the same dataset shard: their caption is
        kept there, under the key the shard yields now. `written`: rows taken as written too
        (a dry run's plan), never recorded."""
        sources = {c.source for c in candidates}
        planned: dict[str, list[tuple[str, str]]] = {}
        for row in written:
            if row["status"] == Status.OK.value and row["key"] is not None:
                planned.setdefault(self._identity(row["path"]), []).append((row["key"], row["config_hash"]))
        have: set[tuple[str, str, str]] = set()
        for path in present:
            ident = self._identity(path)
            mine = [src for src in _sources(ident) if src in sources]
            if mine:
                ok = [(s.key, s.config_hash) for s in self._stored(path) if s.ok and s.key is not None]
                ok += planned.get(ident, [])
                have.update((src, key, config_hash) for src in mine for key, config_hash in ok)
        return {c for c in candidates if (c.source, c.key, c.config_hash) in have}

    def stored_rows(self, candidates: Collection[Superseded]) -> int:
        """How many stored ok rows the `candidates` name (what `drop_superseded` drops of them:
        a row stored twice in a shard counts twice)."""
        named = {(c.shard, c.ident, c.key, c.config_hash) for c in candidates}
        return sum(
            1
            for shard, ident, key, config_hash in named
            for s in self._rows.get(ident, ())
            if s.ok and s.shard == shard and s.key == key and s.config_hash == config_hash
        )


def _listed_now(ident: str, present: set[str]) -> bool:
    """Whether walking listed the folder `ident` (under an input folder, not `present`): a folder
    there, not a link (never followed), and no folder holding it `present` (unreadable now)."""
    if not any(_real_folder(path) for path in dict.fromkeys((ident, _unescaped(ident)))):
        return False
    folder, parent = ident, os.path.dirname(ident)
    while parent != folder:
        if parent in present:
            return False
        folder, parent = parent, os.path.dirname(parent)
    return True


def _real_folder(path: str) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except (OSError, ValueError):  # not there, or a name the file system cannot take
        return False


def _sources(ident: str) -> list[str]:
    """The dataset shards a stored path may be an item of: the text before each `::`
    (`/d/a.tar::k1` -> `/d/a.tar`; a PDF page `/d/a.tar::k1::page-0002` also `/d/a.tar::k1`)."""
    return [ident[: m.start()] for m in re.finditer(re.escape(SEPARATOR), ident) if m.start() > 0]


class _Lookup:
    """Whether a stored path still names something on disk (each dataset shard looked up once)."""

    def __init__(self) -> None:
        self._known: dict[str, bool] = {}

    def holds(self, ident: str) -> bool:
        """A file (or link) there; or a dataset item whose shard file is there (its keys are
        gone only when the shard is read to its end: `shards`); a file whose name holds `::`
        is kept while the text before it names something (kept rather than dropped)."""
        return any(self._exists(path) for path in (*_sources(ident), ident))

    def _exists(self, path: str) -> bool:
        if path not in self._known:
            try:
                self._known[path] = os.path.lexists(path) or os.path.lexists(_unescaped(path))
            except (OSError, ValueError):  # a name the file system cannot take (a NUL): no such file
                self._known[path] = False
        return self._known[path]


_ESCAPE = re.compile(rb"\\x([0-9a-fA-F]{2})")


def _unescaped(path: str) -> str:
    """A stored path of an older shard that holds a non-UTF-8 name as `\\xNN` escapes (`utf8_text`),
    as the file system spells it (surrogate escapes); `path` itself when it holds none."""
    if "\\x" not in path:
        return path
    raw = _ESCAPE.sub(lambda m: bytes([int(m[1], 16)]), path.encode("utf-8", "surrogateescape"))
    return os.fsdecode(raw)
