"""HEIC/HEIF photos (what iPhones take by default) through the optional pillow-heif plugin.

Pillow cannot read HEIF itself. With the `heif` extra (`pip install 'vlmcli[heif]'`)
pillow-heif registers a Pillow opener, and HEIC photos decode like any other image: EXIF
orientation, the pixel limit and the RGB conversion of `images.py` all apply. Without it a
HEIC photo is refused with one line that names the extra, never as "not an image".

The plugin is registered on the first HEIF file met, so reading JPEGs never imports it.
AVIF shares the container (ISO-BMFF `ftyp`) but not the codec: Pillow reads it natively.
"""

from __future__ import annotations

import functools

from vlmcli.errors import InputError

_HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs")
"""Major brands of HEVC-coded HEIF (`mif1`/`msf1` are generic: the compatible brands decide)."""
_GENERIC_BRANDS = (b"mif1", b"msf1")

INSTALL_HINT = "pip install 'vlmcli[heif]' (pillow-heif)"


def is_heif(head: bytes) -> bool:
    """Whether `head` (the file's first bytes; 32 or more) starts an HEVC-coded HEIF file."""
    if len(head) < 12 or head[4:8] != b"ftyp":
        return False
    brand = head[8:12]
    if brand in _HEIF_BRANDS:
        return True
    if brand in _GENERIC_BRANDS:
        brands = _compatible_brands(head)
        return bool(brands & set(_HEIF_BRANDS)) and b"avif" not in brands
    return False


def is_avif(head: bytes) -> bool:
    """Whether `head` (the file's first bytes; 32 or more) starts an AVIF picture or sequence:
    its major brand, or a generic one (`mif1`) with `avif` among the compatible brands."""
    if len(head) < 12 or head[4:8] != b"ftyp":
        return False
    brand = head[8:12]
    return brand in (b"avif", b"avis") or (brand in _GENERIC_BRANDS and b"avif" in _compatible_brands(head))


def _compatible_brands(head: bytes) -> set[bytes]:
    """The compatible brands of the `ftyp` box `head` starts with (they follow the minor version)."""
    size = int.from_bytes(head[:4], "big")
    compatible = head[16 : min(size, len(head))]
    return {compatible[i : i + 4] for i in range(0, len(compatible) - 3, 4)}


def enable_for(head: bytes) -> None:
    """Before Pillow opens a file starting with `head` directly (header probes, thumbnails):
    register the plugin if it is a HEIF file. Without the plugin Pillow fails to open it as
    before, and decoding (`require_heif`) says what to install."""
    if is_heif(head):
        enable()


def require_heif(name: str) -> None:
    """Make Pillow able to open HEIF, or raise the one-line error that says how."""
    if not enable():
        raise InputError(
            f"{name} is a HEIC/HEIF photo (the iPhone camera's format), which needs a plugin: "
            f"{INSTALL_HINT}, or convert it to JPEG."
        )


@functools.cache
def enable() -> bool:
    """Register pillow-heif's opener with Pillow (once); False when the plugin is not installed.
    Callers go through `enable_for` (lenient) or `require_heif` (the decoding path's strict form)."""
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True
