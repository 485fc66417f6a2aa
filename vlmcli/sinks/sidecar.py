"""`.txt` caption files beside each image, the layout training tools read.

Named by `--txt-name` (`TxtName`): `stem` (default) `photo.jpg` -> `photo.txt`, or
`filename` `photo.jpg` -> `photo.jpg.txt`, which never gives two images one file.

These are the one output written next to the inputs instead of into an output folder, by
definition: wherever the image is, `--files-from` paths included. They are still never
written over an input: an image whose caption file would be itself or another input file
(an image named `x.txt`) becomes an error row, and so does every image of a group that
would share one caption file under `stem` (`a.jpg` and `a.png`: neither is captioned, the
message names the other and `--txt-name filename`); so does an image whose caption file's
name would be longer than its file system allows (`photo.jpg.txt` of a 252-byte name). Existing caption files are refused unless `--overwrite` or `--skip-existing` (which
is this format's resume: an image with a caption file is skipped). Each file is written
to a hidden temp file and renamed, so it is whole or absent. Error rows are not written
(a `.txt` must hold a caption); the pipeline reports them on stderr. So a rerun has no
error rows of deleted images to drop, and a caption file whose image was deleted is
kept (as an ok row in shards: a caption outlives its file; it is no error to retry).
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from vlmcli.errors import ConfigError, OutputError
from vlmcli.sinks.base import ExistingPolicy, OutputFormat, ResumeState, Sink, SinkConfig, TxtName
from vlmcli.sinks.schema import Row, Status, check_row


def sidecar_path(image_path: str, naming: TxtName = TxtName.STEM) -> Path:
    """The caption file for an image, in its folder: `stem` -> `photo.txt`, `filename` -> `photo.jpg.txt`."""
    path = Path(image_path)
    if naming is TxtName.STEM and path.suffix:
        return path.with_suffix(".txt")
    return path.with_name(path.name + ".txt")


def _too_long(target: Path) -> str | None:
    """Why `target`'s name cannot be made in its folder ("N bytes, longer than ... (255)"), or None."""
    size, limit = len(os.fsencode(target.name)), _folder_name_max(str(target.parent))
    return f"{size} bytes, longer than this file system allows ({limit})" if size > limit else None


@functools.lru_cache(maxsize=256)
def _folder_name_max(folder: str) -> int:
    try:
        return int(os.pathconf(folder or ".", "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):  # no such folder yet, or no pathconf (Windows)
        return 255


def _same_file_name(path: str | Path) -> str:
    return os.path.normpath(os.path.abspath(path))


class SidecarSink(Sink):
    format = OutputFormat.TXT

    def __init__(self, config: SinkConfig) -> None:
        super().__init__(config)
        if config.output is not None:
            raise ConfigError("--format txt writes each caption beside its image; drop --output.")
        self.files_written = 0

    def target(self, image_path: str) -> Path:
        return sidecar_path(image_path, self.config.txt_name)

    def preflight(self, paths: Sequence[str]) -> dict[str, str]:
        """Images that get no caption file: it would be an input file, or shared (see module docstring)."""
        inputs = {_same_file_name(p): p for p in paths}
        sharing: dict[str, list[str]] = {}
        bad: dict[str, str] = {}
        for path in dict.fromkeys(paths):
            target = self.target(path)
            clash = inputs.get(_same_file_name(target))
            if (too_long := _too_long(target)) is not None:
                bad[path] = (
                    f"its caption file name {target.name!r} is {too_long}; rename the image, or write --format jsonl."
                )
            elif clash == path:
                bad[path] = f"its caption file {target} would replace the image itself; rename the image."
            elif clash is not None:
                bad[path] = f"its caption file {target} would replace the input {clash}; rename one of them."
            else:
                sharing.setdefault(_same_file_name(target), []).append(path)
        for group in (g for g in sharing.values() if len(g) > 1):
            for path in group:
                others = ", ".join(p for p in group if p != path)
                bad[path] = (
                    f"its caption file {self.target(path)} would also be the caption file of {others}; "
                    "pass --txt-name filename (photo.jpg -> photo.jpg.txt) to caption each."
                )
        return bad

    def resume_state(
        self,
        *,
        paths: Sequence[str],
        config_hashes: frozenset[str],
        folders: Sequence[str] = (),
        read_fully: Sequence[str] = (),
    ) -> ResumeState:
        """Existing caption files, refused or skipped (`ExistingPolicy`). `folders` and
        `read_fully` change nothing: no error row is ever written here, and the caption file of
        an image deleted since stays (a caption outlives its file, as ok rows do in shards)."""
        bad = self.preflight(paths)
        existing = [p for p in paths if p not in bad and self.target(p).exists()]
        policy = self.config.existing
        if existing and policy is ExistingPolicy.REFUSE:
            raise OutputError(
                f"{len(existing)} caption file(s) already exist (e.g. {self.target(existing[0])}); "
                "pass --skip-existing to keep them and caption the rest, or --overwrite to replace them."
            )
        return ResumeState(done_paths=set(existing) if policy is ExistingPolicy.SKIP else set())

    def write(self, rows: Sequence[Row]) -> None:
        for row in rows:
            check_row(row)
            if row["status"] == Status.OK.value:
                self._write_caption(self.target(row["path"]), row["caption"] or "")

    def describe(self) -> str:
        return "caption files beside the images"

    def _write_caption(self, target: Path, caption: str) -> None:
        digest = hashlib.sha1(os.fsencode(target.name)).hexdigest()[:12]
        temp = target.with_name(f".vlm-{digest}.{os.getpid()}.tmp")  # short: the name itself may be near the limit
        try:
            temp.write_text(caption + "\n", encoding="utf-8")
            os.replace(temp, target)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise OutputError(f"Cannot write {target}: {exc.strerror or exc}.") from None
        self.files_written += 1
