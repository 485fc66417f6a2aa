"""What a caption run's inputs are, counted before it runs (for `--dry-run`), and why the
unreadable ones are unreadable.

The probe reads headers only, so a file it cannot read is counted "unreadable" with no
reason (a HEIC photo without the `heif` extra, a truncated PNG, a PDF named `.jpg`). For the
first few of them, the dry run asks the real decoder, whose one-line message is the error
row the real run would write: the user learns the fix without loading a model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vlmcli.captions.summary import naming_the_file
from vlmcli.errors import VlmError

if TYPE_CHECKING:
    from vlmcli.captions.probe import Probe

MAX_EXAMPLES = 5


@dataclass(frozen=True)
class InputCounts:
    """Every input file, counted once as what it is."""

    images: int = 0
    """Images whose header was read (they are captioned, unless their pixels turn out broken)."""
    unreadable: int = 0
    """Files that cannot be opened or whose header no decoder reads: error rows."""
    videos: int = 0
    """Videos to caption (--videos)."""
    videos_skipped: int = 0
    """Videos not captioned for lack of --videos (found in folders: skipped; named: error rows)."""
    ignored: int = 0
    """Other files found in folders (not images or videos)."""
    documents_skipped: int = 0
    """PDFs found in folders of pictures, skipped (`--input-format pdf` reads their pages)."""
    animations: int = 0
    """Animated pictures among `images`, read by their first frame (no --videos)."""

    @classmethod
    def of(
        cls, probes: Sequence["Probe"], *, videos_on: bool, walked_videos_skipped: int, ignored: int, documents_skipped: int = 0
    ) -> "InputCounts":
        counts: dict[str, int] = {"images": 0, "unreadable": 0, "videos": 0, "videos_skipped": walked_videos_skipped}
        for probe in probes:
            if probe.kind == "video" and not videos_on:
                counts["videos_skipped"] += 1
            elif is_unreadable(probe, videos_on=videos_on):
                counts["unreadable"] += 1
            else:
                counts["videos" if probe.kind == "video" else "images"] += 1
        return cls(**counts, ignored=ignored, documents_skipped=documents_skipped, animations=sum(p.animated for p in probes))

    def text(self) -> str:
        parts = [f"{self.images} image{'s' if self.images != 1 else ''}"]
        if self.videos:
            parts.append(f"{self.videos} video{'s' if self.videos != 1 else ''}")
        parts.append(f"{self.unreadable} unreadable")
        if self.videos_skipped:
            parts.append(f"{self.videos_skipped} video{'s' if self.videos_skipped != 1 else ''} skipped (add --videos)")
        if self.documents_skipped:
            from vlmcli.captions.summary import documents_note

            parts.append(documents_note(self.documents_skipped))
        parts.append(f"{self.ignored} other file{'s' if self.ignored != 1 else ''} ignored")
        if self.animations:
            from vlmcli.captions.summary import animations_note

            parts.append(animations_note(self.animations))
        return ", ".join(parts)



def is_unreadable(probe: "Probe", *, videos_on: bool) -> bool:
    """Whether `probe` will be an error row (a video without --videos is skipped, not unreadable)."""
    if probe.kind == "video" and not videos_on:
        return False
    return probe.error is not None or probe.key is None or probe.size is None


def unreadable_probes(probes: Sequence["Probe"], *, videos_on: bool, limit: int = MAX_EXAMPLES) -> list["Probe"]:
    """The first `limit` unreadable files (or dataset items), in input order."""
    return [p for p in probes if is_unreadable(p, videos_on=videos_on)][:limit]


def unreadable_examples(
    probes: Sequence["Probe"], *, videos_on: bool, limit: int = MAX_EXAMPLES, read: Callable[[str], bytes] | None = None
) -> list[tuple[str, str]]:
    """(path, why) for the first `limit` unreadable files, in input order; `read`: the bytes
    of a dataset item (its shard read again), for the decoder to say why."""
    chosen = unreadable_probes(probes, videos_on=videos_on, limit=limit)
    return [(p.path, p.error or _decoder_says(p, read)) for p in chosen]


def unreadable_lines(files: Sequence[dict[str, str]], *, total: int, label: str = "unreadable") -> list[str]:
    """The dry run's text lines for `files` ({"path", "error"}) out of `total` such files."""
    lines = [f"  {label}: {naming_the_file(f['path'], f['error'])}" for f in files]
    if files and total > len(files):
        lines.append(f"  ... and {total - len(files)} more {label}")
    return lines


def _decoder_says(probe: "Probe", read: Callable[[str], bytes] | None) -> str:
    from vlmcli.media import load_image
    from vlmcli.media.images import decode_image

    try:
        if read is None:
            load_image(probe.path)
        else:
            decode_image(read(probe.path), probe.path)
    except VlmError as err:
        return str(err)
    except (KeyError, OSError):  # the item is gone from its shard since it was probed
        return "it could not be read again from its shard"
    return "its header could not be read, though its pixels decode"
