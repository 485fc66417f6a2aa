"""The one interface every caption sink implements, and its settings.

A sink receives finished rows (`vlmcli.sinks.schema`) and makes them durable. It also
answers, before a run starts, what is already done (`resume_state`), so a rerun skips it.
Sinks are picked by `OutputFormat` in `vlmcli.sinks.registry`.

Life cycle, as the caption pipeline drives it:

    sink = make_sink(OutputFormat.PARQUET, SinkConfig(output=Path("out")))
    bad = sink.preflight(paths)                       # {path: why no output can be written}
    state = sink.resume_state(paths=paths, config_hashes=hashes, folders=input_folders)
    sink.retire(state_pairs_to_retry)                 # drop old error rows that will be redone
                                                      # (and those of state.gone, state.readable)
    with sink:
        sink.write(rows)                              # buffered; durable after flush()/close()
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from vlmcli.errors import ConfigError
from vlmcli.sinks.schema import Row, RowId

if TYPE_CHECKING:
    from vlmcli.inputs.readings import ShardReading


class OutputFormat(str, enum.Enum):
    PARQUET = "parquet"
    """A folder of numbered Parquet shards with the fixed schema (the default)."""
    JSONL = "jsonl"
    """The same rows as JSON lines, one numbered file per shard."""
    TXT = "txt"
    """A `.txt` caption file beside each image (ok rows only; errors go to stderr)."""


class ExistingPolicy(str, enum.Enum):
    """What a sidecar sink does with caption files that already exist."""

    REFUSE = "refuse"
    """Stop before loading the model and say which flag to add."""
    OVERWRITE = "overwrite"
    SKIP = "skip"
    """Keep them, and skip those images (the txt format's resume)."""


class TxtName(str, enum.Enum):
    """How `--format txt` names an image's caption file (`--txt-name`)."""

    STEM = "stem"
    """`photo.jpg` -> `photo.txt` (what training tools read); images sharing a stem clash."""
    FILENAME = "filename"
    """`photo.jpg` -> `photo.jpg.txt`: one caption file per image name, never a clash."""


@dataclass(frozen=True)
class SinkConfig:
    output: Path | None = None
    """Output folder (parquet, jsonl); must be None for txt, which writes beside each image."""
    rows_per_file: int = 1000
    """Rows per shard file. Smaller shards lose less work to a crash, but make more files."""
    flush_seconds: float = 120.0
    """Also publish a (smaller) shard when this long has passed since the last one."""
    label: str = ""
    """Prefix of this run's shard names (e.g. `s2of8` under --shard 2/8), so job arrays never collide."""
    existing: ExistingPolicy = ExistingPolicy.REFUSE
    txt_name: TxtName = TxtName.STEM
    """txt only: caption file names (`TxtName`)."""

    def __post_init__(self) -> None:
        if self.rows_per_file < 1:
            raise ConfigError(f"rows per file must be at least 1, not {self.rows_per_file}.")
        if self.flush_seconds <= 0:
            raise ConfigError(f"flush_seconds must be > 0, not {self.flush_seconds}.")
        if self.label and not self.label.replace("-", "").isalnum():
            raise ConfigError(f"shard label must be letters, digits and '-', not {self.label!r}.")
        object.__setattr__(self, "existing", ExistingPolicy(self.existing))
        object.__setattr__(self, "txt_name", TxtName(self.txt_name))


@dataclass
class ResumeState:
    """What earlier runs already wrote, as far as this run cares (its config hashes)."""

    done: set[RowId] = field(default_factory=set)
    """Identities with an ok row: skipped."""
    done_paths: set[str] = field(default_factory=set)
    """Paths done regardless of content and settings (txt sidecars that exist, under --skip-existing)."""
    reusable: dict[tuple[str, str], Row] = field(default_factory=dict)
    """(key, config_hash) -> one ok row: a new path with the same content gets a copy of it."""
    failed: dict[tuple[str, str], bool] = field(default_factory=dict)
    """(path, config_hash) with an error row -> True when this run may retire (rewrite) it."""
    gone: int = 0
    """Error rows of items no longer among the inputs (a deleted file, a key a dataset shard no
    longer yields) in this run's own shards, found by this question and not an earlier one of
    the run: `retire` drops them (a dry run only counts them). Their ok rows stay."""
    readable: int = 0
    """Error rows of subfolders walking could not list before ("Cannot read folder ...") that
    it lists now (their files are among the inputs), in this run's own shards, found by this
    question: `retire` drops them as it drops `gone` (a dry run only counts them)."""

    def is_done(self, rid: RowId) -> bool:
        return rid in self.done or rid.path in self.done_paths


class Sink(ABC):
    """Where finished rows go. Subclasses: one file each (parquet.py, jsonl.py, sidecar.py)."""

    format: ClassVar[OutputFormat]

    def __init__(self, config: SinkConfig) -> None:
        self.config = config

    @contextmanager
    def claimed(self) -> Iterator[None]:
        """Hold the output for the length of a run (`shards.py`: a lock per folder and
        `--shard` label; a second writer is refused with an `OutputError`). Nothing here."""
        yield

    def preflight(self, paths: Sequence[str]) -> dict[str, str]:
        """Paths this sink cannot write an output for, with a one-line reason (they become error rows)."""
        return {}

    @abstractmethod
    def resume_state(
        self,
        *,
        paths: Sequence[str],
        config_hashes: frozenset[str],
        folders: Sequence[str] = (),
        read_fully: Sequence[str] = (),
    ) -> ResumeState:
        """What is already done for these input paths and settings. May raise OutputError.

        `folders`: the run's input folders; `read_fully`: dataset shards (their `source`) read
        to their end, every item of which is among `paths`. With them, error rows of items no
        longer there are found (`ResumeState.gone`): under `folders`, those of paths neither
        asked about nor on disk; of a `read_fully` shard, its keys not asked about. A dataset
        run asking once per shard passes each shard as it is read (never a damaged one)."""

    def retire(self, pairs: set[tuple[str, str]]) -> None:
        """Remove old error rows for these (path, config_hash) pairs: this run redoes them;
        and the leftovers and error rows of gone items `resume_state` found."""

    def drop_superseded(self) -> int:
        """Drop the ok rows of keys a dataset shard read to its end no longer yields whose
        content and settings have an ok row under a key it yields now (published first): how
        many went. Nothing here (outputs without shards)."""
        return 0

    def would_supersede(self, written: Sequence[Row]) -> int:
        """How many rows `drop_superseded` would drop once `written` (a plan's rows) were
        written, changing nothing: what a dry run says. Nothing here."""
        return 0

    def note_datasets(self, readings: "Mapping[str, ShardReading]") -> None:
        """Keep how each dataset shard is read (`inputs/readings.py`) where export and report
        find it; outputs without a folder keep nothing."""

    @abstractmethod
    def write(self, rows: Sequence[Row]) -> None:
        """Accept finished rows (buffered; durable after `flush`)."""

    def flush(self) -> None:
        """Make every row written so far durable."""

    def close(self) -> None:
        self.flush()

    @abstractmethod
    def describe(self) -> str:
        """Where the output goes, for the summary line."""

    def __enter__(self) -> "Sink":
        return self

    def __exit__(self, *exc: object) -> None:
        from vlmcli.interrupts import deferred_interrupts

        with deferred_interrupts():  # a second Ctrl-C must not cut the last flush in half
            self.close()
