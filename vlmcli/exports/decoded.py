"""Pictures a trainer would see otherwise than the model did, exported as the model saw them.

Trainers open an export's images with a plain `Image.open(...).convert("RGB")` (`datasets`'
`Image` feature, WebDataset's decoders). The run decoded them with `media.images.decode_image`:
transparency on white (a bare `convert` shows the pixels under alpha 0: black, or whatever
colour the editor left there), 16-bit and float samples scaled (a bare `convert` clips them:
a 16-bit grey photo turned white, a 0..1 float one black), an embedded colour profile
(Adobe RGB, Display P3, a CMYK press profile) converted to sRGB, an HDR (PQ/HLG) AVIF tone
mapped, an APNG's animation rather than its still fallback, a FITS frame stretched. Such a
picture is written as that decoded picture, a lossless PNG, so its caption describes what the
trainer loads; every other picture (a plain 8-bit RGB or grey JPEG, an opaque PNG, ...) is
copied byte for byte. Other modes (CMYK or Lab without a profile, palettes without a
transparent colour) are converted by Pillow's own formula both ways, so they are kept too.

EXIF orientation: `datasets` (2.19 and later) turns a picture as its EXIF says, as the run
did, so formats it reads (imagefolder, parquet: `transposes=True`) keep a JPEG whose only
difference is its orientation; WebDataset's decoders and kohya-style trainers do not, so
webdataset and txt write it upright: a JPEG (quality 95) under its own name, where every
other picture written as decoded is a PNG. Either is upright, with no EXIF.

What differs is told from the header (mode, `transparency`, the ICC profile, EXIF) without
decoding pixels; only a picture with an alpha channel is decoded once more, to keep one
whose alpha is opaque everywhere (a screenshot saved as RGBA) byte for byte.

    why = differences(data, "cam.tif", transposes=True)    # ("16-bit",): write decoded_png(...)
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL import Image

ALPHA = "alpha"
DEPTH = "16-bit"
PROFILE = "colour profile"
ORIENTATION = "EXIF orientation"
HDR = "HDR"
FRAME = "APNG fallback frame"
STRETCH = "FITS stretch"
REASONS = (ALPHA, DEPTH, PROFILE, ORIENTATION, HDR, FRAME, STRETCH)
"""Every reason, in the order a summary lists them."""

_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_HIGH_DEPTH_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N", "F"})
_PROFILE_PROBE = {"RGB": "RGB", "P": "RGB", "RGBA": "RGBA", "CMYK": "CMYK"}
"""A picture's mode -> the mode of the 1x1 probe `to_srgb` is asked about its profile with."""
_ORIENTATION_TAG = 0x0112


def differences(data: bytes, name: str, *, transposes: bool) -> tuple[str, ...]:
    """Why a trainer's plain reading of `data` differs from the run's picture (`REASONS`,
    in that order); () when it does not, or `data` is a video or no picture Pillow opens (kept).
    `transposes`: the format's readers apply EXIF orientation themselves. Camera raw and HEIF
    files are not looked at: each format has its own rule for them (`formats.base`)."""
    from PIL import Image

    from vlmcli.media.heif import is_heif
    from vlmcli.media.images import FORMATS, prepare_pillow, raw_by_content
    from vlmcli.media.kinds import MediaKind, camera_raw_format, detect_kind

    if detect_kind(name, data[:64]) is MediaKind.VIDEO or is_heif(data[:64]):
        return ()
    if camera_raw_format(name) is not None or raw_by_content(data) is not None:
        return ()
    prepare_pillow(None)  # the run checked the pixel limit; export reads what it captioned
    Image.init()
    try:
        with Image.open(io.BytesIO(data), formats=[f for f in FORMATS if f in Image.OPEN]) as image:
            why = _header_reasons(image, data, transposes=transposes)
            if why == {ALPHA} and _opaque(image):
                why.clear()
    except Exception:  # noqa: BLE001 - unreadable, damaged or not a picture: its bytes are what there is
        return ()
    return tuple(reason for reason in REASONS if reason in why)


def _header_reasons(image: "Image.Image", data: bytes, *, transposes: bool) -> set[str]:
    from vlmcli.media.animation import first_frame

    why: set[str] = set()
    if image.format == "FITS":
        why.add(STRETCH)
    if image.format in ("AVIF", "HEIF"):
        from vlmcli.media.hdr_still import hdr_coding

        if hdr_coding(data) is not None:
            why.add(HDR)
    if first_frame(image):
        why.add(FRAME)
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        why.add(ALPHA)
    if image.mode in _HIGH_DEPTH_MODES:
        why.add(DEPTH)
    if _converts_profile(image):
        why.add(PROFILE)
    if not transposes and _orientation(image) in range(2, 9):
        why.add(ORIENTATION)
    return why


def _converts_profile(image: "Image.Image") -> bool:
    """Whether the run converted `image` through its ICC profile (`media.color.to_srgb`): asked
    of a 1x1 picture of the same kind carrying the profile (its transform is cached)."""
    from PIL import Image

    from vlmcli.media.color import to_srgb

    icc = image.info.get("icc_profile")
    probe_mode = _PROFILE_PROBE.get(image.mode)
    if not icc or probe_mode is None:
        return False
    probe = Image.new(probe_mode, (1, 1))
    probe.info["icc_profile"] = icc
    return to_srgb(probe) is not probe


def _orientation(image: "Image.Image") -> int:
    """The EXIF (or XMP) orientation `ImageOps.exif_transpose` would apply; 1 when none. A PNG's
    eXIf is looked for before its pixels only (Pillow reads one after them by decoding)."""
    if image.format == "PNG" and not any(key in image.info for key in ("exif", "xmp", "XML:com.adobe.xmp")):
        return 1
    try:
        value: Any = image.getexif().get(_ORIENTATION_TAG, 1)
        return int(value)
    except Exception:  # noqa: BLE001 - a broken EXIF block: the run left such a picture as it was
        return 1


def _opaque(image: "Image.Image") -> bool:
    """Whether every pixel of `image` (a picture with alpha or a transparent colour) is opaque:
    then its bare RGB reading is the run's picture. Decodes it."""
    from vlmcli.media.animation import first_frame
    from vlmcli.media.quiet import native_stderr_filtered

    try:
        image.seek(first_frame(image))
        with native_stderr_filtered():  # libtiff prints its complaints on fd 2
            image.load()
        alpha = image.getchannel("A") if image.mode in ("RGBA", "LA", "PA") else image.convert("RGBA").getchannel("A")
        return alpha.getextrema()[0] == 255
    except Exception:  # noqa: BLE001 - damaged past its header: let the run's decoder say
        return False


def decoded_png(data: bytes, name: str) -> bytes | None:
    """The run's picture of `data` (`decode_image`: upright, sRGB, 8-bit RGB) as PNG bytes,
    with no EXIF or profile (nothing left for a reader to apply twice); None when it cannot
    be decoded now (the bytes are kept)."""
    from vlmcli.errors import InputError
    from vlmcli.media.images import decode_image

    try:
        picture = decode_image(data, name, max_pixels=None)
    except InputError:
        return None
    picture.info = {}
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def upright_raw_jpeg(data: bytes, name: str) -> bytes | None:
    """A camera raw file whose own EXIF turns its preview (a portrait shot): the run's upright
    picture as a JPEG (quality 95), as its `<name>.jpg`; None when the raw needs no turn (its
    preview's bytes are the picture) or cannot be decoded."""
    from vlmcli.media.raw_preview import orientation

    return None if orientation(data) == 1 else upright_jpeg(data, name)


def turned_jpeg(data: bytes, reasons: tuple[str, ...]) -> bool:
    """A JPEG whose only difference is its EXIF orientation: written upright as a JPEG under its
    own name (`upright_jpeg`), not as a PNG 5-10 times its size (a phone's portrait photos)."""
    return reasons == (ORIENTATION,) and data[:3] == b"\xff\xd8\xff"


def upright_jpeg(data: bytes, name: str) -> bytes | None:
    """The run's picture of `data` (upright, sRGB) as a JPEG (quality 95) with no EXIF; None when
    it cannot be decoded now (the bytes are kept)."""
    from vlmcli.errors import InputError
    from vlmcli.media.images import decode_image

    try:
        picture = decode_image(data, name, max_pixels=None)
    except InputError:
        return None
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=95, subsampling=0)  # 4:4:4: no colour lost to halving
    return buffer.getvalue()


def decoded_name(name: str, *, item: bool) -> str:
    """The name a picture written as PNG wants: a dataset item's extension replaced
    (`a_jpg.tif` -> `a_jpg.png`), a file's `.png` added as a raw file's `.jpg` is
    (`cam.tif` -> `cam.tif.png`); a `.png` name as it is."""
    from vlmcli.exports.names import extension, without_extension

    if extension(name) == "png":
        return name
    return f"{without_extension(name)}.png" if item else f"{name}.png"
