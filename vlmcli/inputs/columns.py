"""Which columns of a table (or fields of a tar key) are the image, the key and the kept
ones, and what one image cell holds. Pure.

Image column, unless --image-column names it: the column the dataset declares as a
`datasets` `Image` feature (then `Video`), else the first of `image`, `jpg`, `jpeg`, `png`,
`webp`, `img`, then `video`, `mp4`, `webm`, then of the columns that name files
(`file_name`, `filename`, `file`, `filepath`, ..., `path`). A row with no picture in it but a
clip in a `Video` feature or `video`/`mp4`/`webm` column gives that clip (a mix of image and
video records: `pick_video_column`).
A cell is raw bytes, a `{bytes, path}` struct (Hugging Face's `Image` storage: bytes win,
else the path), or a string: a path (relative to the table's folder), the picture itself as
a `data:image/...;base64,` URI or bare base64 (chat-API exports), or a URL, which is never
fetched (an error row says so).

A cell may also hold a list of pictures (a multi-image dataset's `images` column, `List(Image())`;
a JSON record's list of paths): each is an item of its own, keyed `<row key>#image<i>`.

Key column, unless --key-column names it: `__key__` for tars, then `key`, `id`,
`file_name`, `custom_id` (OpenAI Batch API lines); a table with none of them keys rows by their number in the file.

Names are matched ignoring case, spaces, underscores and hyphens (`column_folded`): a
spreadsheet's `Path`, `Image` or `File Name` is `path`, `image`, `file_name`. A column spelled
exactly as a default name wins over one that only matches loosely (so a table read before is
read the same way); two columns matching one name loosely (`Image`, `IMAGE`) are refused for
the image column (name one with --image-column) and skipped for the key. A given
--image-column/--key-column is that column, else the one column it names loosely (several:
refused).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from vlmcli.errors import ConfigError
from vlmcli.media.kinds import IMAGE_EXTENSIONS

IMAGE_COLUMNS = ("image", "jpg", "jpeg", "png", "webp", "img", "images")
VIDEO_COLUMNS = ("video", "mp4", "webm", "videos")
"""Columns of clips, tried after IMAGE_COLUMNS (a clip is captioned with --videos)."""
PATH_COLUMNS = ("file_name", "filename", "file", "filepath", "file_path", "image_path", "img_path", "path")
"""Columns that name image files, tried after IMAGE_COLUMNS: a CSV from pandas or a
spreadsheet, Hugging Face ImageFolder's metadata.csv (`file_name`)."""
KEY_COLUMNS = ("__key__", "key", "id", "file_name", "custom_id")
URL_SCHEMES = ("http://", "https://", "s3://", "gs://", "hf://", "ftp://")


@dataclass(frozen=True)
class ColumnChoice:
    image_column: str | None = None
    """--image-column: None picks it (see the module docstring)."""
    key_column: str | None = None
    """--key-column: None picks it."""
    keep_columns: tuple[str, ...] = ()
    """--keep-columns a,b: copied into each row's `extra` (a JSON object)."""
    image_root: Path | None = None
    """--image-root: the folder relative image paths in a table start from; None: the table's own."""
    page_pixels: int | None = None
    """The largest a PDF page is rendered, in pixels (VLM_MAX_IMAGE_PIXELS: a poster page is
    rendered as large as allowed, as `vlm ask` renders it); None: the built-in limit; 0: none."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "keep_columns", tuple(c.strip() for c in self.keep_columns if c.strip()))
        if self.image_root is not None:
            root = Path(self.image_root).expanduser()
            if not root.is_dir():
                raise ConfigError(f"--image-root {self.image_root} is not a folder.")
            object.__setattr__(self, "image_root", root)


def hf_image_columns(metadata: Mapping[bytes, bytes] | None, *, kinds: Sequence[str] = ("Image", "Video")) -> list[str]:
    """Columns a Parquet/Arrow schema's `huggingface` metadata declares as `Image` features,
    then as `Video` features (captioned with --videos); `kinds=("Video",)`: those only."""
    if not metadata or b"huggingface" not in metadata:
        return []
    try:
        features = json.loads(metadata[b"huggingface"])["info"]["features"]
    except (ValueError, KeyError, TypeError):
        return []
    return [name for kind in kinds for name, spec in features.items() if _feature_of(spec, kind)]


def _feature_of(spec: Any, kind: str) -> bool:
    """A `kind` ("Image", "Video") feature, or a list of them (`List(Image())`, `Sequence(Image())`, `[Image()]`)."""
    if isinstance(spec, list) and len(spec) == 1:
        return _feature_of(spec[0], kind)
    if not isinstance(spec, dict):
        return False
    return spec.get("_type") == kind or (
        spec.get("_type") in ("List", "LargeList", "Sequence") and _feature_of(spec.get("feature"), kind)
    )


def column_folded(name: str) -> str:
    """A column's name as names are matched: `File Name`, `file_name`, `FileName`, `FILE-NAME` -> `filename`."""
    return "".join(ch for ch in name if not (ch.isspace() or ch in "_-")).casefold()


def _loose(names: Sequence[str], wanted: str) -> list[str]:
    """The columns named `wanted`: that one when spelled so, else those matching it loosely."""
    if wanted in names:
        return [wanted]
    folded = column_folded(wanted)
    return list(dict.fromkeys(n for n in names if folded and column_folded(n) == folded))


def _first_default(
    names: Sequence[str], candidates: Sequence[str], *, refuse_several: bool = False
) -> tuple[str | None, list[str]]:
    """(the column of the first candidate spelled exactly, else of the first matching one
    column loosely, []); a candidate matching several loosely is skipped, or with
    `refuse_several` gives (None, those columns)."""
    exact = next((c for c in candidates if c in names), None)
    if exact is not None:
        return exact, []
    for candidate in candidates:
        found = _loose(names, candidate)
        if len(found) == 1:
            return found[0], []
        if found and refuse_several:
            return None, found
    return None, []


def _given(names: Sequence[str], requested: str, *, option: str, where: str) -> str:
    found = _loose(names, requested)
    if len(found) == 1:
        return found[0]
    if found:
        raise ConfigError(
            f"{option} {requested!r} matches several columns of {where} ({', '.join(found)}): give one as it is spelled."
        )
    raise ConfigError(f"{option} {requested!r} is not a column of {where} (columns: {', '.join(names)}).")


def pick_image_column(names: Sequence[str], *, declared: Sequence[str], requested: str | None, where: str) -> str:
    if requested is not None:
        return _given(names, requested, option="--image-column", where=where)
    if declared := [n for n in declared if n in names]:
        return declared[0]
    found, several = _first_default(names, [*IMAGE_COLUMNS, *VIDEO_COLUMNS, *PATH_COLUMNS], refuse_several=True)
    if found is not None:
        return found
    if several:
        raise ConfigError(
            f"{where} has several columns that may be the image column ({', '.join(several)}); name one with --image-column."
        )
    if any(PurePath(name).suffix.lower() in IMAGE_EXTENSIONS for name in names):  # a header row that is a file name
        raise ConfigError(
            f"{where} has no header row: its first line names a picture ({names[0]}); add a first line naming "
            "the columns, e.g. path."
        )
    raise ConfigError(f"{where} has no image column (columns: {', '.join(names)}); name it with --image-column.")


_VIDEO_FOLDED = frozenset(column_folded(c) for c in VIDEO_COLUMNS)


def pick_video_column(names: Sequence[str], *, image: str, declared: Sequence[str] = (), requested: str | None) -> str | None:
    """The column of clips beside a picked image column, for rows that hold a clip and no
    picture (LLaVA-OneVision's and LLaVA-Video's mixes: some records `image`, others `video`):
    the first declared `Video` feature or `VIDEO_COLUMNS` name present; None when
    --image-column was given or the image column is itself one of clips."""
    if requested is not None or column_folded(image) in _VIDEO_FOLDED or image in declared:
        return None
    if found := next((n for n in declared if n in names and n != image), None):
        return found
    return _first_default([n for n in names if n != image], VIDEO_COLUMNS)[0]


def pick_key_column(names: Sequence[str], *, requested: str | None, where: str) -> str | None:
    if requested is not None:
        return _given(names, requested, option="--key-column", where=where)
    return _first_default(names, KEY_COLUMNS)[0]  # two loose matches (`ID`, `Id`): keyed as without one


def check_keep_columns(names: Sequence[str], keep: Sequence[str], *, where: str) -> None:
    missing = [c for c in keep if c not in names]
    if missing:
        raise ConfigError(f"--keep-columns: {', '.join(missing)} not in {where} (columns: {', '.join(names)}).")


@dataclass(frozen=True)
class Cell:
    """What one image cell holds: exactly one of bytes, a path, a URL, a problem; or nothing."""

    data: bytes | None = None
    path: str | None = None
    url: str | None = None
    problem: str | None = None
    """Why the cell holds no usable picture, when it says it holds one (a broken data: URI)."""


def image_cell(value: Any) -> Cell:
    if value is None:
        return Cell()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return Cell(data=bytes(value)) if len(value) else Cell()
    if isinstance(value, Mapping):
        data = value.get("bytes")
        if data:
            return Cell(data=bytes(data))
        return image_cell(value.get("path"))
    if isinstance(value, str):
        if not value:
            return Cell()
        if value.lower().startswith(URL_SCHEMES):
            return Cell(url=value)
        if value.startswith("data:"):
            data = _base64(value.partition(",")[2]) if ";base64," in value[:64] else None
            return Cell(data=data) if data else Cell(problem="the image is a data: URI with no base64 picture in it")
        if (data := bare_base64_image(value)) is not None:
            return Cell(data=data)
        return Cell(path=value)
    return Cell()


def path_key(value: Any) -> str | None:
    """A row's key when its table has no key column: the path (or URL) its image cell names,
    a `{bytes, path}` struct's path included; None for a picture held in the cell itself
    (bytes, a data: URI, base64), which is no name. Other values (a JSON list) as `key_text`."""
    if isinstance(value, Mapping):
        value = value.get("path")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return None
    if isinstance(value, str):
        cell = image_cell(value)
        return value if cell.path is not None or cell.url is not None else None
    return key_text(value)


_MIN_BASE64 = 64
"""Shorter text is a path: no picture fits in fewer base64 characters."""


def bare_base64_image(text: str) -> bytes | None:
    """The picture a text cell holds as bare base64 (chat-API exports), when its bytes start
    like a picture; None for any other text (a path, then)."""
    from vlmcli.media.kinds import looks_like_picture

    if len(text) < _MIN_BASE64 or "." in text[-8:]:
        return None
    data = _base64(text)
    return data if data is not None and looks_like_picture(data[:32]) else None


def _base64(text: str) -> bytes | None:
    import base64
    import binascii

    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def key_text(value: Any) -> str | None:
    """A key cell as text (numbers too); None for a missing key."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    text = str(value)
    return text if text else None


def json_safe(value: Any) -> Any:
    """A kept cell as a JSON value, in the form a JSON reader expects: bytes as base64 text (a
    kept binary column is given back as bytes by `vlm export --to parquet`, whose run recorded
    its type: `sinks.kept_types`), a date or time as ISO 8601 text (a timestamp with its zone's
    offset), a decimal as its exact digits (text), a duration as seconds; a map's pairs as
    `[key, value]` lists."""
    import datetime as dt
    from decimal import Decimal

    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        import base64

        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else str(value)
    return str(value)
