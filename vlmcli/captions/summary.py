"""What a caption run did: counts, rates, first errors; printed on stderr or as JSON.

    Done: 40 ok, 2 errors, 5000 skipped as already done (38 copied from earlier rows) in 61.0 s
    (model load 3.2 s, captioning 57.1 s); 2 captioned at 0.04 images/s while captioning

`ok` and `error` count the rows this run wrote; `skipped` the items earlier runs finished.
The rate counts only the captions the model made in this run (`captioned`, named when it
is not `ok`: here 2, the other 38 ok rows were copied), over the captioning time printed
beside it (after the model loaded, not the run's whole time): rows copied from earlier
results (same file content at a new path) and error rows (a corrupt file fails in a
millisecond) cost nearly nothing and would make a rerun that redoes nothing report
thousands of images/s. With nothing captioned no rate is printed.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence, Sized
from dataclasses import dataclass, field
from typing import Any

from vlmcli.sinks.schema import Row, Status

MAX_ERRORS_KEPT = 20
FIRST_FRAME_NOTE = "An animation: only its first frame was read, as a picture (--videos reads the motion)."
"""The `notes` of an animated GIF/WebP/APNG captioned without --videos: counted among the
animations of the summary, not warned about one by one (`warns`)."""


def warns(notes: str | None) -> bool:
    """Whether a row's `notes` are worth a warning line and the summary's count (a reading
    problem, as damaged frames), not what the summary already counts."""
    return bool(notes) and notes != FIRST_FRAME_NOTE


@dataclass
class Summary:
    files: int = 0
    """Image files considered (after discovery; non-images found by walking are `ignored`)."""
    ignored: int = 0
    videos_skipped: int = 0
    """Videos found by walking folders and skipped (no --videos)."""
    documents_skipped: int = 0
    """PDFs found by walking folders of pictures and skipped (`--input-format pdf` reads their pages)."""
    animations_as_pictures: int = 0
    """Animated GIF/WebP/APNG captioned by their first frame (no --videos)."""
    prompts: int = 1
    unit: str = "images"
    """What the rate counts (`rate_unit`): "images", "videos" (clips only) or "items" (both)."""
    ok: int = 0
    error: int = 0
    skipped: int = 0
    """(image, prompt) items already done by earlier runs."""
    captioned: int = 0
    """Captions (ok rows) the model made in this run (duplicates of a file captioned here included)."""
    copied: int = 0
    """Rows copied from earlier runs' results (same content at a new path): no model call."""
    kept_failed: int = 0
    """Items with error rows in other jobs' shards (not retried here)."""
    out_of_shard: int = 0
    undownloaded: int = 0
    """Dataset items img2dataset could not download (its `status` column): no rows, not a failure."""
    left_out: int = 0
    """Pictures and clips of WebDataset tar keys left out beside each key's captioned field (a
    key with a photo, its mask and a `.json` is one sample: `ShardItem.left_out`), as the dry
    run's `dataset` counts them; each shard's are said in one warning line as it is read."""
    gone_errors: int = 0
    """Error rows of inputs no longer there (a file deleted after it failed, a key its dataset
    shard no longer yields) dropped from this run's own shards (`ResumeState.gone`)."""
    superseded_rows: int = 0
    """Ok rows of keys a dataset shard no longer yields, dropped from this run's own shards
    because the same picture and settings have a row under the key it yields now (`Sink.drop_superseded`)."""
    readable_folder_errors: int = 0
    """Error rows of subfolders that could not be read before ("Cannot read folder ...") and are
    read now (their files among the inputs), dropped from this run's own shards (`ResumeState.readable`)."""
    todo: int = 0
    """Rows this run set out to write."""
    output: str = ""
    unwritten: str = ""
    """Why the output folder is not there (a `--shard` job with nothing in its shard): the
    text says "Output: none written (why)" and `--json` "output" is null; empty when it is."""
    load_s: float = 0.0
    batches: int = 0
    """Engine calls planned (after the --batch-size and --max-batch-tokens caps)."""
    largest_batch: int = 0
    batched: int = 0
    """Items in those calls."""
    batching: str = ""
    """How the model's work was batched ("continuous batching, 8 slots" or "static batching (why)");
    empty when the model did not run."""
    interrupted: bool = False
    shards: int = 0
    """Dataset shards read (0 for plain files and folders)."""
    shard_errors: list[str] = field(default_factory=list)
    """Shards that could not be read to the end (items read before the damage have rows)."""
    symlinked_folders: list[str] = field(default_factory=list)
    """Symlinked subfolders met while walking the input folders (as spelled), not followed."""
    errors: list[tuple[str, str]] = field(default_factory=list)
    """The first MAX_ERRORS_KEPT (path, message) pairs."""
    noted: list[tuple[str, str]] = field(default_factory=list)
    """The first MAX_ERRORS_KEPT (path, notes) of files captioned with reading notes (a video
    read around damaged frames: the rows' `notes`), each file once."""
    started: float = field(default_factory=time.monotonic)
    caption_started: float | None = None
    finished: float | None = None
    _noted_paths: set[str] = field(default_factory=set, repr=False)

    def add(self, rows: list[Row], *, captioned: bool = True) -> None:
        """Count written rows; `captioned` False for rows made without the model."""
        for row in rows:
            if row["status"] == Status.OK.value:
                self.ok += 1
                self.captioned += 1 if captioned else 0
                if warns(row.get("notes")) and row["path"] not in self._noted_paths:
                    self._noted_paths.add(row["path"])
                    if len(self.noted) < MAX_ERRORS_KEPT:
                        self.noted.append((row["path"], row["notes"]))
            else:
                self.error += 1
                if len(self.errors) < MAX_ERRORS_KEPT:
                    self.errors.append((row["path"], row["error"]))

    def unwalked(self, shards: Any) -> list[str]:
        """Record what walking a dataset run's shard folders did not reach (`inputs.expand.DatasetShards`):
        subfolders that could not be listed, as shards not read (exit 9, as a plain folder's
        error row), and the symlinked ones not followed; returns the lines for stderr."""
        unreadable, linked = list(getattr(shards, "unreadable", ())), list(getattr(shards, "linked", ()))
        self.shard_errors += unreadable
        self.symlinked_folders += linked
        notes = shards.notes() if linked else []
        return [*notes, *(f"Error: {message}" for message in unreadable)]

    def planned(self, batches: Sequence[Sized]) -> None:
        """Record the batches the planner chose (out-of-memory halving may split them further)."""
        sizes = [len(b) for b in batches]  # added up: a dataset run plans shard by shard
        self.batches += len(sizes)
        self.largest_batch = max(self.largest_batch, *sizes, 0)
        self.batched += sum(sizes)

    @property
    def noted_files(self) -> int:
        """Files captioned with reading notes worth a warning (`warns`), each once."""
        return len(self._noted_paths)

    @property
    def failed(self) -> bool:
        """Something was not captioned: error rows, or a shard that could not be read to the end."""
        return bool(self.error or self.shard_errors)

    @property
    def mean_batch(self) -> float:
        return self.batched / self.batches if self.batches else 0.0

    def begin_captioning(self) -> None:
        self.caption_started = time.monotonic()

    def finish(self) -> None:
        self.finished = time.monotonic()

    @property
    def elapsed_s(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    @property
    def captioning_s(self) -> float:
        """Seconds from the start of captioning (after the model loaded) to the end: what the
        rate divides by."""
        if self.caption_started is None:
            return 0.0
        return max(0.0, (self.finished or time.monotonic()) - self.caption_started)

    @property
    def items_per_s(self) -> float:
        """(image, prompt) rows the model made per second while captioning (model load excluded)."""
        seconds = self.captioning_s
        if not self.captioned or seconds <= 0:
            return 0.0
        return self.captioned / seconds

    @property
    def images_per_s(self) -> float:
        return self.items_per_s / max(self.prompts, 1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "error": self.error,
            "skipped": self.skipped,
            "captioned": self.captioned,
            "copied": self.copied,
            "kept_failed": self.kept_failed,
            "files": self.files,
            "ignored": self.ignored,
            "videos_skipped": self.videos_skipped,
            "documents_skipped": self.documents_skipped,
            "animations_as_pictures": self.animations_as_pictures,
            "out_of_shard": self.out_of_shard,
            "undownloaded": self.undownloaded,
            "left_out": self.left_out,
            "gone_errors": self.gone_errors,
            "superseded_rows": self.superseded_rows,
            "readable_folder_errors": self.readable_folder_errors,
            "prompts": self.prompts,
            "todo": self.todo,
            "elapsed_s": round(self.elapsed_s, 3),
            "load_s": round(self.load_s, 3),
            "captioning_s": round(self.captioning_s, 3),
            "batches": self.batches,
            "mean_batch": round(self.mean_batch, 2),
            "largest_batch": self.largest_batch,
            "batching": self.batching,
            "items_per_s": round(self.items_per_s, 3),
            "images_per_s": round(self.images_per_s, 3),
            "rate_unit": self.unit,
            "interrupted": self.interrupted,
            "shards": self.shards,
            "shard_errors": self.shard_errors,
            "symlinked_folders": self.symlinked_folders,
            "output": None if self.unwritten else self.output,
            "errors": [{"path": p, "error": e} for p, e in self.errors],
            "noted_files": self.noted_files,
            "notes": [{"path": p, "notes": n} for p, n in self.noted],
        }

    def text(self) -> str:
        head = "Interrupted" if self.interrupted else "Done"
        skipped = f"{self.skipped} skipped" + (" as already done" if self.skipped else "")
        parts = [f"{self.ok} ok", f"{self.error} error{'s' if self.error != 1 else ''}", skipped]
        if self.kept_failed:
            parts.append(f"{self.kept_failed} failed earlier in other shards")
        line = f"{head}: {', '.join(parts)}"
        if self.copied:
            line += f" ({self.copied} copied from earlier rows)"
        line += f" in {_seconds(self.elapsed_s)}"  # as precise as the captioning time beside it
        if self.captioned:
            line += self._rate()
        notes = []
        if self.ignored:
            notes.append(f"ignored {self.ignored} non-image file{'s' if self.ignored != 1 else ''}")
        if self.videos_skipped:
            notes.append(f"skipped {self.videos_skipped} video{'s' if self.videos_skipped != 1 else ''} (add --videos)")
        if self.documents_skipped:
            notes.append(documents_note(self.documents_skipped))
        if self.animations_as_pictures:
            notes.append(animations_note(self.animations_as_pictures))
        if self.out_of_shard:
            notes.append(f"{self.out_of_shard} files belong to other shards")
        if self.undownloaded:
            notes.append(undownloaded_note(self.undownloaded))
        if self.left_out:
            notes.append(left_out_note(self.left_out))
        if self.shards:
            notes.append(f"{self.shards} dataset shard{'s' if self.shards != 1 else ''} read")
        if self.shard_errors:
            notes.append(f"{len(self.shard_errors)} could not be read to the end")
        if self.noted_files:
            notes.append(f"{self.noted_files} file{'s' if self.noted_files != 1 else ''} read with notes (the notes column)")
        if self.batching and self.captioned:
            notes.append(self.batching)
        if notes:
            line += f" ({'; '.join(notes)})"
        if self.unwritten:
            return line + f". Output: none written ({self.unwritten})."
        return line + (f". Output: {self.output}" if self.output else ".")


    def _rate(self) -> str:
        """The times the run's wall time holds and the rate over the captioning one (the
        rate's count named when it is not `ok`: copied rows are not the model's)."""
        spent = [f"model load {_seconds(self.load_s)}"] if self.load_s > 0 else []
        spent.append(f"captioning {_seconds(self.captioning_s)}")
        counted = f"{self.captioned} captioned at " if self.captioned != self.ok else ""
        text = f" ({', '.join(spent)}); {counted}{self.images_per_s:.2f} {self.unit}/s"
        if self.prompts > 1:
            text += f" ({self.items_per_s:.2f} {self.unit[:-1]}-prompt pairs/s)"
        return text + " while captioning"


def rate_unit(kinds: Iterable[str]) -> str:
    """What a run's rate counts, from the kinds ("image", "video") of the items it captions:
    "images", "videos" when all are clips, "items" when both are there."""
    found = {f"{kind}s" for kind in kinds}
    return found.pop() if len(found) == 1 else ("items" if found else "images")


def naming_the_file(path: str, message: str) -> str:
    """`message` about the file at `path`, naming it once: most messages start with it, a
    video's may name it later ("Could not open <path>: it was cut short ..."). One line a
    terminal shows as text: the name as `display_name` writes it (as the messages hold it),
    and no control character of the message left raw."""
    from vlmcli.media.names import display_name

    name, message = display_name(path), display_name(message)
    return message if name in message else f"{name}: {message}"


def _seconds(value: float) -> str:
    """Seconds as the summary line prints them: two decimals under 10 s, so the rate can be
    checked against them and the captioning time never reads longer than the run."""
    return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"


def documents_note(count: int) -> str:
    """What the summary and the dry run say of PDFs found among pictures."""
    return f"skipped {count} PDF{'s' if count != 1 else ''} (--input-format pdf captions their pages)"


def undownloaded_note(count: int) -> str:
    """What the summary and the dry run say of the items img2dataset could not download."""
    return (
        f"{count} item{'s' if count != 1 else ''} img2dataset could not download "
        "(skipped; see the shard's status/error_message)"
    )


def left_out_note(count: int) -> str:
    """What the summary says of the pictures and clips left out beside their tar keys' captioned ones."""
    if count == 1:
        return "1 picture or clip left out beside its WebDataset key's captioned field (--image-column names the field)"
    return f"{count} pictures or clips left out beside their WebDataset keys' captioned field (--image-column names the field)"


def gone_note(count: int, *, dry_run: bool = False) -> str:
    """The one stderr line of a run (or dry run) that dropped (would drop) error rows of
    inputs no longer there (`Summary.gone_errors`)."""
    rows = f"{count} error row{'s' if count != 1 else ''} of inputs no longer there"
    if dry_run:
        return f"note: {rows} would be dropped from the output by a run (a dry run changes nothing)"
    return f"note: {rows} {'were' if count != 1 else 'was'} dropped from the output"


def superseded_note(count: int) -> str:
    """The one stderr line of a run that dropped ok rows of old dataset keys (`Summary.superseded_rows`)."""
    rows = f"{count} row{'s' if count != 1 else ''} of keys the shard no longer uses"
    return f"note: {rows} {'were' if count != 1 else 'was'} replaced by rows under its new keys"


def animations_note(count: int) -> str:
    """What the summary and the dry run say of animations read as pictures."""
    return f"{count} animation{'s' if count != 1 else ''} read by the first frame: --videos reads the motion"
