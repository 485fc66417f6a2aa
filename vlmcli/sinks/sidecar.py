"""`.txt` caption files beside each image (`photo.jpg` -> `photo.txt`), the layout
training tools read.

These are the one output written next to the inputs instead of into an output folder, by
definition: wherever the image is, `--files-from` paths included. They are still never
written over an image: an image whose caption file would be itself (an image named
`x.txt`), or two images that share one caption file (`a.jpg` and `a.png`), become error
rows. Existing caption files are refused unless `--overwrite` or `--skip-existing` (which
is this format's resume: an image with a caption file is skipped). Each file is written
to a hidden temp file and renamed, so it is whole or absent. Error rows are not written
(a `.txt` must hold a caption); the pipeline reports them on stderr.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from vlmcli.errors import ConfigError, OutputError
from vlmcli.sinks.base import ExistingPolicy, OutputFormat, ResumeState, Sink, SinkConfig
from vlmcli.sinks.schema import Row, Status, check_row


def sidecar_path(image_path: str) -> Path:
    """The caption file for an image: same folder and stem, `.txt` suffix."""
    path = Path(image_path)
    return path.with_suffix(".txt") if path.suffix else path.with_name(path.name + ".txt")


class SidecarSink(Sink):
    format = OutputFormat.TXT

    def __init__(self, config: SinkConfig) -> None:
        super().__init__(config)
        if config.output is not None:
            raise ConfigError("--format txt writes each caption beside its image; drop --output.")
        self.files_written = 0

    def preflight(self, paths: Sequence[str]) -> dict[str, str]:
        owner: dict[Path, str] = {}
        bad: dict[str, str] = {}
        for path in paths:
            target = sidecar_path(path)
            if os.path.normpath(target) == os.path.normpath(path):
                bad[path] = f"its caption file {target} would replace the image itself; rename the image."
            elif target in owner and owner[target] != path:
                bad[path] = f"its caption file {target} is also the caption file of {owner[target]}."
            else:
                owner.setdefault(target, path)
        return bad

    def resume_state(self, *, paths: Sequence[str], config_hashes: frozenset[str]) -> ResumeState:
        bad = self.preflight(paths)
        existing = [p for p in paths if p not in bad and sidecar_path(p).exists()]
        policy = self.config.existing
        if existing and policy is ExistingPolicy.REFUSE:
            raise OutputError(
                f"{len(existing)} caption file(s) already exist (e.g. {sidecar_path(existing[0])}); "
                "pass --skip-existing to keep them and caption the rest, or --overwrite to replace them."
            )
        return ResumeState(done_paths=set(existing) if policy is ExistingPolicy.SKIP else set())

    def write(self, rows: Sequence[Row]) -> None:
        for row in rows:
            check_row(row)
            if row["status"] == Status.OK.value:
                self._write_caption(sidecar_path(row["path"]), row["caption"] or "")

    def describe(self) -> str:
        return "caption files beside the images"

    def _write_caption(self, target: Path, caption: str) -> None:
        temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            temp.write_text(caption + "\n", encoding="utf-8")
            os.replace(temp, target)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise OutputError(f"Cannot write {target}: {exc.strerror or exc}.") from None
        self.files_written += 1
