"""Numbered shard files written atomically: the shared half of the parquet and jsonl sinks.

Why this shape (after img2dataset's buffered writer):

- Rows are buffered and written `rows_per_file` at a time; a smaller shard is published
  once `flush_seconds` have passed since the last one, by a timer thread while the model
  works on a long batch (`vlmcli.periodic`), so a killed run loses at most about that much.
- A shard is written to a hidden temp file, fsynced, then published under its final name
  with `os.link` (which refuses to overwrite) and the temp removed; so a reader, or a
  resumed run, sees a whole shard or nothing, whatever moment the process is killed at.
  Readers must ignore hidden `*.tmp` files; `shard_files()` does.
- Names come from the shard number and the run's label only, never from input paths:
  `part-00000.parquet`, or `s2of8-part-00000.parquet` under `--shard 2/8`, so a job
  array writes into one folder without collisions, and `../` in an input cannot move output.
- A rerun reads every completed shard once to learn what is done (`resume_state`, through
  `resume_index.py`, which later questions of the run are answered from). Rows are
  matched by their file's resolved path (`vlmcli.sinks.identity`), so a row written under
  another spelling of the same file (relative, from another folder, through a symlinked
  folder; rows of older versions stored the path as typed) counts as the same item. Error
  rows it will retry are removed first (`retire`: the shard is rewritten to a temp file
  and `os.replace`d), with leftovers of older versions that stored one item under two
  spellings (a second ok row, an error row beside an ok row); so after a finished run
  every (path, content, settings) has one row. A run rewrites only its own shards (same
  label; an unsharded run owns all of them).
- So do error rows of items no longer among the inputs (`ResumeIndex.gone_errors`): a file
  that failed, then was deleted, under an input folder (looked under once per run); a key a
  dataset shard read to its end no longer yields (named per question, never a shard half
  read); and the error row of a subfolder that could not be listed ("Cannot read folder
  ...") once a rerun lists it (permissions fixed: its files are captioned now; counted
  apart, `ResumeState.readable`). What the questions of a run found is added up
  (`ResumeState.gone`); ok rows stay,
  except those of a key a shard read to its end no longer yields whose picture it still holds
  under a new key (a newer reader's keys): `drop_superseded` drops them once the rows under
  the new key are published (a picture removed from the shard keeps its rows).
- Temp files left by killed runs on this host are removed when their process is gone.
"""

from __future__ import annotations

import os
import shlex
import threading
import time
from abc import abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from vlmcli.errors import ConfigError, OutputError
from vlmcli.media.names import utf8_text
from vlmcli.output_files import make_folder
from vlmcli.periodic import Periodic
from vlmcli.sinks.base import ResumeState, Sink, SinkConfig
from vlmcli.sinks.identity import PathResolver
from vlmcli.sinks.kept_types import KeptTypes
from vlmcli.sinks.lock import FolderLock, remove_if_only_locks
from vlmcli.sinks.resume_index import ResumeIndex, Superseded
from vlmcli.sinks.schema import Row, Status, check_row, storable
from vlmcli.sinks.shard_files import (
    _TEMP,
    SHARD_FORMATS,
    _alive,
    _fsync_dir,
    _host,
    _publish,
    parse_shard_name,
    shard_files,
    shard_name,
)

if TYPE_CHECKING:
    from vlmcli.inputs.readings import ShardReading

FILE_SUFFIXES = {
    ".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "", ".txt": "txt",
}
"""Suffixes of files given to --output (-> the --format whose shards they name; "": none)."""


class ShardedSink(Sink):
    """Buffered rows -> numbered shard files. Subclasses say how one file is written and read."""

    extension: ClassVar[str]

    def __init__(self, config: SinkConfig) -> None:
        super().__init__(config)
        if config.output is None:
            raise ConfigError(f"--format {self.format.value} needs --output DIR (a folder for the shards).")
        if str(config.output) == "-":  # the Unix spelling of stdout would otherwise become a folder named "-"
            raise ConfigError(
                "--output - (stdout) is not a folder: caption-dir writes resumable shards into a folder; "
                "to stream one JSON object per file to stdout, use `vlm describe FILES... --json`."
            )
        self.folder = Path(config.output)
        self._buffer: list[Row] = []
        self._next_number: int | None = None
        self._last_flush = time.monotonic()
        self._error_files: dict[tuple[str, str], set[Path]] = {}
        self._stale: dict[Path, set[int]] = {}  # shard -> indices of leftover rows (see retire)
        self._gone: dict[Path, set[int]] = {}  # shard -> indices of error rows of gone items (see retire)
        self._superseded: set[Superseded] = set()  # ok rows of keys a shard no longer yields (drop_superseded)
        self._superseded_present: list[str] = []  # the items of their shards, which may hold their captions
        self.files_written: list[Path] = []
        self.rows_written = 0
        self._real_paths: dict[str, str] = {}  # stored (escaped) form -> real non-UTF-8 path
        self._wanted: set[str] = set()
        self._resolve = PathResolver()
        self._index: ResumeIndex | None = None
        """What the folder holds, read at the first `resume_state` of the run."""
        self._lock = threading.RLock()  # the buffer and the numbering: shared with the flush timer
        self._timer: Periodic | None = None
        self._kept_types = KeptTypes()  # the kept columns' Arrow types, written before their rows

    # -- format hooks ----------------------------------------------------------
    @abstractmethod
    def write_file(self, path: Path, rows: list[Row]) -> None:
        """Write `rows` (schema order) to the new file `path`."""

    @abstractmethod
    def read_file(self, path: Path) -> list[Row]:
        """All rows of one completed shard."""

    @contextmanager
    def claimed(self) -> Iterator[None]:
        """The folder's lock for this run's label (`lock.py`: also refused when the folder takes no
        new file, before the model loads), created with the folder; a folder
        this run made and left holding only its lock (a run that stopped before its first row:
        no inputs, a typo) is removed again."""
        created = not self.folder.exists()
        self._prepare_folder()
        try:
            with FolderLock(self.folder, label=self.config.label):
                yield
        finally:
            if created:
                remove_if_only_locks(self.folder)

    # -- resume ----------------------------------------------------------------
    def owns(self, path: Path) -> bool:
        """May this run rewrite `path`? Its own label's shards; an unsharded run owns all."""
        parsed = parse_shard_name(path.name)
        return parsed is not None and (not self.config.label or parsed[0] == self.config.label)

    def identity(self, stored: str) -> str:
        """The resolved path a stored `path` names (rows of older versions stored it as typed:
        relative ones are taken relative to the current folder)."""
        if stored in self._wanted:
            return stored
        resolved = self._resolve(stored)
        return self._real_paths.get(resolved, resolved)

    def resume_state(
        self,
        *,
        paths: Sequence[str],
        config_hashes: frozenset[str],
        folders: Sequence[str] = (),
        read_fully: Sequence[str] = (),
    ) -> ResumeState:
        """What is done for `paths` (resolved paths, as `discover` gives them). The folder's
        shards are read once per run (`resume_index.py`); each call costs O(len(paths)), plus
        once per run the stored rows under `folders` (the error rows of deleted inputs) and
        the stored items of the `read_fully` shards (`Sink.resume_state`)."""
        self._check_folder()
        self._wanted = set(paths)
        # rows of shards older than `path_bytes` hold a non-UTF-8 name in its escaped form; a file
        # really named so (`caf\xe9.jpg`, with a backslash) is itself, never that other file
        self._real_paths = {text: p for p in paths if (text := utf8_text(p)) != p and text not in self._wanted}
        index = self._resume_index(config_hashes)
        answer = index.state(paths, owns=self.owns)
        self._error_files, self._stale = answer.error_files, answer.stale
        roots, read = [os.path.realpath(f) for f in folders], [self._resolve(source) for source in read_fully]
        gone = index.gone_errors(present=paths, folders=roots, shards=read, owns=self.owns)
        for shard, indices in gone.rows.items():
            answer.state.gone += len(indices)  # each found once in a run (`gone_errors`)
            self._gone.setdefault(shard, set()).update(indices)
        for shard, indices in gone.readable.items():  # folders listed now that could not be before
            answer.state.readable += len(indices)
            self._gone.setdefault(shard, set()).update(indices)
        superseded = index.superseded(present=paths, shards=read, owns=self.owns)
        if superseded - self._superseded:
            self._superseded |= superseded
            self._superseded_present += paths
        return answer.state

    def _resume_index(self, config_hashes: frozenset[str]) -> ResumeIndex:
        if self._index is None or self._index.config_hashes != config_hashes:
            index = ResumeIndex(config_hashes=config_hashes, identity=self._resolve)
            for shard in shard_files(self.folder, self.extension):
                index.add_shard(shard, self._read(shard))
            with self._lock:
                index.record(self._buffer)
            self._index = index
        return self._index

    def retire(self, pairs: set[tuple[str, str]]) -> None:
        """Remove the error rows of `pairs` (this run redoes them), and the leftover rows and
        error rows of gone items found by `resume_state`, from this run's own shards."""
        files = {f for pair in pairs for f in self._error_files.get(pair, ())} | set(self._stale) | set(self._gone)
        files = {f for f in files if self.owns(f)}
        if files:
            self._prepare_folder()
        for shard in sorted(files):
            rows = self._read(shard)
            stale = self._stale.get(shard, set()) | self._gone.pop(shard, set())
            keep = [
                r
                for index, r in enumerate(rows)
                if index not in stale
                and not (r["status"] == Status.ERROR.value and (self.identity(r["path"]), r["config_hash"]) in pairs)
            ]
            if len(keep) != len(rows):
                self._rewrite(shard, keep)

    def drop_superseded(self) -> int:
        """Publish the buffered rows, then drop the ok rows of keys a dataset shard no longer
        yields (found by `resume_state`) whose content and settings now have an ok row under a
        key it yields (`ResumeIndex.covered`): written, so no caption is lost even if the run
        is killed here. How many rows went."""
        if not self._superseded or self._index is None:
            return 0
        self.flush()
        drop = self._index.covered(self._superseded, present=self._superseded_present)
        self._superseded, self._superseded_present = set(), []
        wanted = {(c.ident, c.key, c.config_hash) for c in drop}
        dropped = 0
        for shard in sorted({c.shard for c in drop}):
            if not shard.exists():
                continue
            rows = self._read(shard)
            keep = [
                r
                for r in rows
                if not (r["status"] == Status.OK.value and (self._resolve(r["path"]), r["key"], r["config_hash"]) in wanted)
            ]
            if len(keep) != len(rows):
                self._prepare_folder()
                self._rewrite(shard, keep)
                dropped += len(rows) - len(keep)
        return dropped

    def would_supersede(self, written: Sequence[Row]) -> int:
        """How many ok rows `drop_superseded` would drop were `written` (a plan's rows: its
        copies) written: what a dry run says. Changes nothing, on disk or in the index."""
        if not self._superseded or self._index is None:
            return 0
        with self._lock:
            written = [*self._buffer, *written]
        drop = self._index.covered(self._superseded, present=self._superseded_present, written=written)
        return self._index.stored_rows(drop)

    def _rewrite(self, shard: Path, keep: list[Row]) -> None:
        """`shard` now holds `keep` (none: it is removed), replaced atomically; the index follows."""
        try:
            if not keep:
                shard.unlink()
            else:
                temp = self._temp_path(shard.name)
                self._write_synced(temp, keep)
                os.replace(temp, shard)
            _fsync_dir(self.folder)
        except OSError as exc:
            raise OutputError(f"Cannot rewrite {shard}: {exc.strerror or exc}.") from None
        if self._index is not None:  # its rows moved: the index follows
            self._index.replace_shard(shard, keep)

    # -- writing ---------------------------------------------------------------
    def write(self, rows: Sequence[Row]) -> None:
        self._raise_timer_error()
        checked = [check_row(r) for r in rows]
        with self._lock:
            if self._index is not None:
                self._index.record(checked)
            self._buffer.extend(checked)
            size = self.config.rows_per_file
            while len(self._buffer) >= size:
                chunk, self._buffer = self._buffer[:size], self._buffer[size:]
                self._publish_rows(chunk)
            self._flush_if_due()
        if self._timer is None:
            self._timer = Periodic(self._tick_seconds(), self._flush_if_due, name="vlm-shard-flush").start()

    def flush(self) -> None:
        self._raise_timer_error()
        with self._lock:
            if self._buffer:
                chunk, self._buffer = self._buffer, []
                self._publish_rows(chunk)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self.flush()

    def _flush_if_due(self) -> None:
        with self._lock:
            if self._buffer and time.monotonic() - self._last_flush >= self.config.flush_seconds:
                self.flush()

    def _tick_seconds(self) -> float:
        """How often the timer looks: often enough to publish close to `flush_seconds` after the last shard."""
        return min(max(self.config.flush_seconds / 4, 0.01), 5.0)

    def _raise_timer_error(self) -> None:
        """A flush that failed on the timer thread (disk full) stops the run here, on the caller's thread."""
        if self._timer is not None and self._timer.error is not None:
            error, self._timer.error = self._timer.error, None
            raise error

    def note_datasets(self, readings: "Mapping[str, ShardReading]") -> None:
        from vlmcli.inputs.readings import NOTES_NAME, write_notes

        self._kept_types.note_formats(readings)
        try:
            write_notes(self.folder, readings, temp=self._temp_path(NOTES_NAME.lstrip(".")))
        except OSError as exc:
            raise OutputError(f"Cannot write {self.folder / NOTES_NAME}: {exc.strerror or exc}.") from None

    def describe(self) -> str:
        return str(self.folder)

    # -- internals -------------------------------------------------------------
    def _read(self, shard: Path) -> list[Row]:
        try:
            rows = self.read_file(shard)
            for row in rows:
                row["path"] = self._real_paths.get(row["path"], row["path"])
            return rows
        except Exception as exc:  # noqa: BLE001 - any reader failure means the same thing here
            raise OutputError(
                f"Cannot read existing shard {shard} ({type(exc).__name__}: {exc}); "
                "move it out of the output folder and rerun."
            ) from None

    def _check_folder(self) -> None:
        if self.folder.exists() and not self.folder.is_dir():
            raise OutputError(f"--output {self.folder} exists and is not a folder.")
        wanted = FILE_SUFFIXES.get(self.folder.suffix.lower())
        if not self.folder.exists() and wanted is not None and wanted != self.extension:
            raise ConfigError(self._file_named(wanted))
        other = next((ext for ext in SHARD_FORMATS if ext != self.extension and shard_files(self.folder, ext)), None)
        if other is not None:  # resume reads one format: the rows done in the other would be redone
            raise ConfigError(
                f"--output {self.folder} holds {other} shards of an earlier run, and this run writes {self.extension}: "
                f"pass --format {other} to resume it, or write to another folder (vlm export converts a run)."
            )

    def _file_named(self, wanted: str) -> str:
        """`-o caps.jsonl` without --format jsonl: a folder of that name would be made, Parquet
        shards inside it (`-o out.parquet` with Parquet is a folder of Parquet shards, as Spark
        names them)."""
        fix = f"-o {shlex.quote(str(self.folder.with_suffix('')))}"
        if wanted == "txt":
            fix = f"--format txt without -o (caption files beside the images), or {fix}"
        elif wanted:
            fix = f"--format {wanted}, or {fix}"
        shards = f"{self.folder.name}/part-00000.{self.extension}, ..."
        return (
            f"--output {self.folder} is a folder of {self.extension} shards ({shards}), "
            f"not a {self.folder.suffix} file: pass {fix}."
        )

    def _prepare_folder(self) -> None:
        """Create the folder, and remove temp files of killed runs on this host."""
        self._check_folder()
        make_folder(self.folder)  # one wording for every -o that cannot be made (`output_files`)
        host = _host()
        for entry in self.folder.iterdir():
            match = _TEMP.match(entry.name)
            if match and match["host"] == host and int(match["pid"]) != os.getpid() and not _alive(int(match["pid"])):
                try:
                    entry.unlink(missing_ok=True)
                except OSError:  # a read-only folder: taking the lock refuses it in one line (`lock.py`)
                    pass

    def _temp_path(self, name: str) -> Path:
        return self.folder / f".{name}.{_host()}.{os.getpid()}.tmp"

    def _write_synced(self, temp: Path, rows: list[Row]) -> None:
        self.write_file(temp, [storable(row) for row in rows])
        with open(temp, "rb+") as handle:
            os.fsync(handle.fileno())

    def _publish_rows(self, rows: list[Row]) -> None:
        if self._next_number is None:
            self._prepare_folder()
            mine = [parse_shard_name(p.name) for p in shard_files(self.folder, self.extension)]
            numbers = [n for label, n, _ in (m for m in mine if m) if label == self.config.label]
            self._next_number = max(numbers, default=-1) + 1
        name = shard_name(label=self.config.label, number=self._next_number, extension=self.extension)
        temp = self._temp_path(name)
        try:
            self._kept_types.record(rows, self.folder, label=self.config.label, temp=self._temp_path)  # before the rows
            self._write_synced(temp, rows)
            while not _publish(temp, self.folder / name):
                self._next_number += 1  # another process took this number: take the next one
                name = shard_name(label=self.config.label, number=self._next_number, extension=self.extension)
            _fsync_dir(self.folder)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise OutputError(f"Cannot write {self.folder / name}: {exc.strerror or exc}.") from None
        self._next_number += 1
        self._last_flush = time.monotonic()
        self.files_written.append(self.folder / name)
        self.rows_written += len(rows)

