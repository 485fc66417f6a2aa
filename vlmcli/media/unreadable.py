"""Why a file is not a picture vlmcli reads: the one line that names what it is instead (an
audio file, a PDF, an SVG drawing, a JPEG XL image, a playlist, an office document, a TIFF
layout Pillow has no mode for, a format this Pillow was built without) and how to turn it into
a picture. Pure message building over the file's first bytes; `images.decode_image` raises
these as `InputError`s."""

from __future__ import annotations

import io
import shlex
from collections.abc import Callable, Collection
from pathlib import PurePath

from vlmcli.media.heif import is_avif
from vlmcli.media.kinds import is_jpeg_xl, office_document_in, playlist_format

_OTHER_MAGIC = (b"\x00\x00\x00\x0cjP  \r\n\x87\n", b"\xff\x4f\xff\x51", b"qoif")  # JPEG 2000 (JP2, codestream), QOI
_NETPBM = {".ppm": b"P6", ".pgm": b"P5", ".pbm": b"P4", ".pnm": b"P"}


def starts_like_an_image(data: bytes, name: str = "") -> bool:
    """Whether `data` starts as a picture format we read does (then a file Pillow cannot parse
    is a damaged one, not "not an image"): by magic, or for Netpbm and TGA, whose marks are
    weak or absent, by magic and name together. A format this Pillow may lack (AVIF, WebP,
    JPEG 2000) counts: `without_codec` is asked first."""
    from vlmcli.media.kinds import MediaKind, detect_kind

    if data[4:8] == b"ftyp":  # ISO-BMFF: an AVIF picture (HEIC is `heif.py`'s), not an MP4 or a raw file
        return is_avif(data[:64])
    if detect_kind("", data[:32]) is MediaKind.IMAGE or data.startswith(_OTHER_MAGIC):
        return True
    suffix = PurePath(name).suffix.lower()
    return (suffix in _NETPBM and data.startswith(_NETPBM[suffix])) or suffix == ".tga"


def not_an_image(name: str, data: bytes) -> str:
    """Why `data` is refused: the usual line, or one that names what the file is instead (an
    audio file, a PDF, an SVG or PostScript drawing) and how to turn it into a picture."""
    from vlmcli.media.kinds import audio_format, document_format

    supported = ", ".join(_pretty_formats())
    if (audio := audio_format(name, data[:32])) is not None:
        return f"{name} is an audio file ({audio}); vlmcli reads images ({supported}) and videos."
    if is_jpeg_xl(data[:16]):
        return (
            f"{name} is a JPEG XL image, which vlmcli cannot read: convert it first, "
            f"e.g. djxl {shlex.quote(name)} {_written_beside(name, '.png', 'image')} (libjxl)."
        )
    if (playlist := playlist_format(name, data[:512])) is not None:
        whole = _written_beside(name, ".mp4", "video")
        return (
            f"{name} is {'an' if playlist == 'HLS' else 'a'} {playlist} playlist, the index of a video cut into segments, not a picture: "
            f"join its segments first, e.g. ffmpeg -i {shlex.quote(name)} -c copy {whole}"
            + (" (vlm ask, describe and video-summarize read a playlist of local segments as it is)." if playlist == "HLS" else ".")
        )
    path, stem = shlex.quote(name), shlex.quote(PurePath(name).stem or "page")
    document = document_format(name, data[:512]) or office_document_in(data)
    if document == "PDF":
        return (
            f"{name} is a PDF document, not a picture: vlm ask and vlm describe read its pages (the pdf extra), and "
            f"so does caption-dir given the PDF or a folder of PDFs as an argument; or render them, e.g. pdftoppm -png -r 150 {path} {stem}."
        )
    if document == "SVG":
        drawing = _written_beside(name, ".png", "drawing")
        return f"{name} is an SVG drawing, not an image vlmcli can read: render it first, e.g. rsvg-convert {path} -o {drawing}."
    if document is not None and document not in ("PDF", "SVG", "PostScript"):  # Word, PowerPoint, ...
        return (
            f"{name} is {'an' if document[0] in 'AEIOU' else 'a'} {document}, not a picture: save it as PDF and pass the PDF (vlm ask and vlm describe "
            f"read its pages), e.g. libreoffice --headless --convert-to pdf {path if name != '<stdin>' else 'FILE'}."
        )
    if document == "PostScript":
        pages = shlex.quote(f"{PurePath(name).stem or 'page'}-%d.png")
        return (
            f"{name} is a PostScript (EPS) drawing, not an image vlmcli can read: render it first, "
            f"e.g. gs -q -dSAFER -dEPSCrop -sDEVICE=png16m -r150 -o {pages} {path}."
        )
    if (known := _other_pillow_format(data)) is not None:
        return f"{name} is {known}, which vlmcli does not read: convert it to PNG first (supported: {supported})."
    return f"{name} is not an image vlmcli can read (supported: {supported})."


_CODED: tuple[tuple[str, str, str, Callable[[bytes], bool]], ...] = (
    ("AVIF", "AVIF", "avif", is_avif),
    ("WebP", "WEBP", "webp", lambda head: head[:4] == b"RIFF" and head[8:12] == b"WEBP"),
    ("JPEG 2000", "JPEG2000", "jpg_2000", lambda head: head.startswith(_OTHER_MAGIC[:2])),
)
"""(what to call it, Pillow's format, Pillow's feature, its magic) of the formats a Pillow build
may lack the library of (libavif, libwebp, OpenJPEG)."""


def without_codec(name: str, data: bytes, readable: Collection[str]) -> str | None:
    """Why `data` is refused when it starts as a format this Pillow cannot read (`readable`: the
    formats it opens; the library behind it missing): upgrade Pillow. None when this Pillow has
    what reads it: then a file it cannot parse is a damaged one (`starts_like_an_image`)."""
    for label, pillow_format, feature, starts in _CODED:
        if starts(data[:64]):
            if pillow_format in readable and _pillow_has(feature):
                return None
            return (
                f"{name} is {'an' if label[0] in 'AEIOU' else 'a'} {label} image, which this Pillow cannot read: "
                f"pip install -U pillow (recent Pillow wheels read {label}), or convert it to PNG."
            )
    return None


def _pillow_has(feature: str) -> bool:
    """Whether this Pillow was built with `feature` (a module or codec of `PIL.features`)."""
    import warnings

    from PIL import features

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a Pillow that predates the feature warns "Unknown feature"
        try:
            return bool(features.check(feature))
        except Exception:  # noqa: BLE001 - a broken optional module: not there
            return False


def _written_beside(name: str, suffix: str, fallback: str) -> str:
    """The quoted name a suggested conversion writes: the input's stem + `suffix`, or
    `<stem>-converted<suffix>` when that is the input itself (an SVG saved as `drawing.png`)."""
    stem = PurePath(name).stem or fallback
    out = stem + suffix
    if out == PurePath(name).name:
        out = f"{stem}-converted{suffix}"
    return shlex.quote(out)


def _other_pillow_format(data: bytes) -> str | None:
    """What a picture in a format Pillow knows but FORMATS leaves out is ("a GIMP brush (GBR)
    file"); None when Pillow cannot open it either."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            what = f" ({image.format_description})" if image.format_description else ""
            return f"a picture in the {image.format} format{what}"
    except Exception:  # noqa: BLE001 - any plugin failure: not a picture we can name
        return None


def unusual_tiff(name: str, data: bytes) -> str | None:
    """Why a sound TIFF is refused: its pixels have a layout Pillow has no mode for (several
    floating-point samples, 64-bit floats: what tifffile and ImageJ write). None otherwise."""
    from vlmcli.media.tiff_layout import tiff_layout

    layout = tiff_layout(data)
    if layout is None or layout.ordinary:
        return None
    return (
        f"{name} is a TIFF with {layout.describe()}, which Pillow cannot read (it reads 8- and 16-bit "
        "samples and single 32-bit float ones); save it with 8- or 16-bit samples first."
    )


def _pretty_formats() -> list[str]:
    return ["JPEG", "PNG", "GIF", "WebP", "TIFF", "BMP", "AVIF", "..."]
