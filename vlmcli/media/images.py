"""Safe image decoding: bytes in, one upright RGB picture out.

What "safe" means here, in order:

1. Only common raster formats are opened (no EPS, which would run Ghostscript).
2. A pixel limit (100 MP by default, 0/None disables) is checked from the header,
   before any pixel is decoded, so a decompression bomb costs nothing.
3. The first frame is decoded fully now, so a truncated file fails here with a clear
   message instead of later inside the model.
4. EXIF orientation is applied (photos from phones come out upright), and an RGB picture
   with an ICC profile other than sRGB (Adobe RGB, Display P3) is converted to sRGB
   (`color.py`), as colour-managed viewers show it.
5. Every mode becomes 8-bit RGB: transparency is composited on white (not on black,
   which is what a bare `convert("RGB")` does), 16-bit and float images are scaled
   rather than clipped, CMYK and palettes are converted.

The result's `key` is the SHA-256 of the file bytes, used by the vision-feature cache.
"""

from __future__ import annotations

import hashlib
import io
import os
import shlex
import struct
from pathlib import PurePath
from typing import TYPE_CHECKING, BinaryIO

from vlmcli.errors import InputError
from vlmcli.media.animation import first_frame
from vlmcli.media.color import to_srgb
from vlmcli.media.heif import is_heif, require_heif
from vlmcli.media.image_input import ImageInput
from vlmcli.media.kinds import camera_raw_format, is_jpeg_xl, office_document_in, playlist_format
from vlmcli.media.names import display_name
from vlmcli.media.quiet import native_stderr_filtered, quiet_pillow
from vlmcli.media.sources import STDIN, read_source

if TYPE_CHECKING:
    from PIL import Image

DEFAULT_MAX_PIXELS = 100_000_000

FORMATS = (
    "JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP", "DIB", "PPM", "ICO", "CUR", "AVIF", "JPEG2000", "QOI", "HEIF",
    "PSD", "ICNS", "DDS", "SGI", "SUN", "PCX", "PCD", "XPM", "FITS", "TGA",
)  # fmt: skip
"""Pillow formats we open (JPEG includes MPO; HEIF with the pillow-heif plugin, `heif.py`;
PSD: Photoshop's merged picture; DDS: a game texture; FITS: an astronomy frame), tried in
this order: TGA has no magic number and comes last (tried before ICO, it took a modern
favicon.ico for a 32x19140 TGA). Other formats Pillow knows (XBM, whose `#define` a C
header also starts with; GIMP brushes, game and satellite formats) are refused, by name."""

_DAMAGED = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, KeyError, TypeError, ZeroDivisionError, OverflowError, NotImplementedError)
"""What Pillow's format plugins raise on malformed data (found by tests/test_fuzz_loaders.py and
Pillow's own fuzzers): all mean "this file is damaged", never a bug of ours worth a traceback."""
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_HIGH_DEPTH_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N", "F"})
_BACKGROUND = (255, 255, 255)
_HDR_STILL_FORMATS = frozenset({"AVIF", "HEIF"})
"""Formats whose pictures may be coded PQ or HLG (`media.hdr_still`)."""


def load_image(
    source: str | os.PathLike[str],
    *,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    stdin: BinaryIO | None = None,
) -> ImageInput:
    """Read `source` (a path, or `-` for stdin) and decode it; see the module docstring."""
    return image_input(read_source(source, stdin=stdin), str(source), max_pixels=max_pixels)


def image_input(data: bytes, source: str, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> ImageInput:
    """Decode the bytes read from `source` into an `ImageInput` keyed by the bytes' SHA-256."""
    name = "<stdin>" if source == STDIN else display_name(source)
    image = decode_image(data, name, max_pixels=max_pixels)
    return ImageInput(image=image, source=source, key=hashlib.sha256(data).hexdigest())


def decode_image(
    data: bytes, name: str, *, max_pixels: int | None = DEFAULT_MAX_PIXELS, draft: tuple[int, int] | None = None
) -> "Image.Image":
    """Decode `data` (the file's bytes; `name` is for messages) into an upright RGB image.
    `draft`: a JPEG may be decoded at a reduced scale still at least this size (thumbnails)."""
    from PIL import Image, UnidentifiedImageError

    prepare_pillow(max_pixels)
    heif_file = is_heif(data[:64])
    if (raw := camera_raw_format(name) or raw_by_content(data)) is not None:
        return _raw_picture(data, name, raw, max_pixels)
    try:
        if heif_file:
            require_heif(name)
        image = Image.open(io.BytesIO(data), formats=_available_formats())
        _check_pixels(image.size, name, max_pixels)
        if draft is not None and image.format == "JPEG":  # Pillow drafts only JPEG (others: no-op or worse)
            image.draft("RGB", draft)
        if image.format != "PSD":  # a PSD opens on its merged picture; its frames are its layers
            image.seek(first_frame(image))  # animated GIF/WebP/APNG (past a still fallback), multi-page TIFF: the first
        if image.format == "TIFF":  # libtiff prints its errors on fd 2
            with native_stderr_filtered():
                image.load()
        else:
            image.load()
        if image.format == "FITS":  # measurements in physical units, not display levels
            return _stretched(image)
        if image.format in _HDR_STILL_FORMATS:
            from vlmcli.media.hdr_still import hdr_coding, to_sdr_picture

            if (coding := hdr_coding(data)) is not None:
                image = to_sdr_picture(image, *coding)  # PQ/HLG: its SDR rendition, as HDR video
        return to_rgb(to_srgb(_upright(image)))
    except InputError:
        raise
    except UnidentifiedImageError:
        if (unreadable := _unusual_tiff(name, data)) is not None:
            raise InputError(unreadable) from None
        if _starts_like_an_image(data, name) or heif_file:  # the right magic bytes, a header Pillow cannot parse
            raise InputError(
                f"{name} is damaged or truncated and cannot be decoded (broken header); re-export or re-download it."
            ) from None
        raise InputError(_not_an_image(name, data)) from None
    except Image.DecompressionBombError:  # Pillow's own, coarser guard fired first
        raise InputError(_too_large(name, None, max_pixels or Image.MAX_IMAGE_PIXELS or 0)) from None
    except _DAMAGED as exc:
        reason = _reason(exc)
        if reason.lower().startswith("unsupported"):  # a sound file in a variant of its format Pillow lacks
            raise InputError(
                f"{name} cannot be decoded: Pillow does not support what its header describes ({reason}); "
                "if it opens elsewhere, convert it (e.g. to PNG), else re-export it."
            ) from None
        raise InputError(f"{name} is damaged or truncated and cannot be decoded ({reason}); re-export or re-download it.") from None


def _raw_picture(data: bytes, name: str, raw: str, max_pixels: int | None) -> "Image.Image":
    """A camera raw file's photo: the large JPEG preview the camera embedded (`raw_picture.py`),
    turned as the raw's own orientation says (the preview carries none)."""
    from PIL import Image

    from vlmcli.media.raw_picture import preview_start

    offset, turn = preview_start(data, name, raw)
    try:
        image = Image.open(io.BytesIO(data[offset:]), formats=["JPEG"])
        _check_pixels(image.size, name, max_pixels)
        image.load()
    except InputError:
        raise
    except (*_DAMAGED, Image.UnidentifiedImageError) as exc:
        raise InputError(
            f"{name} is a camera raw file ({raw}) whose embedded preview is damaged ({_reason(exc)}); "
            "export a JPEG or TIFF first."
        ) from None
    exif = image.getexif()
    if turn != 1 and exif.get(0x0112, 1) == 1:
        exif[0x0112] = turn
    return to_rgb(to_srgb(_upright(image)))


def raw_by_content(data: bytes) -> str | None:
    """A camera raw file told by its bytes (`raw_preview.raw_signature`): only TIFF-like and
    ISO-BMFF/RAF starts are looked at further."""
    if not data.startswith((b"II", b"MM", b"FUJIFILM")) and data[4:8] != b"ftyp":
        return None
    from vlmcli.media.raw_preview import raw_signature

    return raw_signature(data)


def to_rgb(image: "Image.Image") -> "Image.Image":
    """An 8-bit RGB copy of `image`: transparency on white, high bit depths scaled down."""
    if image.mode in _HIGH_DEPTH_MODES:
        return _high_depth_to_rgb(image)
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif image.mode not in _ALPHA_MODES and "transparency" in image.info:
        image = image.convert("RGBA")  # tRNS colour key on L / RGB images
    if image.mode in _ALPHA_MODES:
        from PIL import Image

        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, _BACKGROUND + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode == "RGB":
        return image
    try:
        return image.convert("RGB")
    except ValueError:
        raise InputError(f"Images in colour mode {image.mode} are not supported.") from None


def _high_depth_to_rgb(image: "Image.Image") -> "Image.Image":
    """16-bit / 32-bit integer and float greyscale: scale to 0..255 instead of clipping.

    Integer samples map the full 16-bit range onto 8 bits, as viewers show them, whatever the
    brightest value (scaling by it made one pixel of 256 turn a picture black that a pixel of
    255 left bright); wider data is scaled by its peak. Floats: 0..1 as is, a larger range by
    its peak, negative values (a -1..1 map) from the least to the most."""
    import numpy as np
    from PIL import Image

    array = np.asarray(image)
    if array.dtype.kind == "f":
        array = np.nan_to_num(array.astype(np.float64))
        low, peak = float(array.min(initial=0.0)), float(array.max(initial=0.0))
        if low < 0.0:
            array = (array - low) * (255.0 / (peak - low)) if peak > low else np.zeros_like(array)
        else:
            array = array * 255.0 if peak <= 1.0 else array * (255.0 / peak)
    else:
        array = array.astype(np.int64)
        peak = int(array.max(initial=0))
        array = array // 257 if peak <= 65535 else array * 255 // peak
    grey = np.clip(np.round(array) if array.dtype.kind == "f" else array, 0, 255).astype(np.uint8)
    return Image.fromarray(grey).convert("RGB")


def _stretched(image: "Image.Image") -> "Image.Image":
    """An astronomy frame (FITS) as its viewers show it: values from the 0.5th to the 99.5th
    percentile spread linearly over 0..255 (scaled by the 16-bit range, a star field was black)."""
    import numpy as np
    from PIL import Image

    values = np.nan_to_num(np.asarray(image).astype(np.float64))  # (H, W)
    low, high = np.percentile(values, [0.5, 99.5])
    if high <= low:  # a flat frame but for a few pixels: from its least to its most
        low, high = float(values.min()), float(values.max())
    scaled = (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)
    return Image.fromarray(np.clip(np.round(scaled), 0, 255).astype(np.uint8)).convert("RGB")


def _upright(image: "Image.Image") -> "Image.Image":
    """Apply EXIF orientation. A broken EXIF block is not worth refusing the picture for."""
    from PIL import ImageOps

    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # noqa: BLE001 - malformed EXIF comes in many exception types
        return image.copy()


PNG_METADATA_BYTES = 64 * 1024 * 1024
"""Most a PNG's compressed text or colour-profile chunk may inflate to. Pillow's 1 MB refused
real files (a printer's ICC profile, Photoshop's XMP history) as "damaged"; this still bounds
what a hostile chunk can make us allocate."""


def prepare_pillow(max_pixels: int | None) -> None:
    """Set Pillow up for a decode under our limit: its own bomb guard lifted to `max_pixels`,
    its PNG metadata limit to `PNG_METADATA_BYTES`, its warnings silenced (below)."""
    from PIL import PngImagePlugin

    _lift_pil_limit(max_pixels)
    PngImagePlugin.MAX_TEXT_CHUNK = max(PngImagePlugin.MAX_TEXT_CHUNK, PNG_METADATA_BYTES)
    PngImagePlugin.MAX_TEXT_MEMORY = max(PngImagePlugin.MAX_TEXT_MEMORY, 4 * PNG_METADATA_BYTES)
    quiet_pillow()


def _check_pixels(size: tuple[int, int], name: str, max_pixels: int | None) -> None:
    width, height = size
    if max_pixels and width * height > max_pixels:
        raise InputError(_too_large(name, size, max_pixels))


def _too_large(name: str, size: tuple[int, int] | None, max_pixels: int) -> str:
    what = f"{size[0]}x{size[1]} ({_megapixels(size[0] * size[1], max_pixels)} MP)" if size else "too large"
    return (
        f"{name} is {what}, above the limit of {max_pixels / 1e6:g} MP (decompression bomb guard); "
        "shrink it or raise VLM_MAX_IMAGE_PIXELS (0 disables the check)."
    )


def _megapixels(pixels: int, limit: int) -> str:
    """`pixels` in MP, with the digits it takes to differ from `limit`'s (100.01, not "100 above 100")."""
    for digits in range(3, 10):
        if f"{pixels / 1e6:.{digits}g}" != f"{limit / 1e6:g}":
            return f"{pixels / 1e6:.{digits}g}"
    return f"{pixels / 1e6:g}"


def _lift_pil_limit(max_pixels: int | None) -> None:
    """Pillow keeps its own global bomb guard (`Image.MAX_IMAGE_PIXELS`, hard error at twice
    it). Our per-call limit is the one that applies, so lift Pillow's to ours, never lower."""
    from PIL import Image

    current = Image.MAX_IMAGE_PIXELS
    if current is None:
        return
    if not max_pixels:
        Image.MAX_IMAGE_PIXELS = None
    elif max_pixels > current:
        Image.MAX_IMAGE_PIXELS = max_pixels


def _available_formats() -> list[str]:
    """FORMATS that this Pillow build can open (AVIF, JPEG2000 depend on optional libraries)."""
    from PIL import Image

    Image.init()
    return [name for name in FORMATS if name in Image.OPEN]


_OTHER_MAGIC = (b"\x00\x00\x00\x0cjP  \r\n\x87\n", b"\xff\x4f\xff\x51", b"qoif")  # JPEG 2000 (JP2, codestream), QOI
_NETPBM = {".ppm": b"P6", ".pgm": b"P5", ".pbm": b"P4", ".pnm": b"P"}


def _starts_like_an_image(data: bytes, name: str = "") -> bool:
    """Whether `data` starts as a picture format we read does (then a file Pillow cannot parse
    is a damaged one, not "not an image"): by magic, or for Netpbm and TGA, whose marks are
    weak or absent, by magic and name together."""
    from vlmcli.media.kinds import MediaKind, detect_kind

    if data[4:8] == b"ftyp":  # HEIC/AVIF: more likely a format this Pillow lacks than a broken file
        return False
    if detect_kind("", data[:32]) is MediaKind.IMAGE or data.startswith(_OTHER_MAGIC):
        return True
    suffix = PurePath(name).suffix.lower()
    return (suffix in _NETPBM and data.startswith(_NETPBM[suffix])) or suffix == ".tga"


def _not_an_image(name: str, data: bytes) -> str:
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
    if data[4:8] == b"ftyp" and data[8:12] in (b"avif", b"avis"):
        return f"{name} is an AVIF image, which this Pillow cannot read: pip install -U pillow (recent Pillow wheels read AVIF)."
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


def _unusual_tiff(name: str, data: bytes) -> str | None:
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


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().rstrip(".") or type(exc).__name__
    return text.splitlines()[0]
