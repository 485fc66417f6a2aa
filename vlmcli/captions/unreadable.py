"""Which files a caption run cannot read, and why, before it runs (for `--dry-run`).

The probe reads headers only, so a file it cannot read is counted "unreadable" with no
reason (a HEIC photo without the `heif` extra, a truncated PNG, a PDF named `.jpg`). For the
first few of them, the dry run asks the real decoder, whose one-line message is the error
row the real run would write: the user learns the fix without loading a model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from vlmcli.errors import VlmError

if TYPE_CHECKING:
    from vlmcli.captions.probe import Probe

MAX_EXAMPLES = 5


def is_unreadable(probe: "Probe", *, videos_on: bool) -> bool:
    """Whether `probe` will be an error row (a video without --videos is skipped, not unreadable)."""
    if probe.kind == "video" and not videos_on:
        return False
    return probe.error is not None or probe.key is None or probe.size is None


def unreadable_examples(
    probes: Sequence["Probe"], *, videos_on: bool, limit: int = MAX_EXAMPLES
) -> list[tuple[str, str]]:
    """(path, why) for the first `limit` unreadable files, in input order."""
    examples: list[tuple[str, str]] = []
    for probe in probes:
        if len(examples) >= limit:
            break
        if is_unreadable(probe, videos_on=videos_on):
            examples.append((probe.path, probe.error or _decoder_says(probe)))
    return examples


def unreadable_lines(files: Sequence[dict[str, str]], *, total: int) -> list[str]:
    """The dry run's text lines for `files` ({"path", "error"}) out of `total` unreadable."""
    lines = [f"  unreadable: {f['error'] if f['error'].startswith(f['path']) else f['path'] + ': ' + f['error']}" for f in files]
    if files and total > len(files):
        lines.append(f"  ... and {total - len(files)} more unreadable")
    return lines


def _decoder_says(probe: "Probe") -> str:
    from vlmcli.media import load_image

    try:
        load_image(probe.path)
    except VlmError as err:
        return str(err)
    return "its header could not be read, though its pixels decode"
