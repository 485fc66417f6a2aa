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
import re
import struct
from typing import TYPE_CHECKING, BinaryIO

from vlmcli.errors import InputError
from vlmcli.media.animation import first_frame, tiff_pages
from vlmcli.media.color import to_srgb
from vlmcli.media.heif import is_heif, require_heif
from vlmcli.media.image_input import ImageInput
from vlmcli.media.kinds import camera_raw_format
from vlmcli.media.names import input_name
from vlmcli.media.quiet import native_stderr_filtered, quiet_pillow
from vlmcli.media.sources import read_source
from vlmcli.media.unreadable import not_an_image, starts_like_an_image, unusual_tiff, without_codec

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
    name = input_name(source)
    image = decode_image(data, name, max_pixels=max_pixels)
    pages = tiff_pages(data)
    note = (
        f"A TIFF of {pages} pages; only its first page was read (convert it to PDF to read them all: "
        "each page of a PDF is read)." if pages > 1 else None
    )
    return ImageInput(image=image, source=source, key=hashlib.sha256(data).hexdigest(), note=note)


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
        if (unreadable := unusual_tiff(name, data) or without_codec(name, data, _available_formats())) is not None:
            raise InputError(unreadable) from None
        if starts_like_an_image(data, name) or heif_file:  # the right magic bytes, a header Pillow cannot parse
            raise InputError(
                f"{name} is damaged or truncated and cannot be decoded (broken header); re-export or re-download it."
            ) from None
        raise InputError(not_an_image(name, data)) from None
    except Image.DecompressionBombError as exc:  # Pillow's own, coarser guard fired first (in `open`)
        found = re.search(r"Image size \((\d+) pixels\)", str(exc))  # its message has the size, not the sides
        limit = max_pixels or Image.MAX_IMAGE_PIXELS or 0
        size = _header_size(data)
        raise InputError(_too_large(name, size, limit, pixels=int(found[1]) if found else None)) from None
    except _DAMAGED as exc:
        if (unreadable := without_codec(name, data, _available_formats())) is not None:
            raise InputError(unreadable) from None  # "decoder jpeg2k not available": not a damaged file
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


def _too_large(name: str, size: tuple[int, int] | None, max_pixels: int, *, pixels: int | None = None) -> str:
    what = f"{size[0]}x{size[1]} ({_megapixels(size[0] * size[1], max_pixels)} MP)" if size else "too large"
    what = f"{_megapixels(pixels, max_pixels)} MP" if size is None and pixels else what
    return (
        f"{name} is {what}, above the limit of {max_pixels / 1e6:g} MP (decompression bomb guard); "
        "shrink it, or raise the limit: VLM_MAX_IMAGE_PIXELS or max_image_pixels in the config file (0 disables the check)."
    )


def _header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the header of a picture Pillow's own bomb guard refused to open (its
    message has only the pixel count), read as `Image.open` reads it, without that guard: each
    format plugin that accepts the first bytes parses the header; no pixel is decoded."""
    from PIL import Image

    prefix = data[:16]
    for format_name in _available_formats():
        factory, accept = Image.OPEN[format_name]
        try:
            accepted = accept is None or accept(prefix)  # as `Image.open`: a str is a warning, not a yes
            if isinstance(accepted, str) or not accepted:
                continue
            with factory(io.BytesIO(data), "") as image:
                return int(image.size[0]), int(image.size[1])
        except Exception:  # noqa: BLE001 - not this format, or a header it cannot parse
            continue
    return None


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


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().rstrip(".") or type(exc).__name__
    return text.splitlines()[0]
